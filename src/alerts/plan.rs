//! From the open alerts and the conditions found now, the changes to make: each key's rule
//! settings after overrides, then one lifecycle step per key. Pure.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};

use super::lifecycle::{step, Observation, Timing};
use crate::config::AlertsConfig;
use crate::domain::alert::Lifecycle;
use crate::domain::alert::{AlertKey, Condition, RuleKind, Severity};
use crate::store::alerts::Change;

/// A rule's settings for one key, after per-park and per-point overrides.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resolved {
    pub enabled: bool,
    pub severity: Severity,
    pub for_secs: u64,
    pub threshold: Option<f64>,
    pub grace_days: Option<u32>,
}

/// The rule's defaults, then the park's override, then the point's (the most specific wins).
pub fn resolve(cfg: &AlertsConfig, key: &AlertKey) -> Resolved {
    let base = cfg.rules.get(key.rule);
    let mut r = Resolved {
        enabled: base.enabled,
        severity: base.severity,
        for_secs: base.for_secs,
        threshold: base.threshold,
        grace_days: base.grace_days,
    };
    let matching = |point_level: bool| {
        cfg.overrides.iter().filter(move |o| {
            o.rule == key.rule
                && o.park == key.park
                && match &o.point {
                    None => !point_level,
                    Some(p) => point_level && *p == key.point,
                }
        })
    };
    for o in matching(false).chain(matching(true)) {
        r.enabled = o.enabled.unwrap_or(r.enabled);
        r.severity = o.severity.unwrap_or(r.severity);
        r.for_secs = o.for_secs.unwrap_or(r.for_secs);
        r.threshold = o.threshold.or(r.threshold);
    }
    r
}

fn secs(s: u64) -> Duration {
    Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 1000))
}

fn nonzero(s: u64) -> Option<Duration> {
    (s > 0).then(|| secs(s))
}

/// The lifecycle timing of a key.
pub fn timing(cfg: &AlertsConfig, r: &Resolved) -> Timing {
    Timing {
        severity: r.severity,
        for_: secs(r.for_secs),
        resolve_after: secs(cfg.resolve_after_secs),
        renotify: nonzero(cfg.renotify_secs),
        escalate_after: nonzero(cfg.escalate_after_secs),
        escalate_to: cfg.escalate_severity,
    }
}

/// Which keys an evaluation speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every rule was evaluated: an open alert without a condition is clear.
    All,
    /// Every rule but these was evaluated (their queries failed this time): alerts of the
    /// skipped rules are left as they are, neither cleared nor fired.
    AllBut(Vec<RuleKind>),
    /// Only the given conditions were checked (the exceedance fast path): alerts without one
    /// are left alone.
    ConditionsOnly,
}

impl Scope {
    /// Whether an open alert of `rule` without a condition is clear in this evaluation.
    pub fn clears(&self, rule: RuleKind) -> bool {
        match self {
            Scope::All => true,
            Scope::AllBut(skipped) => !skipped.contains(&rule),
            Scope::ConditionsOnly => false,
        }
    }
}

/// An open alert as the plan needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenAlert {
    pub id: i64,
    pub key: AlertKey,
    pub lifecycle: Lifecycle,
    /// As stored: a condition whose value or summary differs refreshes them.
    pub value: Option<f64>,
    pub summary: String,
}

/// The changes for one evaluation.
pub fn plan(
    cfg: &AlertsConfig,
    open: Vec<OpenAlert>,
    conditions: Vec<Condition>,
    scope: Scope,
    now: DateTime<Utc>,
) -> Vec<Change> {
    let mut active: HashMap<AlertKey, Condition> = HashMap::new();
    for c in conditions {
        if resolve(cfg, &c.key).enabled {
            active.entry(c.key.clone()).or_insert(c);
        }
    }
    let mut changes = Vec::new();
    for OpenAlert {
        id,
        key,
        lifecycle: current,
        value,
        summary,
    } in open
    {
        let condition = active.remove(&key);
        let observed = match &condition {
            Some(c) => Observation::Active { since: c.since },
            None if scope.clears(key.rule) => Observation::Clear,
            None => continue,
        };
        let t = timing(cfg, &resolve(cfg, &key));
        let s = step(Some(&current), observed, &t, now);
        let Some(next) = s.next else { continue };
        let refresh = condition
            .as_ref()
            .is_some_and(|c| c.value != value || c.texts.summary != summary);
        if next == current && s.events.is_empty() && !refresh {
            continue;
        }
        changes.push(Change {
            id: Some(id),
            key,
            lifecycle: next,
            condition,
            events: s.events,
            previous_severity: current.severity,
        });
    }
    let mut fresh: Vec<Condition> = active.into_values().collect();
    fresh.sort_by(|a, b| a.key.cmp(&b.key));
    for c in fresh {
        let t = timing(cfg, &resolve(cfg, &c.key));
        let s = step(None, Observation::Active { since: c.since }, &t, now);
        if let Some(next) = s.next {
            changes.push(Change {
                id: None,
                key: c.key.clone(),
                lifecycle: next,
                previous_severity: next.severity,
                condition: Some(c),
                events: s.events,
            });
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{RuleOverride, Settings};
    use crate::domain::alert::{Event, State};
    use crate::domain::alert::{RuleKind, Texts};

    fn cfg() -> AlertsConfig {
        Settings::load_from(None, Vec::new()).unwrap().alerts
    }

    fn cond(key: AlertKey) -> Condition {
        Condition {
            key,
            since: None,
            value: None,
            threshold: None,
            texts: Texts::default(),
        }
    }

    #[test]
    fn overrides_most_specific_wins() {
        let mut c = cfg();
        c.overrides = vec![
            RuleOverride {
                rule: RuleKind::PointOffline,
                park: "p1".into(),
                point: Some("p1-a".into()),
                enabled: None,
                severity: None,
                for_secs: Some(60),
                threshold: None,
            },
            RuleOverride {
                rule: RuleKind::PointOffline,
                park: "p1".into(),
                point: None,
                enabled: None,
                severity: Some(Severity::Critical),
                for_secs: Some(300),
                threshold: None,
            },
            RuleOverride {
                rule: RuleKind::PointOffline,
                park: "p2".into(),
                point: None,
                enabled: Some(false),
                severity: None,
                for_secs: None,
                threshold: None,
            },
        ];
        let a = resolve(&c, &AlertKey::point(RuleKind::PointOffline, "p1", "p1-a"));
        assert_eq!((a.severity, a.for_secs), (Severity::Critical, 60));
        let b = resolve(&c, &AlertKey::point(RuleKind::PointOffline, "p1", "p1-b"));
        assert_eq!((b.severity, b.for_secs), (Severity::Critical, 300));
        assert!(!resolve(&c, &AlertKey::point(RuleKind::PointOffline, "p2", "x")).enabled);
        let other = resolve(&c, &AlertKey::point(RuleKind::PointOffline, "p3", "x"));
        assert_eq!((other.severity, other.for_secs), (Severity::Major, 900));
    }

    #[test]
    fn plan_creates_fires_and_resolves_by_scope() {
        let c = cfg();
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let exceed = AlertKey::pollutant(RuleKind::DischargeExceedance, "p1", "p1-a", "w01018");
        let changes = plan(&c, vec![], vec![cond(exceed.clone())], Scope::All, now);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].events, vec![Event::Firing]);
        let lc = changes[0].lifecycle;

        // The fast path does not clear what it did not check.
        let open = vec![OpenAlert {
            id: 7,
            key: exceed.clone(),
            lifecycle: lc,
            value: None,
            summary: String::new(),
        }];
        assert!(plan(&c, open.clone(), vec![], Scope::ConditionsOnly, now).is_empty());
        // Nor does an evaluation whose exceedance query failed.
        let skipped = Scope::AllBut(vec![RuleKind::DischargeExceedance]);
        assert!(plan(&c, open.clone(), vec![], skipped, now).is_empty());
        let others_failed = Scope::AllBut(vec![RuleKind::PointOffline]);
        assert_eq!(
            plan(&c, open.clone(), vec![], others_failed, now)[0]
                .lifecycle
                .clear_since,
            Some(now)
        );
        // A full evaluation starts the hysteresis, and resolves after it.
        let first = plan(&c, open, vec![], Scope::All, now);
        assert_eq!(first[0].lifecycle.clear_since, Some(now));
        let later = now + Duration::seconds(300);
        let open = vec![OpenAlert {
            id: 7,
            key: exceed,
            lifecycle: first[0].lifecycle,
            value: None,
            summary: String::new(),
        }];
        let second = plan(&c, open, vec![], Scope::All, later);
        assert_eq!(second[0].lifecycle.state, State::Resolved);
        assert_eq!(second[0].events, vec![Event::Resolved]);
    }

    #[test]
    fn disabled_rules_raise_nothing() {
        let mut c = cfg();
        c.rules.discharge_exceedance.enabled = false;
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let key = AlertKey::pollutant(RuleKind::DischargeExceedance, "p1", "p1-a", "w01018");
        assert!(plan(&c, vec![], vec![cond(key)], Scope::All, now).is_empty());
    }
}

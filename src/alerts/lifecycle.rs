//! The lifecycle of one alert as a pure state machine: pending → firing → resolved, with the
//! rule's `for` duration, a resolve hysteresis, re-notification and escalation while nobody has
//! acknowledged it. No IO: the engine feeds it the stored state, whether the condition holds,
//! and the time.

use chrono::{DateTime, Duration, Utc};

use crate::domain::alert::{Event, Lifecycle, Severity, State};

/// The timing of one rule (after per-park and per-point overrides).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    pub severity: Severity,
    /// How long the condition must hold before the alert fires.
    pub for_: Duration,
    /// How long the condition must stay clear before a firing alert resolves.
    pub resolve_after: Duration,
    /// Re-notify a firing, unacknowledged alert this often; `None` = never.
    pub renotify: Option<Duration>,
    /// Escalate a firing alert unacknowledged this long after it fired; `None` = never.
    pub escalate_after: Option<Duration>,
    pub escalate_to: Severity,
}

/// Whether the condition holds now, and since when if the data tell.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Observation {
    Active { since: Option<DateTime<Utc>> },
    Clear,
}

/// The next lifecycle (`None`: no alert) and the events of this step, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub next: Option<Lifecycle>,
    pub events: Vec<Event>,
}

/// One evaluation of one key.
///
/// - No alert and the condition holds: a pending alert, firing at once when `for` has already
///   passed since the condition began.
/// - Pending: fires once `for` has passed; cancelled (no page) if the condition clears first.
/// - Firing and holding: any clear period is forgotten; unacknowledged, it escalates once after
///   `escalate_after`, and is re-notified every `renotify`.
/// - Firing and clear: resolves once clear for `resolve_after` (the hysteresis), acknowledged or
///   not.
pub fn step(
    current: Option<&Lifecycle>,
    observed: Observation,
    timing: &Timing,
    now: DateTime<Utc>,
) -> Step {
    let mut events = Vec::new();
    let next = match (current, observed) {
        (None, Observation::Clear) => None,
        (None, Observation::Active { since }) => {
            let mut lc = Lifecycle {
                state: State::Pending,
                severity: timing.severity,
                active_since: since.map_or(now, |s| s.min(now)),
                fired_at: None,
                clear_since: None,
                resolved_at: None,
                last_notified_at: None,
                escalated_at: None,
                acknowledged: false,
            };
            if !fire_if_due(&mut lc, timing, now, &mut events) {
                events.push(Event::Pending);
            }
            Some(lc)
        }
        (Some(cur), _) if cur.state == State::Resolved => Some(*cur),
        (Some(cur), Observation::Clear) if cur.state == State::Pending => {
            events.push(Event::Cancelled);
            Some(Lifecycle {
                state: State::Resolved,
                resolved_at: Some(now),
                ..*cur
            })
        }
        (Some(cur), Observation::Active { since }) if cur.state == State::Pending => {
            let mut lc = *cur;
            // Where the data tell when the condition began, they win: a point that reported
            // in between starts its silence again.
            if let Some(s) = since {
                lc.active_since = s.min(now);
            }
            fire_if_due(&mut lc, timing, now, &mut events);
            Some(lc)
        }
        (Some(cur), Observation::Active { .. }) => {
            let mut lc = Lifecycle {
                clear_since: None,
                ..*cur
            };
            if !lc.acknowledged {
                let fired = lc.fired_at.unwrap_or(lc.active_since);
                let escalate = timing
                    .escalate_after
                    .is_some_and(|after| lc.escalated_at.is_none() && now - fired >= after);
                let renotify = timing.renotify.is_some_and(|every| {
                    lc.last_notified_at.is_none_or(|last| now - last >= every)
                });
                if escalate {
                    lc.escalated_at = Some(now);
                    lc.severity = lc.severity.max(timing.escalate_to);
                    lc.last_notified_at = Some(now);
                    events.push(Event::Escalated);
                } else if renotify {
                    lc.last_notified_at = Some(now);
                    events.push(Event::Renotified);
                }
            }
            Some(lc)
        }
        (Some(cur), Observation::Clear) => {
            let clear_since = cur.clear_since.unwrap_or(now);
            let mut lc = Lifecycle {
                clear_since: Some(clear_since),
                ..*cur
            };
            if now - clear_since >= timing.resolve_after {
                lc.state = State::Resolved;
                lc.resolved_at = Some(now);
                events.push(Event::Resolved);
            }
            Some(lc)
        }
    };
    Step { next, events }
}

/// Fires a pending alert whose `for` has passed; returns whether it fired.
fn fire_if_due(
    lc: &mut Lifecycle,
    timing: &Timing,
    now: DateTime<Utc>,
    events: &mut Vec<Event>,
) -> bool {
    if now - lc.active_since < timing.for_ {
        return false;
    }
    lc.state = State::Firing;
    lc.fired_at = Some(now);
    lc.last_notified_at = Some(now);
    events.push(Event::Firing);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(min: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + min * 60, 0).unwrap()
    }

    fn timing() -> Timing {
        Timing {
            severity: Severity::Major,
            for_: Duration::minutes(15),
            resolve_after: Duration::minutes(5),
            renotify: Some(Duration::minutes(60)),
            escalate_after: Some(Duration::minutes(30)),
            escalate_to: Severity::Critical,
        }
    }

    const ON: Observation = Observation::Active { since: None };
    const OFF: Observation = Observation::Clear;

    /// Runs a script of (minute, observation) against one key and returns, per step, the state
    /// after it and the events it produced.
    fn run(
        timing: &Timing,
        script: &[(i64, Observation)],
        ack_at: Option<i64>,
    ) -> Vec<(i64, Option<State>, Vec<Event>)> {
        let mut cur: Option<Lifecycle> = None;
        let mut out = Vec::new();
        for &(min, obs) in script {
            if let (Some(a), Some(lc)) = (ack_at, cur.as_mut()) {
                if min >= a {
                    lc.acknowledged = true;
                }
            }
            let s = step(cur.as_ref(), obs, timing, t(min));
            out.push((min, s.next.map(|l| l.state), s.events.clone()));
            cur = s.next.filter(|l| l.state != State::Resolved);
        }
        out
    }

    use Event::*;
    use State::{Firing as F, Pending as P, Resolved as R};

    #[test]
    fn table() {
        struct Case {
            name: &'static str,
            timing: Timing,
            script: Vec<(i64, Observation)>,
            ack_at: Option<i64>,
            want: Vec<(Option<State>, Vec<Event>)>,
        }
        let quiet = Timing {
            renotify: None,
            escalate_after: None,
            ..timing()
        };
        let cases = vec![
            Case {
                name: "fires only after `for`",
                timing: quiet,
                script: vec![(0, ON), (10, ON), (15, ON), (20, ON)],
                ack_at: None,
                want: vec![
                    (Some(P), vec![Pending]),
                    (Some(P), vec![]),
                    (Some(F), vec![Firing]),
                    (Some(F), vec![]),
                ],
            },
            Case {
                name: "clears before `for`: cancelled, no page",
                timing: quiet,
                script: vec![(0, ON), (10, OFF), (11, OFF)],
                ack_at: None,
                want: vec![
                    (Some(P), vec![Pending]),
                    (Some(R), vec![Cancelled]),
                    (None, vec![]),
                ],
            },
            Case {
                name: "for = 0 fires at once",
                timing: Timing {
                    for_: Duration::zero(),
                    ..quiet
                },
                script: vec![(0, ON)],
                ack_at: None,
                want: vec![(Some(F), vec![Firing])],
            },
            Case {
                name: "hysteresis: a short recovery does not resolve or re-page",
                timing: quiet,
                script: vec![
                    (0, ON),
                    (15, ON),
                    (16, OFF),
                    (18, OFF),
                    (19, ON),
                    (20, OFF),
                    (24, OFF),
                    (25, OFF),
                ],
                ack_at: None,
                want: vec![
                    (Some(P), vec![Pending]),
                    (Some(F), vec![Firing]),
                    (Some(F), vec![]),
                    (Some(F), vec![]),
                    (Some(F), vec![]),
                    (Some(F), vec![]),
                    (Some(F), vec![]),
                    (Some(R), vec![Resolved]),
                ],
            },
            Case {
                name: "re-notifies while unacknowledged",
                timing: Timing {
                    escalate_after: None,
                    ..timing()
                },
                script: vec![(0, ON), (15, ON), (74, ON), (75, ON), (134, ON), (135, ON)],
                ack_at: None,
                want: vec![
                    (Some(P), vec![Pending]),
                    (Some(F), vec![Firing]),
                    (Some(F), vec![]),
                    (Some(F), vec![Renotified]),
                    (Some(F), vec![]),
                    (Some(F), vec![Renotified]),
                ],
            },
            Case {
                name: "escalates once, then re-notifies from the escalation",
                timing: timing(),
                script: vec![(0, ON), (15, ON), (45, ON), (46, ON), (105, ON)],
                ack_at: None,
                want: vec![
                    (Some(P), vec![Pending]),
                    (Some(F), vec![Firing]),
                    (Some(F), vec![Escalated]),
                    (Some(F), vec![]),
                    (Some(F), vec![Renotified]),
                ],
            },
            Case {
                name: "acknowledged: no re-notification or escalation, still resolves",
                timing: timing(),
                script: vec![
                    (0, ON),
                    (15, ON),
                    (45, ON),
                    (200, ON),
                    (201, OFF),
                    (206, OFF),
                ],
                ack_at: Some(20),
                want: vec![
                    (Some(P), vec![Pending]),
                    (Some(F), vec![Firing]),
                    (Some(F), vec![]),
                    (Some(F), vec![]),
                    (Some(F), vec![]),
                    (Some(R), vec![Resolved]),
                ],
            },
            Case {
                name: "resolve_after = 0 resolves at the first clear evaluation",
                timing: Timing {
                    for_: Duration::zero(),
                    resolve_after: Duration::zero(),
                    ..quiet
                },
                script: vec![(0, ON), (1, OFF), (2, ON)],
                ack_at: None,
                want: vec![
                    (Some(F), vec![Firing]),
                    (Some(R), vec![Resolved]),
                    (Some(F), vec![Firing]),
                ],
            },
        ];
        for c in cases {
            let got: Vec<_> = run(&c.timing, &c.script, c.ack_at)
                .into_iter()
                .map(|(_, s, e)| (s, e))
                .collect();
            assert_eq!(got, c.want, "{}", c.name);
        }
    }

    #[test]
    fn condition_start_from_data_counts_towards_for() {
        // The point went silent 20 minutes before greenmon first looked: it fires at once.
        let s = step(
            None,
            Observation::Active {
                since: Some(t(-20)),
            },
            &timing(),
            t(0),
        );
        assert_eq!(s.events, vec![Firing]);
        assert_eq!(s.next.unwrap().active_since, t(-20));
    }

    #[test]
    fn a_report_in_between_restarts_the_pending_clock() {
        let pending = step(
            None,
            Observation::Active { since: Some(t(0)) },
            &timing(),
            t(5),
        )
        .next
        .unwrap();
        // The point reported at minute 8 and went silent again.
        let s = step(
            Some(&pending),
            Observation::Active { since: Some(t(8)) },
            &timing(),
            t(16),
        );
        assert_eq!(s.events, vec![]);
        assert_eq!(s.next.unwrap().state, State::Pending);
    }

    #[test]
    fn escalation_raises_severity_but_never_lowers_it() {
        let mut tm = timing();
        tm.escalate_to = Severity::Warning;
        let firing = step(
            None,
            Observation::Active {
                since: Some(t(-20)),
            },
            &tm,
            t(0),
        )
        .next
        .unwrap();
        let s = step(Some(&firing), ON, &tm, t(31));
        assert_eq!(s.events, vec![Escalated]);
        assert_eq!(s.next.unwrap().severity, Severity::Major);
    }
}

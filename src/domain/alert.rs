//! The alert vocabulary: rule kinds, severities, states and events, the key of an alert, the
//! condition a rule found true now, and an alert's lifecycle fields as stored. Pure types; the
//! state machine that moves them is `alerts::lifecycle`.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The alert rules greenmon evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// A required point without valid data for longer than its allowed gap.
    PointOffline,
    /// A park below 100% automatic online monitoring.
    ParkMonitoringRate,
    /// An hourly average outside a point's discharge limit.
    DischargeExceedance,
    /// A point's effective transmission rate below the threshold for a day.
    LowEffectiveRate,
    /// A park's year-to-date energy-intensity reduction behind the required path.
    EnergyOffTrack,
    /// After the target year: the target year's reduction fell short of the goal.
    EnergyTargetMissed,
    /// A reporting period ended some days ago and the park has not reported it.
    EnergyReportOverdue,
    /// An HJ 212 logger's clock differs from greenmon's by more than the limit.
    ClockDrift,
}

impl RuleKind {
    pub const ALL: [RuleKind; 8] = [
        RuleKind::PointOffline,
        RuleKind::ParkMonitoringRate,
        RuleKind::DischargeExceedance,
        RuleKind::LowEffectiveRate,
        RuleKind::EnergyOffTrack,
        RuleKind::EnergyTargetMissed,
        RuleKind::EnergyReportOverdue,
        RuleKind::ClockDrift,
    ];

    /// The stable name: configuration key, database value, metric and Alertmanager label.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::PointOffline => "point_offline",
            RuleKind::ParkMonitoringRate => "park_monitoring_rate",
            RuleKind::DischargeExceedance => "discharge_exceedance",
            RuleKind::LowEffectiveRate => "low_effective_rate",
            RuleKind::EnergyOffTrack => "energy_off_track",
            RuleKind::EnergyTargetMissed => "energy_target_missed",
            RuleKind::EnergyReportOverdue => "energy_report_overdue",
            RuleKind::ClockDrift => "clock_drift",
        }
    }

    /// The Alertmanager `alertname`.
    pub fn alert_name(self) -> &'static str {
        match self {
            RuleKind::PointOffline => "GreenmonPointOffline",
            RuleKind::ParkMonitoringRate => "GreenmonParkMonitoringBelowTarget",
            RuleKind::DischargeExceedance => "GreenmonDischargeExceedance",
            RuleKind::LowEffectiveRate => "GreenmonLowEffectiveTransmissionRate",
            RuleKind::EnergyOffTrack => "GreenmonEnergyIntensityOffTrack",
            RuleKind::EnergyTargetMissed => "GreenmonEnergyTargetMissed",
            RuleKind::EnergyReportOverdue => "GreenmonEnergyReportOverdue",
            RuleKind::ClockDrift => "GreenmonLoggerClockDrift",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// As [`RuleKind::parse`], with an error that lists the rules.
    ///
    /// # Errors
    /// The name is not a rule's.
    pub fn from_name(s: &str) -> Result<Self, String> {
        Self::parse(s).ok_or_else(|| {
            format!(
                "unknown rule {s:?}; rules: {}",
                Self::ALL.map(Self::as_str).join(", ")
            )
        })
    }
}

impl fmt::Display for RuleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How urgent an alert is; ordered from least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Major,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Info,
        Severity::Warning,
        Severity::Major,
        Severity::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Major => "major",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One alert per key may be open: rule + park + point + pollutant (`""` where not applicable).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct AlertKey {
    pub rule: RuleKind,
    pub park: String,
    pub point: String,
    pub pollutant: String,
}

impl AlertKey {
    pub fn park(rule: RuleKind, park: &str) -> Self {
        Self::point(rule, park, "")
    }

    pub fn point(rule: RuleKind, park: &str, point: &str) -> Self {
        Self::pollutant(rule, park, point, "")
    }

    pub fn pollutant(rule: RuleKind, park: &str, point: &str, pollutant: &str) -> Self {
        Self {
            rule,
            park: park.to_string(),
            point: point.to_string(),
            pollutant: pollutant.to_string(),
        }
    }
}

/// Text of an alert in English and Chinese.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Texts {
    pub summary: String,
    pub summary_zh: String,
    pub description: String,
    pub description_zh: String,
}

/// A rule's condition, true now for one key.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub key: AlertKey,
    /// When the condition began, where the data tell (a point's last valid reading, an
    /// episode's first hour); `None` = from when greenmon first saw it.
    pub since: Option<DateTime<Utc>>,
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    pub texts: Texts,
}

/// Where an open alert stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Pending,
    Firing,
    Resolved,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Firing => "firing",
            State::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [State::Pending, State::Firing, State::Resolved]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// What happened to an alert; recorded in `alert_events`. Those for which [`Event::notifies`]
/// is true also go to the receivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    Pending,
    Firing,
    Renotified,
    Escalated,
    Resolved,
    /// The condition cleared before the `for` duration passed; nobody was paged.
    Cancelled,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Pending => "pending",
            Event::Firing => "firing",
            Event::Renotified => "renotified",
            Event::Escalated => "escalated",
            Event::Resolved => "resolved",
            Event::Cancelled => "cancelled",
        }
    }

    /// Whether receivers hear about it.
    pub fn notifies(self) -> bool {
        matches!(
            self,
            Event::Firing | Event::Renotified | Event::Escalated | Event::Resolved
        )
    }
}

/// The lifecycle fields of an alert, as stored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lifecycle {
    pub state: State,
    pub severity: Severity,
    pub active_since: DateTime<Utc>,
    pub fired_at: Option<DateTime<Utc>>,
    pub clear_since: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub last_notified_at: Option<DateTime<Utc>>,
    pub escalated_at: Option<DateTime<Utc>>,
    pub acknowledged: bool,
}

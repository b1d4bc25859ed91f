//! Alerts: rules over the compliance engine's views, a lifecycle per alert key kept in
//! PostgreSQL, and notifications delivered through a transactional outbox to Prometheus
//! Alertmanager and signed webhooks. One instance (the advisory-lock leader) evaluates and
//! notifies at a time. See docs/alerts.md.
//!
//! Data flow: compliance views → `rules` (conditions) → `plan` + `lifecycle` (changes) →
//! `store::alerts` (alerts, alert_events, notification_outbox, one transaction) → `delivery`
//! → `notify` (HTTP).

pub mod delivery;
pub mod engine;
pub mod lifecycle;
pub mod notify;
pub mod plan;
pub mod rules;
pub mod tap;

pub use crate::domain::alert::{AlertKey, Condition, RuleKind, Severity};

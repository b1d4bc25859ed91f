//! Integration tests against a real PostgreSQL (127.0.0.1:5432) and real Mosquitto brokers: the
//! shared one on 127.0.0.1:1883 and, for tests that restart or fill one, brokers of their own.
//! Every test has its own database, topic prefix and client id, so they run in parallel.

mod alerts;
mod api;
mod broker_auth;
mod bulletin;
mod cli;
mod compliance;
mod compliance_record;
mod compliance_report;
mod compliance_review;
mod corrections;
mod fault;
mod grafana;
mod helpers;
mod hj212;
mod hj212_recovery;
mod import;
mod ingest;
mod layout;
mod portal;
mod resilience;
mod scale;
mod timescale;

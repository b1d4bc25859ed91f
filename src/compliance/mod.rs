//! Compliance: is each park at 100% automatic online monitoring, are its data valid, does it
//! discharge within limits, and is its energy intensity on the path to the target?
//!
//! Pure maths lives in files with no IO; the database side is in `store::compliance`.

pub mod energy;
pub mod exceedance;
pub mod rates;
pub mod report;
pub mod report_text;
pub mod rounding;
pub mod service;
pub mod status;

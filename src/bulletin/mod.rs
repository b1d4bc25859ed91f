//! The documents the bureau publishes: the monthly bulletin and the annual assessment.
//!
//! Input: the compliance record's figures (`compliance::report::monthly`, `service::energy_at`)
//! and the month's alerts, review marks and corrections, all as known at a data cut-off.
//! Output: the content with exact numbers (serde, the API's JSON), a self-contained HTML document
//! (inline CSS and SVG charts, Chinese first), and its PDF printed by headless Chromium.
//!
//! - [`model`]: the monthly bulletin's content, built from the store.
//! - [`annual`]: the annual assessment's content, built from the same months.
//! - [`lang`]: words and number formats, zh-CN and English.
//! - [`svg`]: line charts readable in black-and-white print.
//! - [`html`]: what both documents share (shell, CSS, the two charts with their tables).
//! - [`page`], [`annual_page`]: the two documents as HTML.
//! - [`pdf`]: printing to PDF (spawns Chromium: the only part here that is not pure).

pub mod annual;
pub mod annual_page;
pub mod html;
pub mod lang;
pub mod model;
pub mod page;
pub mod pdf;
pub mod svg;

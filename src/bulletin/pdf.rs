//! The PDF of a bulletin: headless Chromium prints the HTML file (`--print-to-pdf`). The process
//! runs with a fresh profile, no network fetches to make (the document is self-contained), and a
//! deadline: past it the process is killed and the error says so. A missing Chromium is named.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::Command;

/// How to run Chromium.
#[derive(Debug, Clone)]
pub struct Chromium {
    /// The executable: a name looked up on `PATH`, or a path.
    pub program: PathBuf,
    /// Longest the printing may take.
    pub timeout: Duration,
}

/// Why no PDF was made.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error(
        "Chromium was not found as {0:?}: install Debian's `chromium` package or pass --chromium PATH"
    )]
    Missing(PathBuf),
    #[error("Chromium could not be started as {0:?}: {1}")]
    Spawn(PathBuf, std::io::Error),
    #[error("Chromium did not finish the PDF within {0:?}; it was stopped")]
    Timeout(Duration),
    #[error("Chromium failed ({status}): {stderr}")]
    Failed { status: String, stderr: String },
    #[error("Chromium wrote no PDF at {0}")]
    NoOutput(PathBuf),
    #[error("the profile directory could not be made: {0}")]
    Profile(std::io::Error),
}

impl Chromium {
    /// Prints `html` (a file) to `pdf`.
    ///
    /// # Errors
    /// [`PdfError`]: Chromium missing, failing, too slow, or writing nothing.
    pub async fn print(&self, html: &Path, pdf: &Path) -> Result<(), PdfError> {
        let profile = tempfile::tempdir().map_err(PdfError::Profile)?;
        let html = std::path::absolute(html).map_err(PdfError::Profile)?;
        let _ = std::fs::remove_file(pdf);
        let mut cmd = Command::new(&self.program);
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-pdf-header-footer",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(format!("file://{}", html.display()))
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
        let child = match tokio::time::timeout(self.timeout, cmd.output()).await {
            Ok(Ok(out)) => out,
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(PdfError::Missing(self.program.clone()))
            }
            Ok(Err(e)) => return Err(PdfError::Spawn(self.program.clone(), e)),
            Err(_) => return Err(PdfError::Timeout(self.timeout)),
        };
        if !child.status.success() {
            let stderr = String::from_utf8_lossy(&child.stderr);
            let tail: String = stderr.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
            return Err(PdfError::Failed {
                status: child.status.to_string(),
                stderr: tail,
            });
        }
        match std::fs::metadata(pdf) {
            Ok(m) if m.len() > 0 => Ok(()),
            _ => Err(PdfError::NoOutput(pdf.to_path_buf())),
        }
    }
}

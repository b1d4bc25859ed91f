//! `greenmon serve`, `greenmon migrate` and `greenmon check-config`: the service itself, its
//! schema, and its configuration.

use std::process::ExitCode;

use crate::config::Settings;
use crate::{app, store};

/// `greenmon check-config`, once the settings loaded and validated (`main` exits 2 with every
/// problem when they do not).
pub fn check_config() -> ExitCode {
    println!("configuration is valid");
    ExitCode::SUCCESS
}

/// `greenmon serve`: runs the service until SIGINT or SIGTERM, then drains.
pub(super) async fn serve(settings: Settings) -> anyhow::Result<()> {
    app::run(settings, shutdown_signal()).await
}

/// `greenmon migrate`: creates the database if missing and applies the migrations.
pub(super) async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    store::ensure_database(&settings.database).await?;
    let backend = store::migrate(&store::pool(&settings.database)).await?;
    println!("migrated ({backend})");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub(super) async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

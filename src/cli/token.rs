//! `greenmon token create|list|revoke`: API tokens. A token's secret is printed once; only its
//! hash is stored.

use anyhow::Context;
use chrono::SecondsFormat;

use crate::config::Settings;
use crate::store::{self, tokens, tokens::TokenRole};

/// `greenmon token …`.
#[derive(clap::Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it (the only time it is shown; only its hash is stored).
    Create {
        #[arg(long, value_enum)]
        role: TokenRoleArg,
        /// The park a park token reads (required with --role park).
        #[arg(long, required_if_eq("role", "park"))]
        park: Option<String>,
        /// Who holds the token, e.g. "hitech-zone energy office".
        #[arg(long)]
        name: String,
    },
    /// List tokens (never the secrets).
    List,
    /// Revoke a token by its id (from `token list`).
    Revoke { id: i64 },
}

/// `--role`: what a token may read.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TokenRoleArg {
    /// Every park.
    Bureau,
    /// One park (`--park`).
    Park,
}

/// Runs one token command.
pub(super) async fn run(command: TokenCommand, settings: &Settings) -> anyhow::Result<()> {
    let pool = store::pool(&settings.database);
    match command {
        TokenCommand::Create { role, park, name } => {
            let role = match (role, park) {
                (TokenRoleArg::Bureau, None) => TokenRole::Bureau,
                (TokenRoleArg::Bureau, Some(_)) => {
                    anyhow::bail!("--park is only for --role park")
                }
                (TokenRoleArg::Park, Some(p)) => {
                    if store::compliance::parks(&pool, Some(&p)).await?.is_empty() {
                        anyhow::bail!("park {p:?} is not registered");
                    }
                    TokenRole::Park(p)
                }
                (TokenRoleArg::Park, None) => anyhow::bail!("--role park needs --park"),
            };
            let (id, secret) = tokens::create(&pool, &name, &role)
                .await
                .context("creating the token")?;
            eprintln!("token {id} created; it is shown once, store it now:");
            println!("{secret}");
        }
        TokenCommand::List => {
            println!(
                "{:>5}  {:<8} {:<20} {:<12} {:<25} {:<25} name",
                "id", "role", "park", "prefix", "created", "revoked"
            );
            for t in tokens::list(&pool).await? {
                println!(
                    "{:>5}  {:<8} {:<20} {:<12} {:<25} {:<25} {}",
                    t.id,
                    t.role,
                    t.park_id.unwrap_or_default(),
                    t.prefix,
                    t.created_at.to_rfc3339_opts(SecondsFormat::Secs, true),
                    t.revoked_at
                        .map(|r| r.to_rfc3339_opts(SecondsFormat::Secs, true))
                        .unwrap_or_default(),
                    t.name
                );
            }
        }
        TokenCommand::Revoke { id } => {
            if !tokens::revoke(&pool, id).await? {
                anyhow::bail!("no live token with id {id}");
            }
            println!("token {id} revoked");
        }
    }
    Ok(())
}

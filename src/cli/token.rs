//! `greenmon token create|list|revoke`: API tokens. A token's secret is printed once; only its
//! hash is stored. A token may expire (`--expires 90d`, `12h` or an RFC 3339 time).

use anyhow::Context;
use chrono::{DateTime, Duration, SecondsFormat, Utc};

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
        /// When the token stops working: `90d` (days), `12h` (hours) from now, or an RFC 3339
        /// time (`2027-01-01T00:00:00Z`). Default: never.
        #[arg(long, allow_hyphen_values = true)]
        expires: Option<String>,
    },
    /// List tokens with their expiry and last use (never the secrets).
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
        TokenCommand::Create {
            role,
            park,
            name,
            expires,
        } => {
            let expires_at = expires
                .as_deref()
                .map(|e| parse_expiry(e, Utc::now()))
                .transpose()
                .map_err(|e| anyhow::anyhow!("--expires {e}"))?;
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
            let (id, secret) = tokens::create_expiring(&pool, &name, &role, expires_at)
                .await
                .context("creating the token")?;
            match expires_at {
                Some(t) => eprintln!(
                    "token {id} created, valid until {}; it is shown once, store it now:",
                    time(t)
                ),
                None => eprintln!("token {id} created; it is shown once, store it now:"),
            }
            println!("{secret}");
        }
        TokenCommand::List => {
            println!(
                "{:>5}  {:<8} {:<20} {:<12} {:<21} {:<21} {:<21} {:<21} name",
                "id", "role", "park", "prefix", "created", "expires", "last used", "revoked"
            );
            for t in tokens::list(&pool).await? {
                println!(
                    "{:>5}  {:<8} {:<20} {:<12} {:<21} {:<21} {:<21} {:<21} {}",
                    t.id,
                    t.role,
                    t.park_id.unwrap_or_default(),
                    t.prefix,
                    time(t.created_at),
                    t.expires_at.map(time).unwrap_or_else(|| "never".into()),
                    t.last_used_at.map(time).unwrap_or_else(|| "never".into()),
                    t.revoked_at.map(time).unwrap_or_default(),
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

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Longest lifetime `--expires` accepts: 100 years.
const MAX_LIFETIME_DAYS: i64 = 36_500;

/// `--expires`: `Nd` or `Nh` from `now` (N ≥ 1), or an RFC 3339 time after `now`, at most 100
/// years ahead.
///
/// # Errors
/// What is wrong with the value, phrased to follow `--expires`.
fn parse_expiry(value: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let v = value.trim();
    let relative = v
        .strip_suffix('d')
        .map(|n| (n, Duration::try_days as fn(i64) -> Option<Duration>))
        .or_else(|| v.strip_suffix('h').map(|n| (n, Duration::try_hours as _)));
    let at = match relative {
        Some((n, unit)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
            let n: i64 = n
                .parse()
                .map_err(|_| format!("{value:?}: the number is too large"))?;
            if n == 0 {
                return Err(format!("{value:?}: the lifetime must be at least 1"));
            }
            unit(n)
                .and_then(|d| now.checked_add_signed(d))
                .ok_or_else(|| format!("{value:?}: the lifetime is too long"))?
        }
        _ => DateTime::parse_from_rfc3339(v)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| {
                format!(
                    "{value:?}: expected a number of days (90d), of hours (12h), or an RFC 3339 \
                     time (2027-01-01T00:00:00Z)"
                )
            })?,
    };
    if at <= now {
        return Err(format!("{value:?} is not in the future"));
    }
    let latest = now
        .checked_add_signed(Duration::days(MAX_LIFETIME_DAYS))
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    if at > latest {
        return Err(format!("{value:?}: a token may live at most 100 years"));
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiries() {
        let now: DateTime<Utc> = "2026-03-10T00:00:00Z".parse().unwrap();
        let ok = |v: &str| parse_expiry(v, now).unwrap().to_rfc3339();
        assert_eq!(ok("90d"), "2026-06-08T00:00:00+00:00");
        assert_eq!(ok("12h"), "2026-03-10T12:00:00+00:00");
        assert_eq!(ok("2027-01-01T08:00:00+08:00"), "2027-01-01T00:00:00+00:00");
        for bad in [
            "",
            "d",
            "h",
            "0d",
            "-3d",
            "+3d",
            "3 d",
            "90",
            "3w",
            "soon",
            "1.5d",
            "99999999999999999999d",
            "9999999999999d",
            "36501d",
            "2026-03-09T00:00:00Z",
            "2026-03-10T00:00:00Z",
            "2026-13-01T00:00:00Z",
        ] {
            assert!(parse_expiry(bad, now).is_err(), "{bad:?}");
        }
    }
}

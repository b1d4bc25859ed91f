//! `greenmon hj212 decode|encode`: HJ 212 packets as an engineer needs to see them, and packets
//! built to order (to test a listener or a logger). `greenmon hj212 recover|requests`: ask a
//! logger for a range of its data by hand, and list the requests greenmon made
//! (`ingest::requester` sends them).

use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::Context;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};

use crate::config::Settings;
use crate::domain::registry::ServiceTime;
use crate::ingest::requester::history_period;
use crate::store::hj212::{self as requests, NewRequest};

/// `greenmon hj212 …`.
#[derive(clap::Subcommand)]
pub enum Hj212Command {
    /// Read packets from FILE (or standard input), in any framing the codec accepts, and print
    /// one JSON object per packet: verdict, CRC given/computed/matched, header, values, flags.
    Decode { file: Option<PathBuf> },
    /// Build a packet (## + length + data segment + CRC + CRLF) and print it.
    Encode {
        #[arg(long, default_value = "32")]
        st: String,
        #[arg(long)]
        cn: String,
        #[arg(long)]
        mn: String,
        #[arg(long)]
        pw: Option<String>,
        /// Flag bits: 4 = HJ 212-2017, 5 = 2017 and answer required.
        #[arg(long, default_value_t = 5)]
        flag: u8,
        /// Request id; default: now, as YYYYMMDDhhmmsszzz.
        #[arg(long)]
        qn: Option<String>,
        #[arg(long, requires = "pno")]
        pnum: Option<u32>,
        #[arg(long, requires = "pnum")]
        pno: Option<u32>,
        /// The CP body without the surrounding &&, e.g. "DataTime=20180301084000;w01018-Avg=23.1".
        #[arg(long, default_value = "")]
        cp: String,
        /// CRC variant to write (to test a listener's handling of field devices).
        #[arg(long, default_value = "hj212")]
        crc: hj212::CrcMode,
    },
    /// Ask a point's logger for its data over a range (queued; sent by the service that holds
    /// the logger's connection, once connected). Long ranges make several requests.
    Recover {
        #[arg(long)]
        point: String,
        /// Start: a date (2026-03-01, local midnight) or RFC 3339.
        #[arg(long)]
        from: String,
        /// End (exclusive): a date or RFC 3339.
        #[arg(long)]
        to: String,
        /// 2061 hourly data, 2051 minute data, 2031 daily data.
        #[arg(long, default_value = "2061", value_parser = ["2061", "2051", "2031"])]
        cn: String,
    },
    /// The requests greenmon made to loggers, newest first: range, status, answers, readings
    /// recovered.
    Requests {
        #[arg(long)]
        park: Option<String>,
        #[arg(long)]
        point: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long, value_enum, default_value_t = super::review::Format::Table)]
        format: super::review::Format,
    },
}

/// The longest range `greenmon hj212 recover` accepts.
const MAX_RECOVER_DAYS: i64 = 366;

/// `[from, to)` cut into requests: `max_hours` each for hourly and minute data, whole days
/// (up to 31) for daily data; aligned to the periods the CN carries.
fn chunks(
    cn: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    max_hours: u32,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let (period, _) = history_period(cn).unwrap_or((TimeDelta::hours(1), "hour"));
    let step = if cn == "2031" {
        TimeDelta::days(31)
    } else {
        TimeDelta::hours(i64::from(max_hours.max(1)))
    };
    // Days are local days: `--from 2026-03-01` is already local midnight, so daily ranges are
    // taken as given; hours and minutes are the same in every zone greenmon knows.
    let (start, end) = if cn == "2031" {
        (from, to)
    } else {
        let end = match to.duration_trunc(period) {
            Ok(t) if t < to => t + period,
            Ok(t) => t,
            Err(_) => to,
        };
        (from.duration_trunc(period).unwrap_or(from), end)
    };
    let mut out = Vec::new();
    let mut t = start;
    while t < end {
        let next = (t + step).min(end);
        out.push((t, next));
        t = next;
    }
    out
}

async fn recover(
    settings: &Settings,
    point: &str,
    from: &str,
    to: &str,
    cn: &str,
) -> anyhow::Result<()> {
    let tz = settings.timezone();
    let at = |flag: &str, text: &str| {
        ServiceTime::parse(text)
            .map(|t| t.instant(tz))
            .map_err(|e| anyhow::anyhow!("--{flag}: {e}"))
    };
    let (from, to) = (at("from", from)?, at("to", to)?);
    if from >= to {
        anyhow::bail!("--from must be before --to");
    }
    if to - from > TimeDelta::days(MAX_RECOVER_DAYS) {
        anyhow::bail!("the range may span at most {MAX_RECOVER_DAYS} days");
    }
    let pool = crate::store::pool(&settings.database);
    let mn = match requests::mn_of_point(&pool, point).await? {
        None => anyhow::bail!("point {point} is not registered"),
        Some(None) => anyhow::bail!("point {point} has no HJ 212 MN: no logger to ask"),
        Some(Some(mn)) => mn,
    };
    let new: Vec<NewRequest> = chunks(cn, from, to, settings.hj212.recovery.max_hours_per_request)
        .into_iter()
        .map(|range| NewRequest {
            point_id: point.to_string(),
            mn: mn.clone(),
            cn: cn.to_string(),
            range: Some(range),
            origin: "manual",
        })
        .collect();
    let ids = requests::queue(&pool, &new).await?;
    let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
    println!(
        "queued {} request(s) (id {}) for point {point} (MN {mn}), CN {cn}; sent when its logger is connected; see `greenmon hj212 requests --point {point}`",
        ids.len(),
        ids.join(", ")
    );
    Ok(())
}

async fn list(
    settings: &Settings,
    park: Option<&str>,
    point: Option<&str>,
    limit: i64,
    format: super::review::Format,
) -> anyhow::Result<()> {
    let pool = crate::store::pool(&settings.database);
    let rows = requests::list_requests(&pool, park, point, limit.clamp(1, 10_000)).await?;
    let mut out = std::io::stdout().lock();
    match format {
        super::review::Format::Json => {
            for r in &rows {
                writeln!(out, "{}", serde_json::to_string(r)?)?;
            }
        }
        super::review::Format::Table => {
            let tz = settings.timezone();
            let time = |t: Option<DateTime<Utc>>| {
                t.map_or_else(
                    || "-".to_string(),
                    |t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
                )
            };
            writeln!(
                out,
                "{:>6}  {:<20} {:<4} {:<16} {:<16} {:<9} {:<10} {:>3}  {:>9}  answers",
                "id", "point", "cn", "from", "to", "origin", "status", "try", "recovered"
            )?;
            for r in &rows {
                writeln!(
                    out,
                    "{:>6}  {:<20} {:<4} {:<16} {:<16} {:<9} {:<10} {:>3}  {:>9}  {}",
                    r.id,
                    r.point_id,
                    r.cn,
                    time(r.begin_time),
                    time(r.end_time),
                    r.origin,
                    r.status,
                    r.attempts,
                    r.recovered
                        .map_or_else(|| "-".to_string(), |n| n.to_string()),
                    r.answers.join("; ")
                )?;
            }
        }
    }
    Ok(())
}

/// Runs one hj212 command.
pub(super) async fn run(command: Hj212Command, settings: &Settings) -> anyhow::Result<()> {
    match command {
        Hj212Command::Recover {
            point,
            from,
            to,
            cn,
        } => recover(settings, &point, &from, &to, &cn).await,
        Hj212Command::Requests {
            park,
            point,
            limit,
            format,
        } => list(settings, park.as_deref(), point.as_deref(), limit, format).await,
        Hj212Command::Decode { file } => {
            let mut input = Vec::new();
            match &file {
                Some(path) => {
                    input = std::fs::read(path)
                        .with_context(|| format!("reading {}", path.display()))?
                }
                None => {
                    std::io::stdin()
                        .read_to_end(&mut input)
                        .context("reading standard input")?;
                }
            }
            let mut out = std::io::stdout().lock();
            for packet in crate::ingest::decode::inspect::describe(&input) {
                writeln!(out, "{packet}")?;
            }
            Ok(())
        }
        Hj212Command::Encode {
            st,
            cn,
            mn,
            pw,
            flag,
            qn,
            pnum,
            pno,
            cp,
            crc,
        } => {
            let qn = qn.unwrap_or_else(|| {
                chrono::Utc::now()
                    .with_timezone(&settings.timezone())
                    .format("%Y%m%d%H%M%S%3f")
                    .to_string()
            });
            let builder = hj212::PacketBuilder {
                qn: Some(qn),
                st,
                cn,
                pw,
                mn,
                flag: Some(hj212::PacketFlag { raw: flag }),
                pnum,
                pno,
                cp,
                ..Default::default()
            };
            let data = builder.build();
            if data.len() > 9999 {
                anyhow::bail!(
                    "the data segment is {} bytes; at most 9999 fit the length field",
                    data.len()
                );
            }
            print!(
                "##{:04}{data}{:04X}\r\n",
                data.len(),
                crc.compute(data.as_bytes())
            );
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_are_cut_into_aligned_requests() {
        assert_eq!(
            chunks(
                "2061",
                t("2026-01-01T00:30:00Z"),
                t("2026-01-02T02:10:00Z"),
                24
            ),
            [
                (t("2026-01-01T00:00:00Z"), t("2026-01-02T00:00:00Z")),
                (t("2026-01-02T00:00:00Z"), t("2026-01-02T03:00:00Z"))
            ]
        );
        assert_eq!(
            chunks(
                "2051",
                t("2026-01-01T00:00:30Z"),
                t("2026-01-01T00:02:00Z"),
                1
            ),
            [(t("2026-01-01T00:00:00Z"), t("2026-01-01T00:02:00Z"))]
        );
        assert_eq!(
            chunks(
                "2031",
                t("2026-01-01T00:00:00Z"),
                t("2026-03-01T00:00:00Z"),
                24
            )
            .len(),
            2
        );
    }
}

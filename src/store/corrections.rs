//! Corrections: a reading that meets a stored one with the same (point, pollutant, kind, time).
//! - The same value, minimum, maximum, cumulative amount and flag: a duplicate (a redelivery, a
//!   re-send), which changes nothing and leaves no revision.
//! - Different, from a source that ranks at least as high as the stored version's: a correction.
//!   The stored row takes the new version (its `received_at` becomes the correction's time); the
//!   trigger `readings_keep_revision` keeps the replaced version in `reading_revisions`; the
//!   rollups recompute the hour (migration `20261202000600`).
//! - Different, from a lower-ranking source (a logger re-sending over a bureau correction):
//!   overruled. Kept in `reading_revisions` as `overruled`; the stored version stays.
//!
//! Ranks (`reading_source_rank` in SQL): `bureau` 2, every logger source (mqtt, tcp, import) 1.
//! Within one batch, rows are applied in order: of several versions of one key, the last wins,
//! and the earlier ones are kept as revisions that were never current.

use chrono::{DateTime, Utc};

use super::StoreError;
use crate::domain::Reading;

/// A reading to store, with where it came from.
#[derive(Debug, Clone, Copy)]
pub(super) struct Incoming<'a> {
    pub reading: &'a Reading,
    /// `mqtt`, `tcp`, `import` or `bureau` (a correction): the `source` column.
    pub source: &'a str,
    /// `None` for the point's own data logger; a bureau correction's author.
    pub sender: Option<&'a str>,
}

/// The `source` of a bureau correction (`greenmon import readings --correction`), which
/// outranks every data logger's.
pub const BUREAU: &str = "bureau";

/// A reading's primary key.
pub(super) type Key<'a> = (&'a str, &'a str, &'a str, DateTime<Utc>);

/// The primary key of `r`.
pub(super) fn key(r: &Reading) -> Key<'_> {
    (
        r.point.as_str(),
        r.pollutant.as_str(),
        r.kind.code(),
        r.time,
    )
}

/// What [`apply`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Corrected {
    /// Rows equal to the stored version: nothing to do.
    pub identical: u64,
    /// Stored readings replaced by a new version.
    pub replaced: u64,
    /// Rows that lost to a higher-ranking stored version.
    pub overruled: u64,
}

/// Applies `rows`, each of which met a stored reading of its key (in this transaction or
/// before), in batch order.
///
/// # Errors
/// Database errors.
pub(super) async fn apply(
    tx: &mut sqlx::PgConnection,
    rows: &[Incoming<'_>],
) -> Result<Corrected, StoreError> {
    let mut out = Corrected::default();
    for round in rounds(rows) {
        let c = one_round(tx, &round).await?;
        out.identical += c.identical;
        out.replaced += c.replaced;
        out.overruled += c.overruled;
    }
    Ok(out)
}

/// `rows` in as few rounds as keep each key to one row a round (an UPDATE may change a row
/// once): the n-th version of a key goes to round n, so applying the rounds in order leaves each
/// key's last version current. One round unless a key repeats; linear in the rows.
fn rounds<'a>(rows: &[Incoming<'a>]) -> Vec<Vec<Incoming<'a>>> {
    let mut rounds: Vec<Vec<Incoming<'a>>> = Vec::new();
    let mut round_of: std::collections::HashMap<Key<'a>, usize> =
        std::collections::HashMap::with_capacity(rows.len());
    for row in rows {
        let next = round_of.get(&key(row.reading)).map_or(0, |r| r + 1);
        round_of.insert(key(row.reading), next);
        if rounds.len() <= next {
            rounds.push(Vec::new());
        }
        rounds[next].push(*row);
    }
    rounds
}

/// One round of distinct keys. First one read compares every row with its stored version (an
/// index lookup a row: a redelivered batch, the common case, ends here with nothing to write);
/// then only the rows that differ are written.
async fn one_round(
    tx: &mut sqlx::PgConnection,
    rows: &[Incoming<'_>],
) -> Result<Corrected, StoreError> {
    // (ordinal of the row, whether it outranks the stored version, the stored version's source)
    let differing: Vec<(i64, bool, String)> = Columns::of(rows)
        .bind(sqlx::query_as(
            // LATERAL: one primary-key lookup a row, whatever the planner would estimate for a
            // join of 10,000 rows (a hash join over the whole table took over a second a batch
            // and stalled a redelivery storm).
            "SELECT i.n, reading_source_rank(i.source) >= reading_source_rank(r.source), r.source
             FROM UNNEST($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::float8[],
                         $6::float8[], $7::float8[], $8::float8[], $9::text[], $10::text[],
                         $11::text[]) WITH ORDINALITY
                 AS i(time, point_id, pollutant, kind, value, min, max, cou, flag, source, sender, n)
             CROSS JOIN LATERAL (
                 SELECT r.value, r.min, r.max, r.cou, r.flag, r.source FROM readings r
                 WHERE r.point_id = i.point_id AND r.pollutant = i.pollutant AND r.kind = i.kind
                   AND r.time = i.time
                 LIMIT 1
             ) r
             WHERE (r.value, r.min, r.max, r.cou, r.flag::text)
                   IS DISTINCT FROM (i.value, i.min, i.max, i.cou, i.flag)",
        ))
        .fetch_all(&mut *tx)
        .await?;
    let row = |n: i64| {
        usize::try_from(n - 1)
            .ok()
            .and_then(|i| rows.get(i))
            .copied()
    };
    let mut winners: Vec<Incoming<'_>> = differing
        .iter()
        .filter(|(_, wins, _)| *wins)
        .filter_map(|(n, _, _)| row(*n))
        .collect();
    // One lock order for every transaction: concurrent corrections cannot deadlock here.
    winners.sort_by_key(|r| key(r.reading));
    let losers: Vec<(Incoming<'_>, &str)> = differing
        .iter()
        .filter(|(_, wins, _)| !*wins)
        .filter_map(|(n, _, stored)| row(*n).map(|r| (r, stored.as_str())))
        .collect();
    let mut out = Corrected {
        identical: (rows.len() - differing.len()) as u64,
        ..Corrected::default()
    };
    if !winners.is_empty() {
        // The rank and the difference are checked again on the locked row: a concurrent
        // correction of the same reading may have committed since the read above. The trigger
        // readings_keep_revision keeps each replaced version.
        let done = Columns::of(&winners)
            .bind(sqlx::query_as::<_, (i64,)>(
                "WITH replaced AS (
                     UPDATE readings r
                     SET value = i.value, min = i.min, max = i.max, cou = i.cou, flag = i.flag,
                         source = i.source, sender = i.sender, received_at = now()
                     FROM UNNEST($1::timestamptz[], $2::text[], $3::text[], $4::text[],
                                 $5::float8[], $6::float8[], $7::float8[], $8::float8[],
                                 $9::text[], $10::text[], $11::text[])
                         AS i(time, point_id, pollutant, kind, value, min, max, cou, flag,
                              source, sender)
                     WHERE r.point_id = i.point_id AND r.pollutant = i.pollutant
                       AND r.kind = i.kind AND r.time = i.time
                       AND reading_source_rank(i.source) >= reading_source_rank(r.source)
                       AND (r.value, r.min, r.max, r.cou, r.flag::text)
                           IS DISTINCT FROM (i.value, i.min, i.max, i.cou, i.flag)
                     RETURNING 1
                 )
                 SELECT count(*) FROM replaced",
            ))
            .fetch_one(&mut *tx)
            .await?;
        out.replaced = u64::try_from(done.0).unwrap_or(0);
    }
    if !losers.is_empty() {
        let incoming: Vec<Incoming<'_>> = losers.iter().map(|(r, _)| *r).collect();
        let stored: Vec<&str> = losers.iter().map(|(_, s)| *s).collect();
        let done = Columns::of(&incoming)
            .bind(sqlx::query_as::<_, (i64,)>(
                "WITH overruled AS (
                     INSERT INTO reading_revisions (point_id, pollutant, kind, time, value, min,
                                                    max, cou, flag, source, sender, received_at,
                                                    outcome, superseded_at, by_source)
                     SELECT point_id, pollutant, kind, time, value, min, max, cou, flag, source,
                            sender, now(), 'overruled', now(), by_source
                     FROM UNNEST($1::timestamptz[], $2::text[], $3::text[], $4::text[],
                                 $5::float8[], $6::float8[], $7::float8[], $8::float8[],
                                 $9::text[], $10::text[], $11::text[], $12::text[])
                         AS i(time, point_id, pollutant, kind, value, min, max, cou, flag,
                              source, sender, by_source)
                     RETURNING 1
                 )
                 SELECT count(*) FROM overruled",
            ))
            .bind(&stored)
            .fetch_one(&mut *tx)
            .await?;
        out.overruled = u64::try_from(done.0).unwrap_or(0);
    }
    Ok(out)
}

/// Rows as one array per column, for `UNNEST($1::timestamptz[], …)` in the column order
/// time, point_id, pollutant, kind, value, min, max, cou, flag, source, sender.
pub(super) struct Columns<'a> {
    time: Vec<DateTime<Utc>>,
    point: Vec<&'a str>,
    pollutant: Vec<&'a str>,
    kind: Vec<&'a str>,
    value: Vec<f64>,
    min: Vec<Option<f64>>,
    max: Vec<Option<f64>>,
    cou: Vec<Option<f64>>,
    flag: Vec<&'a str>,
    source: Vec<&'a str>,
    sender: Vec<Option<&'a str>>,
}

impl<'a> Columns<'a> {
    pub(super) fn of(rows: &[Incoming<'a>]) -> Self {
        let n = rows.len();
        let mut c = Self {
            time: Vec::with_capacity(n),
            point: Vec::with_capacity(n),
            pollutant: Vec::with_capacity(n),
            kind: Vec::with_capacity(n),
            value: Vec::with_capacity(n),
            min: Vec::with_capacity(n),
            max: Vec::with_capacity(n),
            cou: Vec::with_capacity(n),
            flag: Vec::with_capacity(n),
            source: Vec::with_capacity(n),
            sender: Vec::with_capacity(n),
        };
        for row in rows {
            let r = row.reading;
            c.time.push(r.time);
            c.point.push(r.point.as_str());
            c.pollutant.push(r.pollutant.as_str());
            c.kind.push(r.kind.code());
            c.value.push(r.value);
            c.min.push(r.min);
            c.max.push(r.max);
            c.cou.push(r.cou);
            c.flag.push(r.flag.code());
            c.source.push(row.source);
            c.sender.push(row.sender);
        }
        c
    }

    /// Binds the columns as `$1` to `$11`.
    pub(super) fn bind<'q, O>(
        &'q self,
        query: sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments> {
        query
            .bind(&self.time)
            .bind(&self.point)
            .bind(&self.pollutant)
            .bind(&self.kind)
            .bind(&self.value)
            .bind(&self.min)
            .bind(&self.max)
            .bind(&self.cou)
            .bind(&self.flag)
            .bind(&self.source)
            .bind(&self.sender)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Flag, PointId, PollutantCode, ReadingKind};

    fn reading(minute: u32, value: f64) -> Reading {
        Reading {
            time: DateTime::from_timestamp(1_520_000_000 + i64::from(minute) * 60, 0).unwrap(),
            point: PointId::parse("a-out").unwrap(),
            pollutant: PollutantCode::parse("w01018").unwrap(),
            kind: ReadingKind::Sample,
            value,
            min: None,
            max: None,
            cou: None,
            flag: Flag::Normal,
        }
    }

    fn incoming(r: &Reading) -> Incoming<'_> {
        Incoming {
            reading: r,
            source: "mqtt",
            sender: None,
        }
    }

    #[test]
    fn the_last_version_of_a_key_is_applied_last() {
        let rows = [
            reading(0, 1.0),
            reading(1, 2.0),
            reading(0, 3.0),
            reading(0, 4.0),
        ];
        let incoming: Vec<_> = rows.iter().map(incoming).collect();
        let values: Vec<Vec<f64>> = rounds(&incoming)
            .iter()
            .map(|round| round.iter().map(|r| r.reading.value).collect())
            .collect();
        // The last version of minute 0 (4.0) and of minute 1 (2.0) are each their key's last
        // write; the earlier versions of minute 0 come before it, in order.
        assert_eq!(values, [vec![1.0, 2.0], vec![3.0], vec![4.0]]);
    }
}

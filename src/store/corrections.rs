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
    if rows.is_empty() {
        return Ok(Corrected::default());
    }
    let (last, earlier) = last_of_each_key(rows);
    let mut out = Corrected::default();
    for batch in [&earlier, &last] {
        if batch.is_empty() {
            continue;
        }
        let c = apply_distinct(tx, batch).await?;
        out.identical += c.identical;
        out.replaced += c.replaced;
        out.overruled += c.overruled;
    }
    Ok(out)
}

/// Splits `rows` into the last row of each key and the earlier ones (in order). Applying the
/// earlier ones first, each key once a statement, leaves the last version current.
fn last_of_each_key<'a>(rows: &[Incoming<'a>]) -> (Vec<Incoming<'a>>, Vec<Incoming<'a>>) {
    let mut seen = std::collections::HashSet::new();
    let mut last = Vec::with_capacity(rows.len());
    let mut earlier = Vec::new();
    for row in rows.iter().rev() {
        if seen.insert(key(row.reading)) {
            last.push(*row);
        } else {
            earlier.push(*row);
        }
    }
    last.reverse();
    earlier.reverse();
    (last, earlier)
}

/// Applies `rows` in order, in as few statements as keep each key to one row a statement (an
/// UPDATE may change a row once): one statement unless a key repeats.
async fn apply_distinct(
    tx: &mut sqlx::PgConnection,
    rows: &[Incoming<'_>],
) -> Result<Corrected, StoreError> {
    let mut distinct: Vec<Vec<Incoming<'_>>> = Vec::new();
    for row in rows {
        let k = key(row.reading);
        match distinct
            .iter_mut()
            .find(|group| group.iter().all(|r| key(r.reading) != k))
        {
            Some(group) => group.push(*row),
            None => distinct.push(vec![*row]),
        }
    }
    let mut out = Corrected::default();
    for group in distinct {
        let (identical, replaced, overruled) = one_statement(tx, &group).await?;
        out.identical += identical;
        out.replaced += replaced;
        out.overruled += overruled;
    }
    Ok(out)
}

async fn one_statement(
    tx: &mut sqlx::PgConnection,
    rows: &[Incoming<'_>],
) -> Result<(u64, u64, u64), StoreError> {
    let query = sqlx::query_as(
        "WITH i AS (
             SELECT * FROM UNNEST($1::timestamptz[], $2::text[], $3::text[], $4::text[],
                                  $5::float8[], $6::float8[], $7::float8[], $8::float8[],
                                  $9::text[], $10::text[], $11::text[])
                 AS t(time, point_id, pollutant, kind, value, min, max, cou, flag, source, sender)
         ), cur AS (
             SELECT i.*, r.source AS stored_source,
                    (r.value, r.min, r.max, r.cou, r.flag::text)
                        IS NOT DISTINCT FROM (i.value, i.min, i.max, i.cou, i.flag) AS same,
                    reading_source_rank(i.source) >= reading_source_rank(r.source) AS wins
             FROM i JOIN readings r
               ON r.point_id = i.point_id AND r.pollutant = i.pollutant AND r.kind = i.kind
              AND r.time = i.time
         ), replaced AS (
             UPDATE readings r
             SET value = c.value, min = c.min, max = c.max, cou = c.cou, flag = c.flag,
                 source = c.source, sender = c.sender, received_at = now()
             FROM cur c
             WHERE r.point_id = c.point_id AND r.pollutant = c.pollutant AND r.kind = c.kind
               AND r.time = c.time AND NOT c.same AND c.wins
             RETURNING 1
         ), overruled AS (
             INSERT INTO reading_revisions (point_id, pollutant, kind, time, value, min, max, cou,
                                            flag, source, sender, received_at, outcome,
                                            superseded_at, by_source, by_sender)
             SELECT c.point_id, c.pollutant, c.kind, c.time, c.value, c.min, c.max, c.cou, c.flag,
                    c.source, c.sender, now(), 'overruled', now(), c.stored_source, NULL
             FROM cur c WHERE NOT c.same AND NOT c.wins
             RETURNING 1
         )
         SELECT (SELECT count(*) FROM cur WHERE same),
                (SELECT count(*) FROM replaced),
                (SELECT count(*) FROM overruled)",
    );
    let (identical, replaced, overruled): (i64, i64, i64) =
        Columns::of(rows).bind(query).fetch_one(&mut *tx).await?;
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    Ok((count(identical), count(replaced), count(overruled)))
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
        let (last, earlier) = last_of_each_key(&incoming);
        let values = |v: &[Incoming<'_>]| v.iter().map(|r| r.reading.value).collect::<Vec<_>>();
        assert_eq!(values(&last), [2.0, 4.0]);
        assert_eq!(values(&earlier), [1.0, 3.0]);
    }
}

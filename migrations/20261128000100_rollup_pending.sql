-- Hourly rollups kept at a cost that does not grow with the number of commits (plain
-- PostgreSQL). Until now the statement trigger on readings upserted readings_hourly and
-- readings_hourly_point in every ingest transaction: about 5,800 non-HOT upserts per 10,000-row
-- commit, which bounded ingest at about 27,000 readings/s (BENCHMARKS.md, Compliance).
--
-- From here on the trigger only appends its per-statement aggregate to readings_hourly_pending,
-- a heap without indexes or keys (an append costs no index insert and takes no row lock), and
-- readings_hourly_fold() moves the pending rows into both rollup tables: one upsert per series
-- and hour per fold, in one statement (DELETE ... RETURNING feeding the upserts), so a fold is
-- atomic and a crash loses nothing. The service's rollup worker calls it every
-- rollup.fold_interval_ms; the compliance engine calls it before it reads the rollups, so its
-- answers include every committed reading.
--
-- Existing databases: every reading stored before this migration was already added to the
-- rollup tables by the old trigger, and the new one only pends readings inserted after it, so
-- the rows already in readings_hourly and readings_hourly_point stay exact.
--
-- On TimescaleDB readings_hourly is a continuous aggregate; readings_hourly_fold() exists there
-- too, doing nothing, so callers need not know the backend.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        CREATE FUNCTION readings_hourly_fold() RETURNS bigint LANGUAGE sql AS $fn$
            -- The continuous aggregate refreshes itself (refresh policy, real-time aggregation).
            SELECT 0::bigint
        $fn$;
    ELSE
        -- Per-statement aggregates of inserted readings, not yet folded into the rollups. Rows of
        -- the same series and hour accumulate (one per ingest statement) until the next fold.
        -- No index, no key: appends stay cheap, and the fold reads the whole table anyway.
        -- Logged (not UNLOGGED): a crash must not lose aggregates whose readings are committed.
        CREATE TABLE readings_hourly_pending (
            point_id    text NOT NULL,
            pollutant   text NOT NULL,
            hour        timestamptz NOT NULL,
            sum         double precision NOT NULL,
            min         double precision NOT NULL,
            max         double precision NOT NULL,
            count       bigint NOT NULL,
            valid_count bigint NOT NULL,
            valid_sum   double precision NOT NULL      -- sum of the flag-N values
        ) WITH (
            -- A queue: every fold deletes all its rows. The rollup worker vacuums it after each
            -- fold; autovacuum is the safety net when no worker runs.
            autovacuum_vacuum_scale_factor = 0,
            autovacuum_vacuum_threshold = 100000
        );

        -- The trigger now only appends. new_rows holds only the rows actually inserted (not
        -- those ON CONFLICT skipped), so redeliveries are not counted.
        CREATE OR REPLACE FUNCTION readings_roll_up() RETURNS trigger LANGUAGE plpgsql AS $fn$
        BEGIN
            INSERT INTO readings_hourly_pending
                (point_id, pollutant, hour, sum, min, max, count, valid_count, valid_sum)
            SELECT point_id, pollutant, date_trunc('hour', time, 'UTC'),
                   sum(value), min(value), max(value), count(*),
                   count(*) FILTER (WHERE flag = 'N'),
                   coalesce(sum(value) FILTER (WHERE flag = 'N'), 0)
            FROM new_rows
            WHERE kind <> 'day'
            GROUP BY 1, 2, 3;
            RETURN NULL;
        END
        $fn$;

        -- Folds every committed pending row into readings_hourly and readings_hourly_point;
        -- returns the number of readings folded. Readings are append-only, so sums, counts,
        -- minima and maxima accumulate exactly, in any order and over any number of folds.
        CREATE FUNCTION readings_hourly_fold() RETURNS bigint LANGUAGE plpgsql AS $fn$
        DECLARE
            folded bigint;
        BEGIN
            -- One fold at a time across every instance and every reader that folds before it
            -- reads. The next statement takes its snapshot after the lock, so it sees the rows
            -- a concurrent fold deleted as gone: every pending row is folded exactly once.
            PERFORM pg_advisory_xact_lock(hashtext('greenmon.readings_hourly_fold'));
            WITH taken AS (
                DELETE FROM readings_hourly_pending RETURNING *
            ), series AS (
                -- One row per series and hour: ON CONFLICT DO UPDATE may touch a row once.
                SELECT point_id, pollutant, hour, sum(sum) AS sum, min(min) AS min,
                       max(max) AS max, sum(count)::bigint AS count,
                       sum(valid_count)::bigint AS valid_count, sum(valid_sum) AS valid_sum
                FROM taken
                GROUP BY point_id, pollutant, hour
            ), hourly AS (
                INSERT INTO readings_hourly AS h
                    (point_id, pollutant, hour, sum, min, max, count, valid_count, valid_sum)
                SELECT * FROM series
                -- The lock above serialises folds; a key order keeps it deadlock-free anyway.
                ORDER BY point_id, pollutant, hour
                ON CONFLICT (point_id, pollutant, hour) DO UPDATE SET
                    sum = h.sum + EXCLUDED.sum,
                    min = LEAST(h.min, EXCLUDED.min),
                    max = GREATEST(h.max, EXCLUDED.max),
                    count = h.count + EXCLUDED.count,
                    valid_count = h.valid_count + EXCLUDED.valid_count,
                    valid_sum = h.valid_sum + EXCLUDED.valid_sum
            ), per_point AS (
                INSERT INTO readings_hourly_point AS p (point_id, hour, count, valid_count)
                SELECT point_id, hour, sum(count), sum(valid_count)
                FROM series
                GROUP BY point_id, hour
                ORDER BY point_id, hour
                ON CONFLICT (point_id, hour) DO UPDATE SET
                    count = p.count + EXCLUDED.count,
                    valid_count = p.valid_count + EXCLUDED.valid_count
            )
            SELECT coalesce(sum(count), 0)::bigint INTO folded FROM series;
            RETURN folded;
        END
        $fn$;
    END IF;
END
$$;

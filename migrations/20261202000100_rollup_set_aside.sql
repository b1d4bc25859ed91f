-- A series-hour whose fold fails never blocks the others.
--
-- Before: readings_hourly_fold() folded every pending row in one statement, so one series whose
-- sums overflowed (two stored readings of 1.7e308 in one hour) failed every fold from then on:
-- no rollups, no rates, no alerts, for every park. Ingest now quarantines implausible values
-- (value_out_of_range), so such sums cannot arise from new data; this is the second line.
--
-- Now: the fold tries the one-statement fold first (the fast, normal path). When it fails, it
-- folds series-hour by series-hour, each in its own subtransaction, and a series-hour that still
-- fails is set aside in rollup_set_aside with the database's message. Its readings stay in
-- `readings`; only its rollup is missing, which the operator sees (metric
-- greenmon_rollup_set_aside, docs/operations.md) and can repair by hand.

-- Series-hours the fold could not add to the rollups. Exists on both backends, so the service's
-- metric query does not depend on the backend (on TimescaleDB it stays empty).
CREATE TABLE rollup_set_aside (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    point_id    text NOT NULL,
    pollutant   text NOT NULL,
    hour        timestamptz NOT NULL,
    -- How many readings the set-aside pending rows stood for.
    readings    bigint NOT NULL,
    -- The database's message (e.g. "value out of range: overflow").
    reason      text NOT NULL,
    set_aside_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rollup_set_aside_key_idx ON rollup_set_aside (point_id, pollutant, hour);

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        CREATE OR REPLACE FUNCTION readings_hourly_fold() RETURNS bigint LANGUAGE plpgsql AS $fn$
        DECLARE
            folded bigint := 0;
            k record;
            r record;
        BEGIN
            -- One fold at a time (see migration 20261128000100).
            PERFORM pg_advisory_xact_lock(hashtext('greenmon.readings_hourly_fold'));
            BEGIN
                WITH taken AS (
                    DELETE FROM readings_hourly_pending RETURNING *
                ), series AS (
                    SELECT point_id, pollutant, hour, sum(sum) AS sum, min(min) AS min,
                           max(max) AS max, sum(count)::bigint AS count,
                           sum(valid_count)::bigint AS valid_count, sum(valid_sum) AS valid_sum
                    FROM taken
                    GROUP BY point_id, pollutant, hour
                ), hourly AS (
                    INSERT INTO readings_hourly AS h
                        (point_id, pollutant, hour, sum, min, max, count, valid_count, valid_sum)
                    SELECT * FROM series
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
            EXCEPTION WHEN data_exception THEN
                -- Rolled back to the start of this block: every pending row is still there.
                NULL;
            END;

            -- One series-hour at a time. Take the pending rows once, so each key's rows are
            -- found through an index rather than a scan of the whole queue.
            CREATE TEMP TABLE IF NOT EXISTS fold_taken
                (LIKE readings_hourly_pending) ON COMMIT DROP;
            TRUNCATE fold_taken;
            WITH taken AS (DELETE FROM readings_hourly_pending RETURNING *)
            INSERT INTO fold_taken SELECT * FROM taken;
            CREATE INDEX IF NOT EXISTS fold_taken_key ON fold_taken (point_id, pollutant, hour);
            ANALYZE fold_taken;
            FOR k IN SELECT DISTINCT point_id, pollutant, hour FROM fold_taken
                     ORDER BY point_id, pollutant, hour LOOP
                BEGIN
                    SELECT sum(sum) AS sum, min(min) AS min, max(max) AS max,
                           sum(count)::bigint AS count, sum(valid_count)::bigint AS valid_count,
                           sum(valid_sum) AS valid_sum
                    INTO r
                    FROM fold_taken
                    WHERE point_id = k.point_id AND pollutant = k.pollutant AND hour = k.hour;
                    INSERT INTO readings_hourly AS h
                        (point_id, pollutant, hour, sum, min, max, count, valid_count, valid_sum)
                    VALUES (k.point_id, k.pollutant, k.hour, r.sum, r.min, r.max, r.count,
                            r.valid_count, r.valid_sum)
                    ON CONFLICT (point_id, pollutant, hour) DO UPDATE SET
                        sum = h.sum + EXCLUDED.sum,
                        min = LEAST(h.min, EXCLUDED.min),
                        max = GREATEST(h.max, EXCLUDED.max),
                        count = h.count + EXCLUDED.count,
                        valid_count = h.valid_count + EXCLUDED.valid_count,
                        valid_sum = h.valid_sum + EXCLUDED.valid_sum;
                    INSERT INTO readings_hourly_point AS p (point_id, hour, count, valid_count)
                    VALUES (k.point_id, k.hour, r.count, r.valid_count)
                    ON CONFLICT (point_id, hour) DO UPDATE SET
                        count = p.count + EXCLUDED.count,
                        valid_count = p.valid_count + EXCLUDED.valid_count;
                    folded := folded + r.count;
                EXCEPTION WHEN data_exception THEN
                    INSERT INTO rollup_set_aside (point_id, pollutant, hour, readings, reason)
                    SELECT k.point_id, k.pollutant, k.hour, coalesce(sum(count), 0), SQLERRM
                    FROM fold_taken
                    WHERE point_id = k.point_id AND pollutant = k.pollutant AND hour = k.hour;
                END;
            END LOOP;
            TRUNCATE fold_taken;
            RETURN folded;
        END
        $fn$;
    END IF;
END
$$;

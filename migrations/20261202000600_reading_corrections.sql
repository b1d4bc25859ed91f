-- Corrections: a reading sent again for the same (point, pollutant, kind, time) with a different
-- value, minimum, maximum, cumulative amount or flag replaces the stored one, and the version it
-- replaces is kept in reading_revisions (docs/compliance.md, "Corrections"). Until now the first
-- value won and every later one was silently dropped.
--
-- Who wins (store/corrections.rs): a bureau correction (source 'bureau', `greenmon import readings
-- --correction --by NAME`) outranks every logger source (mqtt, tcp, import); among sources of the
-- same rank the later one wins. A logger's re-send that differs from a bureau correction is kept
-- as an 'overruled' revision and changes nothing. An identical re-send changes nothing and leaves
-- no revision.
--
-- Every stored version keeps its provenance: readings.source and readings.sender (NULL for the
-- point's own data logger, whose identity the point's MN gives, also for imported logger
-- history; the author for a bureau correction), and readings.received_at, which a correction
-- moves to the time of the correction. "As of" T (report --as-of, ?as_of=) reads, per reading,
-- the version current at T: the stored row if received by T, else the revision received by T and
-- superseded after T.

-- Existing rows came from loggers; MQTT is the source of nearly all of them (a TCP reading before
-- this migration also reads 'mqtt': the difference did not matter then and cannot be told now).
-- A constant default: no table rewrite, also on a compressed hypertable (TimescaleDB >= 2.6).
ALTER TABLE readings
    ADD COLUMN source text NOT NULL DEFAULT 'mqtt',
    ADD COLUMN sender text;

-- Every version that stopped being current, and every re-send that was overruled. Append-only.
CREATE TABLE reading_revisions (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    point_id      text NOT NULL,
    pollutant     text NOT NULL,
    kind          text NOT NULL,
    time          timestamptz NOT NULL,
    -- The version: what it said, who sent it and when it was stored.
    value         double precision NOT NULL,
    min           double precision,
    max           double precision,
    cou           double precision,
    flag          char(1) NOT NULL,
    source        text NOT NULL,
    sender        text,
    received_at   timestamptz NOT NULL,
    -- replaced: it was current from received_at until superseded_at.
    -- overruled: a re-send that lost to the stored version (a bureau correction); never current.
    outcome       text NOT NULL CONSTRAINT reading_revisions_outcome
        CHECK (outcome IN ('replaced', 'overruled')),
    superseded_at timestamptz NOT NULL DEFAULT now(),
    -- The version that replaced or overruled it.
    by_source     text NOT NULL,
    by_sender     text
);
CREATE INDEX reading_revisions_series_idx ON reading_revisions (point_id, time);
CREATE INDEX reading_revisions_superseded_idx ON reading_revisions (superseded_at);

CREATE FUNCTION reading_revisions_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'reading revisions are append-only';
END $$;
CREATE TRIGGER reading_revisions_guard BEFORE UPDATE OR DELETE ON reading_revisions
    FOR EACH ROW EXECUTE FUNCTION reading_revisions_guard();

-- Which source wins: a bureau correction (2) outranks the loggers' sources (1). A version replaces
-- the stored one when its rank is at least the stored one's.
CREATE FUNCTION reading_source_rank(source text) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE source WHEN 'bureau' THEN 2 ELSE 1 END;

-- The version an UPDATE replaces goes to reading_revisions, whoever updates: the correction path
-- of ingest, or an operator in psql. Row-level, so it sees the row as locked (a concurrent
-- correction cannot slip between), and fires only on the rare updates, never on inserts.
CREATE FUNCTION readings_keep_revision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO reading_revisions (point_id, pollutant, kind, time, value, min, max, cou, flag,
                                   source, sender, received_at, outcome, by_source, by_sender)
    VALUES (OLD.point_id, OLD.pollutant, OLD.kind, OLD.time, OLD.value, OLD.min, OLD.max, OLD.cou,
            OLD.flag, OLD.source, OLD.sender, OLD.received_at, 'replaced', NEW.source, NEW.sender);
    RETURN NEW;
END $$;
CREATE TRIGGER readings_keep_revision BEFORE UPDATE ON readings
    FOR EACH ROW EXECUTE FUNCTION readings_keep_revision();

-- Park managers' Grafana roles read the revisions of their own points, as with review marks.
ALTER TABLE reading_revisions ENABLE ROW LEVEL SECURITY;
CREATE POLICY park_reader ON reading_revisions FOR SELECT TO greenmon_park_reader
    USING (point_id = ANY (greenmon_reader_points()));
GRANT SELECT ON reading_revisions TO greenmon_park_reader;

-- Energy reports: a later report for the same period already replaced the earlier one; now the
-- earlier one is kept, and an identical re-send no longer moves received_at (store/energy.rs), so
-- energy figures "as of" a past time are exact too.
CREATE TABLE energy_report_revisions (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    park_id              text NOT NULL,
    period               text NOT NULL,
    energy_tce           double precision NOT NULL,
    value_added_10k_yuan double precision NOT NULL,
    price_index          double precision NOT NULL,
    source               text NOT NULL,
    received_at          timestamptz NOT NULL,
    superseded_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX energy_report_revisions_key_idx ON energy_report_revisions (park_id, period);
CREATE TRIGGER energy_report_revisions_guard BEFORE UPDATE OR DELETE ON energy_report_revisions
    FOR EACH ROW EXECUTE FUNCTION reading_revisions_guard();

CREATE FUNCTION energy_reports_keep_revision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO energy_report_revisions (park_id, period, energy_tce, value_added_10k_yuan,
                                         price_index, source, received_at)
    VALUES (OLD.park_id, OLD.period, OLD.energy_tce, OLD.value_added_10k_yuan, OLD.price_index,
            OLD.source, OLD.received_at);
    RETURN NEW;
END $$;
CREATE TRIGGER energy_reports_keep_revision BEFORE UPDATE ON energy_reports
    FOR EACH ROW EXECUTE FUNCTION energy_reports_keep_revision();

ALTER TABLE energy_report_revisions ENABLE ROW LEVEL SECURITY;
CREATE POLICY park_reader ON energy_report_revisions FOR SELECT TO greenmon_park_reader
    USING (park_id = greenmon_reader_park());
GRANT SELECT ON energy_report_revisions TO greenmon_park_reader;

-- Hours of the TimescaleDB continuous aggregate that a correction or a late reading made stale.
-- The refresh policy only looks back 30 days, so history imported or corrected further back
-- would never be materialised: the service refreshes these hours itself (store/rollup.rs) before
-- compliance reads, where they lie below the aggregate's watermark (above it, real-time
-- aggregation reads the raw readings anyway). Exists on both backends (empty on plain
-- PostgreSQL) so the service's code does not depend on the backend.
CREATE TABLE readings_hourly_stale (
    id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hour  timestamptz NOT NULL
);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        -- Hypertables take no transition tables: one row per updated reading (corrections are
        -- rare; inserts, the hot path, fire nothing).
        CREATE FUNCTION readings_mark_stale() RETURNS trigger LANGUAGE plpgsql AS $fn$
        BEGIN
            INSERT INTO readings_hourly_stale (hour) VALUES (time_bucket(interval '1 hour', NEW.time));
            RETURN NULL;
        END
        $fn$;
        CREATE TRIGGER readings_mark_stale AFTER UPDATE ON readings
            FOR EACH ROW EXECUTE FUNCTION readings_mark_stale();
        -- Ingest and the import call this with the hours of readings older than the refresh
        -- policy's look-back (store/batch.rs), in the transaction that stores them.
        CREATE FUNCTION readings_note_late(hours timestamptz[]) RETURNS void LANGUAGE sql AS $fn$
            INSERT INTO readings_hourly_stale (hour)
            SELECT DISTINCT time_bucket(interval '1 hour', h) FROM unnest(hours) AS h
        $fn$;
    ELSE
        -- The pending queue learns which series-hours a correction touched: the fold recomputes
        -- those from `readings` (sums, minima and maxima cannot be un-added), and adds the count
        -- deltas to readings_hourly_point.
        ALTER TABLE readings_hourly_pending ADD COLUMN recompute boolean NOT NULL DEFAULT false;

        -- Late readings need nothing here: the insert trigger pends them like any other.
        CREATE FUNCTION readings_note_late(hours timestamptz[]) RETURNS void LANGUAGE sql AS $fn$
            SELECT
        $fn$;

        CREATE FUNCTION readings_roll_up_changes() RETURNS trigger LANGUAGE plpgsql AS $fn$
        BEGIN
            INSERT INTO readings_hourly_pending
                (point_id, pollutant, hour, sum, min, max, count, valid_count, valid_sum, recompute)
            SELECT n.point_id, n.pollutant, date_trunc('hour', n.time, 'UTC'),
                   0, min(n.value), max(n.value), 0,
                   count(*) FILTER (WHERE n.flag = 'N') - count(*) FILTER (WHERE o.flag = 'N'),
                   0, true
            FROM old_rows o
            JOIN new_rows n ON n.point_id = o.point_id AND n.pollutant = o.pollutant
                           AND n.kind = o.kind AND n.time = o.time
            WHERE n.kind <> 'day'
            GROUP BY 1, 2, 3;
            RETURN NULL;
        END
        $fn$;
        CREATE TRIGGER readings_roll_up_changes AFTER UPDATE ON readings
            REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
            EXECUTE FUNCTION readings_roll_up_changes();

        -- The fold of 20261202000100, with one addition: a series-hour with a correction pending
        -- (recompute) is set from `readings` instead of added to. The fast path does it in the
        -- statement that takes the pending rows, so both see one snapshot: every reading counted
        -- by the recomputation has its pending rows taken by it, and every later reading's
        -- pending rows are added by a later fold. readings_hourly_point always takes the count
        -- deltas (a correction's count delta is 0, its valid delta -1, 0 or +1).
        CREATE OR REPLACE FUNCTION readings_hourly_fold() RETURNS bigint LANGUAGE plpgsql AS $fn$
        DECLARE
            folded bigint := 0;
            k record;
            r record;
        BEGIN
            PERFORM pg_advisory_xact_lock(hashtext('greenmon.readings_hourly_fold'));
            BEGIN
                WITH taken AS (
                    DELETE FROM readings_hourly_pending RETURNING *
                ), series AS (
                    SELECT point_id, pollutant, hour, sum(sum) AS sum, min(min) AS min,
                           max(max) AS max, sum(count)::bigint AS count,
                           sum(valid_count)::bigint AS valid_count, sum(valid_sum) AS valid_sum,
                           bool_or(recompute) AS recompute
                    FROM taken
                    GROUP BY point_id, pollutant, hour
                ), exact AS (
                    SELECT s.point_id, s.pollutant, s.hour, x.sum, x.min, x.max, x.count,
                           x.valid_count, x.valid_sum
                    FROM series s
                    CROSS JOIN LATERAL (
                        SELECT coalesce(sum(value), 0) AS sum, min(value) AS min,
                               max(value) AS max, count(*) AS count,
                               count(*) FILTER (WHERE flag = 'N') AS valid_count,
                               coalesce(sum(value) FILTER (WHERE flag = 'N'), 0) AS valid_sum
                        FROM readings
                        WHERE point_id = s.point_id AND pollutant = s.pollutant
                          AND kind <> 'day'
                          AND time >= s.hour AND time < s.hour + interval '1 hour'
                    ) x
                    WHERE s.recompute AND x.count > 0
                ), hourly AS (
                    INSERT INTO readings_hourly AS h
                        (point_id, pollutant, hour, sum, min, max, count, valid_count, valid_sum)
                    SELECT point_id, pollutant, hour, sum, min, max, count, valid_count, valid_sum
                    FROM series WHERE NOT recompute
                    ORDER BY point_id, pollutant, hour
                    ON CONFLICT (point_id, pollutant, hour) DO UPDATE SET
                        sum = h.sum + EXCLUDED.sum,
                        min = LEAST(h.min, EXCLUDED.min),
                        max = GREATEST(h.max, EXCLUDED.max),
                        count = h.count + EXCLUDED.count,
                        valid_count = h.valid_count + EXCLUDED.valid_count,
                        valid_sum = h.valid_sum + EXCLUDED.valid_sum
                ), hourly_exact AS (
                    INSERT INTO readings_hourly AS h
                        (point_id, pollutant, hour, sum, min, max, count, valid_count, valid_sum)
                    SELECT * FROM exact
                    ORDER BY point_id, pollutant, hour
                    ON CONFLICT (point_id, pollutant, hour) DO UPDATE SET
                        sum = EXCLUDED.sum, min = EXCLUDED.min, max = EXCLUDED.max,
                        count = EXCLUDED.count, valid_count = EXCLUDED.valid_count,
                        valid_sum = EXCLUDED.valid_sum
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
                NULL;
            END;

            -- One series-hour at a time (20261202000100). A recomputed series-hour takes, in its
            -- one statement, the pending rows that arrived since fold_taken was filled, so the
            -- recomputation and the pending rows it absorbs again share a snapshot.
            CREATE TEMP TABLE IF NOT EXISTS fold_taken
                (LIKE readings_hourly_pending) ON COMMIT DROP;
            TRUNCATE fold_taken;
            WITH taken AS (DELETE FROM readings_hourly_pending RETURNING *)
            INSERT INTO fold_taken SELECT * FROM taken;
            CREATE INDEX IF NOT EXISTS fold_taken_key ON fold_taken (point_id, pollutant, hour);
            ANALYZE fold_taken;
            FOR k IN SELECT point_id, pollutant, hour, bool_or(recompute) AS recompute
                     FROM fold_taken GROUP BY point_id, pollutant, hour
                     ORDER BY point_id, pollutant, hour LOOP
                BEGIN
                    IF k.recompute THEN
                        WITH late AS (
                            DELETE FROM readings_hourly_pending
                            WHERE point_id = k.point_id AND pollutant = k.pollutant
                              AND hour = k.hour
                            RETURNING count, valid_count
                        ), deltas AS (
                            SELECT coalesce(sum(count), 0)::bigint AS count,
                                   coalesce(sum(valid_count), 0)::bigint AS valid_count
                            FROM (SELECT count, valid_count FROM late
                                  UNION ALL
                                  SELECT count, valid_count FROM fold_taken
                                  WHERE point_id = k.point_id AND pollutant = k.pollutant
                                    AND hour = k.hour) d
                        ), x AS (
                            SELECT coalesce(sum(value), 0) AS sum, min(value) AS min,
                                   max(value) AS max, count(*) AS count,
                                   count(*) FILTER (WHERE flag = 'N') AS valid_count,
                                   coalesce(sum(value) FILTER (WHERE flag = 'N'), 0) AS valid_sum
                            FROM readings
                            WHERE point_id = k.point_id AND pollutant = k.pollutant
                              AND kind <> 'day'
                              AND time >= k.hour AND time < k.hour + interval '1 hour'
                        ), hourly AS (
                            INSERT INTO readings_hourly AS h
                                (point_id, pollutant, hour, sum, min, max, count, valid_count,
                                 valid_sum)
                            SELECT k.point_id, k.pollutant, k.hour, sum, min, max, count,
                                   valid_count, valid_sum
                            FROM x WHERE count > 0
                            ON CONFLICT (point_id, pollutant, hour) DO UPDATE SET
                                sum = EXCLUDED.sum, min = EXCLUDED.min, max = EXCLUDED.max,
                                count = EXCLUDED.count, valid_count = EXCLUDED.valid_count,
                                valid_sum = EXCLUDED.valid_sum
                        )
                        INSERT INTO readings_hourly_point AS p (point_id, hour, count, valid_count)
                        SELECT k.point_id, k.hour, count, valid_count FROM deltas
                        ON CONFLICT (point_id, hour) DO UPDATE SET
                            count = p.count + EXCLUDED.count,
                            valid_count = p.valid_count + EXCLUDED.valid_count;
                        SELECT coalesce(sum(count), 0)::bigint AS count INTO r
                        FROM fold_taken
                        WHERE point_id = k.point_id AND pollutant = k.pollutant AND hour = k.hour;
                        folded := folded + r.count;
                        CONTINUE;
                    END IF;
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

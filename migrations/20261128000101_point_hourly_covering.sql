-- One park's 30-day rates read 20 points × 720 hours of readings_hourly_point. The rows of one
-- point are one per page in a live table (each fold appends an hour of every point together), so
-- the primary-key scan fetched about 14,000 heap pages per report (BENCHMARKS.md, Compliance).
-- With count and valid_count in the index the scan is index-only, as it is on readings_hourly
-- (migration 5). On TimescaleDB readings_hourly_point is a view: nothing to do.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        CREATE INDEX readings_hourly_point_covering_idx ON readings_hourly_point (point_id, hour)
            INCLUDE (count, valid_count);
    END IF;
END
$$;

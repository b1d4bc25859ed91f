-- One point's hourly slots over a range (a park's 30-day report) read 20 points' hours through
-- this index instead of every park's hours through the hour index.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        CREATE INDEX readings_hourly_point_hour_idx ON readings_hourly (point_id, hour);
    ELSE
        CREATE INDEX readings_hourly_point_hour_idx ON readings_hourly (point_id, hour)
            INCLUDE (count, valid_count);
    END IF;
END
$$;

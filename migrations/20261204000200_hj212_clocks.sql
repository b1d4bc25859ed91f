-- Logger clocks (docs/hj212.md, "Logger clocks"): the last drift measured for each HJ 212 point,
-- which the clock_drift alert rule reads, and whether greenmon may set that logger's clock.

-- Set the logger's clock (CN 1012 SystemTime) when it drifts beyond alerts.rules.clock_drift
-- .limit_secs, and check it (CN 1011). Off unless the bureau enables it in the registry
-- (hj212_set_clock = true): some loggers take their time from a GPS or NTP source.
ALTER TABLE monitoring_points ADD COLUMN hj212_set_clock boolean NOT NULL DEFAULT false;

-- One row per point: the logger's clock minus greenmon's at the last measurement, from the
-- DataTime of its real-time data (CN 2011) as received, or from its answer to CN 1011.
CREATE TABLE hj212_clocks (
    point_id    text PRIMARY KEY REFERENCES monitoring_points (id) ON UPDATE CASCADE ON DELETE CASCADE,
    mn          text NOT NULL,
    drift_secs  double precision NOT NULL,
    -- datatime (real-time data) or 1011 (the logger's answer to a clock request).
    source      text NOT NULL CONSTRAINT hj212_clocks_source CHECK (source IN ('datatime', '1011')),
    measured_at timestamptz NOT NULL
);

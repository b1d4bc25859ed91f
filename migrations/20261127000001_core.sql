-- Core schema: registry, readings, energy reports, quarantine.
-- Forward-only: never edit once applied; add a new migration instead.

-- Parks under the bureau's supervision, with their energy-intensity baseline and target.
CREATE TABLE parks (
    id                 text PRIMARY KEY,              -- slug used in MQTT topics and the API
    name               text NOT NULL,                 -- official (Chinese) name
    name_en            text,
    baseline_year      integer NOT NULL DEFAULT 2015,
    baseline_intensity double precision NOT NULL      -- tce per 10,000 yuan in the baseline year
        CHECK (baseline_intensity > 0),
    target_year        integer NOT NULL DEFAULT 2020,
    target_reduction   double precision NOT NULL DEFAULT 0.20
        CHECK (target_reduction > 0 AND target_reduction < 1),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CHECK (target_year > baseline_year)
);

-- Monitoring points (sewage outlets, treatment-plant inlets and outlets).
CREATE TABLE monitoring_points (
    id            text PRIMARY KEY,                   -- unique across parks
    park_id       text NOT NULL REFERENCES parks (id) ON UPDATE CASCADE,
    name          text NOT NULL,
    kind          text NOT NULL
        CHECK (kind IN ('sewage_outlet', 'treatment_inlet', 'treatment_outlet', 'other')),
    mn            text UNIQUE,                        -- HJ 212 device id of its data logger
    required      boolean NOT NULL DEFAULT true,      -- counts towards the online monitoring rate
    interval_secs integer NOT NULL DEFAULT 60 CHECK (interval_secs BETWEEN 1 AND 86400),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX monitoring_points_park_idx ON monitoring_points (park_id);

-- Discharge limits per point and pollutant; lower is used for pH.
CREATE TABLE discharge_limits (
    point_id   text NOT NULL REFERENCES monitoring_points (id) ON DELETE CASCADE,
    pollutant  text NOT NULL,                         -- HJ 212-2017 code, e.g. w01018
    lower      double precision,
    upper      double precision,
    PRIMARY KEY (point_id, pollutant),
    CHECK (lower IS NOT NULL OR upper IS NOT NULL),
    CHECK (lower IS NULL OR upper IS NULL OR lower <= upper)
);

-- Online monitoring readings. The primary key makes MQTT redelivery idempotent
-- (INSERT ... ON CONFLICT DO NOTHING). No foreign key to monitoring_points: ingest checks the
-- registry per batch, and a per-row FK check would cost throughput on the hot path.
CREATE TABLE readings (
    time        timestamptz NOT NULL,                 -- sampling instant, or interval start
    point_id    text NOT NULL,
    pollutant   text NOT NULL,                        -- HJ 212-2017 code
    -- rtd: a sample (JSON, HJ 212 CN 2011); min/hour/day: interval statistics (CN 2051/2061/2031)
    kind        text NOT NULL DEFAULT 'rtd' CHECK (kind IN ('rtd', 'min', 'hour', 'day')),
    value       double precision NOT NULL,            -- the sample, or the interval average
    min         double precision,                     -- interval minimum, maximum, cumulative
    max         double precision,                     -- amount (Cou), when reported
    cou         double precision,
    flag        char(1) NOT NULL DEFAULT 'N',         -- HJ 212 data flag; only N is valid data
    received_at timestamptz NOT NULL DEFAULT now(),   -- commit time, for lag and late-data handling
    PRIMARY KEY (point_id, pollutant, kind, time)
);

-- Energy use and value added reported by each park per month, quarter or year.
CREATE TABLE energy_reports (
    park_id              text NOT NULL REFERENCES parks (id) ON UPDATE CASCADE,
    period               text NOT NULL,               -- 2018-03, 2018-Q1 or 2018
    period_kind          text NOT NULL CHECK (period_kind IN ('month', 'quarter', 'year')),
    period_start         date NOT NULL,               -- first local day of the period
    period_end           date NOT NULL,               -- day after the period's last day
    energy_tce           double precision NOT NULL CHECK (energy_tce >= 0),
    value_added_10k_yuan double precision NOT NULL CHECK (value_added_10k_yuan > 0),
    price_index          double precision NOT NULL DEFAULT 1 CHECK (price_index > 0),
    source               text NOT NULL DEFAULT 'mqtt', -- mqtt or api
    received_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (park_id, period)
);

-- Every message that could not be decoded or validated: kept with its raw bytes and a stable
-- reason code, so nothing published is ever silently lost.
CREATE TABLE quarantine (
    id          bigserial PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now(),
    source      text NOT NULL,                        -- mqtt or tcp
    topic       text NOT NULL,
    payload     bytea NOT NULL,
    reason      text NOT NULL,                        -- stable code, also a metric label
    detail      text NOT NULL,                        -- human-readable explanation
    -- A message redelivered after a crash between commit and ack must not be quarantined twice:
    -- one row per distinct (topic, payload).
    payload_sha256 bytea GENERATED ALWAYS AS (sha256(payload)) STORED,
    CONSTRAINT quarantine_message_key UNIQUE (topic, payload_sha256)
);
CREATE INDEX quarantine_reason_idx ON quarantine (reason, received_at);

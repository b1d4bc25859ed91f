-- Alerts: one open alert per key (rule + park + point + pollutant), every transition recorded in
-- alert_events, and notifications written to a transactional outbox in the same transaction as
-- the transition that caused them.

CREATE TABLE alerts (
    id               bigserial PRIMARY KEY,
    rule             text NOT NULL,                 -- point_offline, discharge_exceedance, ...
    park_id          text NOT NULL,
    point_id         text NOT NULL DEFAULT '',      -- '' for park-wide rules
    pollutant        text NOT NULL DEFAULT '',      -- '' unless the rule is per pollutant
    state            text NOT NULL CHECK (state IN ('pending', 'firing', 'resolved')),
    severity         text NOT NULL CHECK (severity IN ('info', 'warning', 'major', 'critical')),
    summary          text NOT NULL,                 -- English
    summary_zh       text NOT NULL,                 -- Chinese
    description      text NOT NULL,
    description_zh   text NOT NULL,
    value            double precision,              -- the measured value behind the alert
    threshold        double precision,              -- the limit it was compared with
    -- When the condition began (from the data where known: last valid reading, episode start).
    active_since     timestamptz NOT NULL,
    fired_at         timestamptz,
    -- When the condition was last seen clear while firing (resolve hysteresis); NULL while active.
    clear_since      timestamptz,
    resolved_at      timestamptz,
    last_notified_at timestamptz,
    escalated_at     timestamptz,
    acked_by         text,
    acked_at         timestamptz,
    ack_comment      text,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (state <> 'firing' OR fired_at IS NOT NULL),
    CHECK (state <> 'resolved' OR resolved_at IS NOT NULL)
);
-- At most one open (pending or firing) alert per key.
CREATE UNIQUE INDEX alerts_open_key ON alerts (rule, park_id, point_id, pollutant)
    WHERE state <> 'resolved';
CREATE INDEX alerts_park_idx ON alerts (park_id, state);
CREATE INDEX alerts_resolved_idx ON alerts (resolved_at) WHERE state = 'resolved';

-- Every transition and acknowledgement, in order.
CREATE TABLE alert_events (
    id        bigserial PRIMARY KEY,
    alert_id  bigint NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    at        timestamptz NOT NULL DEFAULT now(),
    -- pending, firing, renotified, escalated, acknowledged, resolved, cancelled
    kind      text NOT NULL,
    severity  text NOT NULL,
    actor     text,                                 -- who acknowledged
    detail    text NOT NULL DEFAULT ''
);
CREATE INDEX alert_events_alert_idx ON alert_events (alert_id, id);

-- Notifications to deliver: written with the transition, delivered by the leader's workers with
-- retry and capped exponential backoff, dead after the configured number of attempts.
CREATE TABLE notification_outbox (
    id              bigserial PRIMARY KEY,
    alert_id        bigint NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    event_id        bigint NOT NULL REFERENCES alert_events (id) ON DELETE CASCADE,
    receiver        text NOT NULL,                  -- alertmanager, or webhook:<name>
    payload         jsonb NOT NULL,                 -- the alert as it was at the transition
    status          text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz
);
CREATE INDEX notification_outbox_due_idx ON notification_outbox (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX notification_outbox_dead_idx ON notification_outbox (created_at)
    WHERE status = 'dead';

-- HJ 212 data loggers: per-device password and accepted CRC variants, and the record of split
-- packets whose parts did not all arrive.

-- Password (PW) the logger must send, when the bureau configured one; NULL = not checked.
ALTER TABLE monitoring_points ADD COLUMN hj212_password text;
-- CRC variants accepted from this logger: 'hj212' (the standard's), and for fleets that send
-- other CRCs, 'modbus' or 'modbus_swapped'.
ALTER TABLE monitoring_points ADD COLUMN hj212_crc_modes text[] NOT NULL DEFAULT '{hj212}';

-- A split upload (PNUM/PNO) whose parts did not all arrive before the reassembly timeout: the
-- parts received were stored; this records what is missing.
CREATE TABLE hj212_gaps (
    id           bigserial PRIMARY KEY,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    mn           text NOT NULL,
    cn           text NOT NULL,
    data_time    timestamptz,
    pnum         integer NOT NULL,
    received_pno integer[] NOT NULL
);

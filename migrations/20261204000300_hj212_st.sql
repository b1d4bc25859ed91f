-- The system code (ST) a point's HJ 212 logger must send, when the bureau registers one (e.g. 32,
-- wastewater pollution source); NULL = not checked. A packet with another ST is quarantined
-- (bad_st) and answered 9011 QnRtn=5 (HJ 212-2017 Table 7).
ALTER TABLE monitoring_points ADD COLUMN hj212_st text;

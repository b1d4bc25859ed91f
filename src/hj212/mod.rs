//! HJ 212-2017 (and HJ/T 212-2005) codec: framing, CRC, data segment, CP area, answers.
//! Pure: bytes in, packets out; no IO and no clock.

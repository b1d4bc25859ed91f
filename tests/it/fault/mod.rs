//! The fault suite: hostile and faulty input, one file per class. Each test proves that one bad
//! message, value, row, request or receiver is set aside with its reason while everything else
//! goes on (issue "No single message, logger, park or request can stop greenmon").

mod bad_params;
mod extreme_values;
mod full_queues;
mod migrations;
mod oversized;
mod park_isolation;
mod park_summary;
mod poison_rows;
mod receivers;
mod tokens;

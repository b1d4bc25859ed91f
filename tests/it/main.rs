//! Integration tests against real PostgreSQL and Mosquitto.

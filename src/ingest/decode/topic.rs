//! MQTT topic layout: `{prefix}/parks/{park}/points/{point}/readings`,
//! `{prefix}/parks/{park}/energy` and `{prefix}/parks/{park}/hj212`.

use super::DecodeError;
use crate::domain::{ParkId, PointId};

/// A parsed greenmon topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topic {
    Readings { park: ParkId, point: PointId },
    Energy { park: ParkId },
    Hj212 { park: ParkId },
}

/// Topic filters ingest subscribes to.
pub fn subscriptions(prefix: &str) -> Vec<String> {
    vec![
        format!("{prefix}/parks/+/points/+/readings"),
        format!("{prefix}/parks/+/energy"),
        format!("{prefix}/parks/+/hj212"),
    ]
}

impl Topic {
    /// # Errors
    /// [`DecodeError::InvalidTopic`] when the topic is not one of the layouts or an id is not a slug.
    pub fn parse(prefix: &str, topic: &str) -> Result<Self, DecodeError> {
        let invalid = || DecodeError::InvalidTopic(topic.to_string());
        let rest = topic
            .strip_prefix(prefix)
            .and_then(|r| r.strip_prefix('/'))
            .ok_or_else(invalid)?;
        let parts: Vec<&str> = rest.split('/').collect();
        let park = |s: &str| ParkId::parse(s).map_err(|e| DecodeError::InvalidTopic(e.to_string()));
        match parts.as_slice() {
            ["parks", p, "points", pt, "readings"] => Ok(Topic::Readings {
                park: park(p)?,
                point: PointId::parse(pt).map_err(|e| DecodeError::InvalidTopic(e.to_string()))?,
            }),
            ["parks", p, "energy"] => Ok(Topic::Energy { park: park(p)? }),
            ["parks", p, "hj212"] => Ok(Topic::Hj212 { park: park(p)? }),
            _ => Err(invalid()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts() {
        assert_eq!(
            Topic::parse("greenmon/v1", "greenmon/v1/parks/a/points/p1/readings").unwrap(),
            Topic::Readings {
                park: ParkId::parse("a").unwrap(),
                point: PointId::parse("p1").unwrap()
            }
        );
        assert_eq!(
            Topic::parse("t/x", "t/x/parks/a/energy").unwrap(),
            Topic::Energy {
                park: ParkId::parse("a").unwrap()
            }
        );
        for bad in [
            "greenmon/v1/parks/a/points/p1",
            "greenmon/v1/parks/A/energy",
            "other/parks/a/energy",
            "greenmon/v1x/parks/a/energy",
            "greenmon/v1/parks/a/points/p1/readings/extra",
        ] {
            let e = Topic::parse("greenmon/v1", bad).unwrap_err();
            assert_eq!(e.code(), "invalid_topic", "{bad}");
        }
    }
}

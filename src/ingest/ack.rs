//! Acknowledgements that reach the broker only for the connection the message came on.
//!
//! Every connection is a *generation*. A token records the generation of its message. When the
//! connection fails, [`AckGate::invalidate`] starts a new generation and removes every PUBACK
//! still queued inside rumqttc (under the same lock the committer acks under), so a PUBACK from
//! an old connection can never be sent on a new one, where its packet id may name a different
//! message. The broker redelivers those messages; `ON CONFLICT DO NOTHING` absorbs them.
//!
//! A PUBACK is never dropped for lack of room: when rumqttc's request channel is full the
//! committer waits for the event loop to drain it, which is backpressure on the committer.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use rumqttc::{AsyncClient, EventLoop, Publish, QoS, Request};

use crate::telemetry::Metrics;

/// Proof that a message was received, to be turned into a PUBACK after commit.
#[derive(Debug)]
pub struct AckToken {
    generation: u64,
    pkid: u16,
    qos: QoS,
}

/// Shared by the MQTT task (which invalidates) and the committer (which acks).
pub struct AckGate {
    generation: Mutex<u64>,
    client: AsyncClient,
    metrics: Metrics,
    /// Set when the MQTT task has ended: nothing can be acked any more.
    closed: AtomicBool,
}

impl AckGate {
    pub fn new(client: AsyncClient, metrics: Metrics) -> Self {
        Self {
            generation: Mutex::new(0),
            client,
            metrics,
            closed: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, u64> {
        // A poisoned lock only means a panic elsewhere; the counter itself is always valid.
        self.generation.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A token for a publish received on the current connection.
    pub fn token(&self, publish: &Publish) -> AckToken {
        self.metrics.unacked.inc();
        AckToken {
            generation: *self.lock(),
            pkid: publish.pkid,
            qos: publish.qos,
        }
    }

    /// Queues PUBACKs for the tokens in the order given (receive order), waiting while rumqttc's
    /// request channel is full. Tokens of an earlier connection are dropped instead.
    pub async fn ack(&self, tokens: Vec<AckToken>) {
        let mut tokens: VecDeque<AckToken> = tokens.into();
        while !tokens.is_empty() {
            {
                let generation = self.lock();
                while let Some(t) = tokens.front() {
                    if t.generation != *generation || self.closed.load(Ordering::Relaxed) {
                        self.metrics.mqtt_acks_dropped.inc();
                    } else if t.qos != QoS::AtMostOnce {
                        let mut p = Publish::new("", t.qos, Vec::new());
                        p.pkid = t.pkid;
                        if self.client.try_ack(&p).is_err() {
                            break; // full: wait below, without holding the lock
                        }
                        self.metrics.mqtt_acked.inc();
                    }
                    tokens.pop_front();
                    self.metrics.unacked.dec();
                }
            }
            if !tokens.is_empty() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }

    /// Called by the MQTT task after the connection failed: starts a new generation and drops
    /// every PUBACK still queued for the old connection.
    pub fn invalidate(&self, eventloop: &mut EventLoop) {
        let mut generation = self.lock();
        *generation += 1;
        // Move requests still in rumqttc's channel into `pending`, then drop the PUBACKs there.
        eventloop.clean();
        let before = eventloop.pending.len();
        eventloop
            .pending
            .retain(|r| !matches!(r, Request::PubAck(_)));
        let dropped = before - eventloop.pending.len();
        if dropped > 0 {
            self.metrics.mqtt_acks_dropped.inc_by(dropped as u64);
        }
    }

    /// Called when the MQTT task ends: outstanding and future acks are dropped (the broker
    /// redelivers those messages to the next session).
    pub fn close(&self) {
        let _generation = self.lock();
        self.closed.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rumqttc::MqttOptions;

    use super::*;

    /// A gate on a client that never connects: its requests stay in the event loop's channel,
    /// where `sent` reads them.
    fn gate(cap: usize) -> (AckGate, EventLoop, Metrics) {
        let (client, eventloop) =
            AsyncClient::new(MqttOptions::new("ack-test", "127.0.0.1", 1883), cap);
        let metrics = Metrics::new();
        (AckGate::new(client, metrics.clone()), eventloop, metrics)
    }

    fn publish(pkid: u16, qos: QoS) -> Publish {
        let mut p = Publish::new("t", qos, Vec::new());
        p.pkid = pkid;
        p
    }

    /// The packet ids of the PUBACKs queued so far, in queue order; other requests are kept.
    fn sent(eventloop: &mut EventLoop) -> Vec<u16> {
        eventloop.clean();
        let mut out = Vec::new();
        eventloop.pending.retain(|r| match r {
            Request::PubAck(a) => {
                out.push(a.pkid);
                false
            }
            _ => true,
        });
        out
    }

    #[derive(Debug, Clone, Copy)]
    enum Op {
        /// A publish arrives with this packet id and QoS; its token is the next index.
        Receive(u16, QoS),
        /// The committer acks these tokens (by receive index), in this order.
        Ack(&'static [usize]),
        /// The connection failed.
        Invalidate,
        /// The MQTT task ended.
        Close,
    }

    use Op::*;
    const Q1: QoS = QoS::AtLeastOnce;

    struct Case {
        name: &'static str,
        ops: &'static [Op],
        /// PUBACK packet ids that reach the broker, in order.
        sent: &'static [u16],
        acked: u64,
        dropped: u64,
    }

    const CASES: &[Case] = &[
        Case {
            name: "acks go out in the order given (receive order)",
            ops: &[
                Receive(7, Q1),
                Receive(3, Q1),
                Receive(9, Q1),
                Ack(&[0, 1, 2]),
            ],
            sent: &[7, 3, 9],
            acked: 3,
            dropped: 0,
        },
        Case {
            name: "two batches keep their order",
            ops: &[
                Receive(1, Q1),
                Receive(2, Q1),
                Receive(3, Q1),
                Ack(&[0, 1]),
                Ack(&[2]),
            ],
            sent: &[1, 2, 3],
            acked: 3,
            dropped: 0,
        },
        Case {
            name: "a token of an older connection is dropped, not acked",
            ops: &[Receive(5, Q1), Invalidate, Receive(5, Q1), Ack(&[0, 1])],
            sent: &[5],
            acked: 1,
            dropped: 1,
        },
        Case {
            name: "every reconnect starts a generation",
            ops: &[
                Receive(1, Q1),
                Invalidate,
                Receive(2, Q1),
                Invalidate,
                Receive(3, Q1),
                Ack(&[0, 1, 2]),
            ],
            sent: &[3],
            acked: 1,
            dropped: 2,
        },
        Case {
            name: "invalidate removes PUBACKs still queued for the old connection",
            ops: &[Receive(1, Q1), Receive(2, Q1), Ack(&[0, 1]), Invalidate],
            sent: &[],
            acked: 2,
            dropped: 2,
        },
        Case {
            name: "after invalidate, the new connection's acks go out",
            ops: &[
                Receive(1, Q1),
                Ack(&[0]),
                Invalidate,
                Receive(1, Q1),
                Ack(&[1]),
            ],
            sent: &[1],
            acked: 2,
            dropped: 1,
        },
        Case {
            name: "QoS 0 needs no PUBACK and is neither acked nor dropped",
            ops: &[Receive(0, QoS::AtMostOnce), Receive(4, Q1), Ack(&[0, 1])],
            sent: &[4],
            acked: 1,
            dropped: 0,
        },
        Case {
            name: "after close nothing is acked",
            ops: &[Receive(1, Q1), Receive(2, Q1), Ack(&[0]), Close, Ack(&[1])],
            sent: &[1],
            acked: 1,
            dropped: 1,
        },
        Case {
            name: "tokens taken before close are dropped too",
            ops: &[Receive(1, Q1), Close, Receive(2, Q1), Ack(&[0, 1])],
            sent: &[],
            acked: 0,
            dropped: 2,
        },
    ];

    #[tokio::test]
    async fn ack_gate_cases() {
        for case in CASES {
            let (gate, mut eventloop, metrics) = gate(16);
            let mut tokens: Vec<Option<AckToken>> = Vec::new();
            for op in case.ops {
                match *op {
                    Receive(pkid, qos) => tokens.push(Some(gate.token(&publish(pkid, qos)))),
                    Ack(which) => {
                        let batch = which
                            .iter()
                            .map(|&i| tokens[i].take().expect("each token is acked once"))
                            .collect();
                        gate.ack(batch).await;
                    }
                    Invalidate => gate.invalidate(&mut eventloop),
                    Close => gate.close(),
                }
            }
            let name = case.name;
            assert_eq!(sent(&mut eventloop), case.sent, "{name}: PUBACKs sent");
            assert_eq!(metrics.mqtt_acked.get(), case.acked, "{name}: acked");
            assert_eq!(
                metrics.mqtt_acks_dropped.get(),
                case.dropped,
                "{name}: dropped"
            );
            let outstanding = tokens.iter().filter(|t| t.is_some()).count();
            assert_eq!(
                metrics.unacked.get(),
                i64::try_from(outstanding).unwrap(),
                "{name}: unacked"
            );
        }
    }

    #[tokio::test]
    async fn invalidate_keeps_requests_other_than_pubacks() {
        let (client, mut eventloop) =
            AsyncClient::new(MqttOptions::new("ack-test", "127.0.0.1", 1883), 16);
        let gate = AckGate::new(client.clone(), Metrics::new());
        let token = gate.token(&publish(1, Q1));
        client.try_subscribe("a/#", Q1).unwrap();
        gate.ack(vec![token]).await;
        gate.invalidate(&mut eventloop);
        assert!(matches!(
            eventloop.pending.iter().collect::<Vec<_>>()[..],
            [Request::Subscribe(_)]
        ));
    }

    /// A full request channel is backpressure: the committer waits for room, and nothing is
    /// dropped or reordered.
    #[tokio::test]
    async fn a_full_channel_delays_acks_without_losing_or_reordering_them() {
        let (gate, mut eventloop, metrics) = gate(1);
        let gate = Arc::new(gate);
        let tokens: Vec<AckToken> = (1..=5).map(|p| gate.token(&publish(p, Q1))).collect();
        let acking = tokio::spawn({
            let gate = gate.clone();
            async move { gate.ack(tokens).await }
        });
        let mut got = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), async {
            while got.len() < 5 {
                got.extend(sent(&mut eventloop));
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("every ack gets through");
        acking.await.unwrap();
        assert_eq!(got, [1, 2, 3, 4, 5]);
        assert_eq!(metrics.mqtt_acked.get(), 5);
        assert_eq!(metrics.mqtt_acks_dropped.get(), 0);
        assert_eq!(metrics.unacked.get(), 0);
    }
}

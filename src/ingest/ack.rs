//! Acknowledgements that reach the broker only for the connection the message came on, and
//! reach it as fast as the committer makes them.
//!
//! The committer hands each committed message's token to an [`AckSender`]; the MQTT task, which
//! owns rumqttc's event loop, takes them from its [`AckLedger`] and writes their PUBACKs straight
//! into the connection's write buffer, in receive order. rumqttc writes one request per turn of
//! its event loop while it reads up to ten messages per turn, so PUBACKs sent as requests fall
//! behind a broker that delivers a backlog faster than that (Mosquitto does, past its in-flight
//! window); here every PUBACK queued goes out with the next write. The last one of each take goes
//! through the event loop's queue of pending requests, so that a write happens even when the
//! broker sends nothing.
//!
//! Every connection is a *generation*. A token records the generation of its message. When the
//! connection fails, [`AckLedger::invalidate`] starts a new generation and drops the PUBACKs not
//! yet written, so a PUBACK from an old connection can never be sent on a new one, where its
//! packet id may name a different message. The broker redelivers those messages; the primary key
//! absorbs them.
//!
//! The queue between them holds `ingest.ack_queue` tokens; the committer waits when it is full.
//! The MQTT task takes tokens whenever it waits (for the broker, for room in its own queue, for a
//! reconnect), so that wait is short and never circular.

use rumqttc::{EventLoop, PubAck, Publish, QoS, Request};
use tokio::sync::mpsc;

use crate::telemetry::Metrics;

/// Proof that a message was received, to be turned into a PUBACK after commit.
#[derive(Debug)]
pub struct AckToken {
    generation: u64,
    pkid: u16,
    qos: QoS,
}

/// A queue of `capacity` tokens from the committer to the MQTT task.
pub fn channel(capacity: usize, metrics: Metrics) -> (AckSender, AckLedger) {
    let (tx, rx) = mpsc::channel(capacity);
    (
        AckSender {
            tx,
            metrics: metrics.clone(),
        },
        AckLedger {
            generation: 0,
            rx,
            metrics,
        },
    )
}

/// The committer's end.
#[derive(Clone)]
pub struct AckSender {
    tx: mpsc::Sender<AckToken>,
    metrics: Metrics,
}

impl AckSender {
    /// Queues the tokens in the order given (receive order), waiting while the queue is full.
    /// Once the MQTT task has ended they are dropped: the broker redelivers those messages to
    /// the next session.
    pub async fn ack(&self, tokens: Vec<AckToken>) {
        for token in tokens {
            if self.tx.send(token).await.is_err() {
                self.metrics.mqtt_acks_dropped.inc();
                self.metrics.unacked.dec();
            }
        }
    }
}

/// The MQTT task's end: hands out tokens and writes their PUBACKs.
pub struct AckLedger {
    generation: u64,
    rx: mpsc::Receiver<AckToken>,
    metrics: Metrics,
}

impl AckLedger {
    /// A token for a publish received on the current connection.
    pub fn token(&self, publish: &Publish) -> AckToken {
        self.metrics.unacked.inc();
        AckToken {
            generation: self.generation,
            pkid: publish.pkid,
            qos: publish.qos,
        }
    }

    /// Waits until the committer queued at least one token, and takes what is queued; never
    /// returns once no more can come. Cancel safe: nothing is taken unless it returns.
    pub async fn recv(&mut self, tokens: &mut Vec<AckToken>) {
        if self.rx.recv_many(tokens, usize::MAX).await == 0 {
            std::future::pending::<()>().await;
        }
    }

    /// Takes what the committer queued, without waiting, and writes it.
    pub fn take(&mut self, eventloop: &mut EventLoop) {
        let mut tokens = Vec::new();
        while let Ok(token) = self.rx.try_recv() {
            tokens.push(token);
        }
        self.write(eventloop, tokens);
    }

    /// Writes the PUBACKs of tokens of the current connection, after any still pending, in
    /// order: into rumqttc's write buffer, the last through its pending requests (which makes
    /// the event loop write even when nothing arrives). Tokens of an earlier connection are
    /// dropped instead.
    pub fn write(&self, eventloop: &mut EventLoop, tokens: Vec<AckToken>) {
        // A PUBACK left pending by the last call goes first.
        let mut pkids = Vec::new();
        eventloop.pending.retain(|r| match r {
            Request::PubAck(a) => {
                pkids.push(a.pkid);
                false
            }
            _ => true,
        });
        for t in tokens {
            self.metrics.unacked.dec();
            if t.generation != self.generation {
                self.metrics.mqtt_acks_dropped.inc();
            } else if t.qos != QoS::AtMostOnce {
                pkids.push(t.pkid);
                self.metrics.mqtt_acked.inc();
            }
        }
        let Some((last, rest)) = pkids.split_last() else {
            return;
        };
        for &pkid in rest {
            // Cannot fail: only a remaining length above 256 MiB does, and a PUBACK's is 2.
            if let Err(e) = PubAck::new(pkid).write(&mut eventloop.state.write) {
                tracing::error!(error = %e, pkid, "Cannot write a PUBACK; the broker redelivers the message on the next connection.");
            }
        }
        eventloop
            .pending
            .push_back(Request::PubAck(PubAck::new(*last)));
    }

    /// Called by the MQTT task after the connection failed: starts a new generation and drops
    /// every PUBACK not yet written for the old connection.
    pub fn invalidate(&mut self, eventloop: &mut EventLoop) {
        self.generation += 1;
        // Drops the network connection and the write buffer, and moves requests still in
        // rumqttc's channel into `pending`; then drop the PUBACKs there.
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

    /// Called when the MQTT task ends: the tokens queued and any queued later are dropped (the
    /// broker redelivers those messages to the next session).
    pub fn close(&mut self) {
        self.rx.close();
        while let Ok(_token) = self.rx.try_recv() {
            self.metrics.mqtt_acks_dropped.inc();
            self.metrics.unacked.dec();
        }
    }
}

#[cfg(test)]
mod tests {
    use rumqttc::{AsyncClient, MqttOptions};

    use super::*;

    /// A ledger and an event loop that never connects: what it would write stays in its write
    /// buffer and its pending requests, where `sent` reads it.
    fn ledger(cap: usize) -> (AckSender, AckLedger, EventLoop, Metrics) {
        let (_client, eventloop) =
            AsyncClient::new(MqttOptions::new("ack-test", "127.0.0.1", 1883), 16);
        let metrics = Metrics::new();
        let (sender, ledger) = channel(cap, metrics.clone());
        (sender, ledger, eventloop, metrics)
    }

    fn publish(pkid: u16, qos: QoS) -> Publish {
        let mut p = Publish::new("t", qos, Vec::new());
        p.pkid = pkid;
        p
    }

    /// The packet ids of the PUBACKs written so far and still pending, in the order they go
    /// out; takes them, and keeps other requests.
    fn sent(eventloop: &mut EventLoop) -> Vec<u16> {
        let written = eventloop.state.write.split();
        let mut out: Vec<u16> = written
            .chunks(4)
            .map(|frame| {
                assert_eq!(frame[..2], [0x40, 0x02], "a PUBACK frame");
                u16::from_be_bytes([frame[2], frame[3]])
            })
            .collect();
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
        /// The committer acks these tokens (by receive index), in this order, and the MQTT task
        /// takes them.
        Ack(&'static [usize]),
        /// The connection failed.
        Invalidate,
        /// The MQTT task ended.
        Close,
        /// The event loop wrote what it had.
        Flush,
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
            name: "two batches keep their order, the pending one first",
            ops: &[
                Receive(1, Q1),
                Receive(2, Q1),
                Receive(3, Q1),
                Receive(4, Q1),
                Ack(&[0, 1]),
                Ack(&[2, 3]),
            ],
            sent: &[1, 2, 3, 4],
            acked: 4,
            dropped: 0,
        },
        Case {
            name: "batches written apart keep their order",
            ops: &[
                Receive(1, Q1),
                Receive(2, Q1),
                Receive(3, Q1),
                Ack(&[0, 1]),
                Flush,
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
            name: "invalidate drops the PUBACKs not yet written out",
            ops: &[Receive(1, Q1), Receive(2, Q1), Ack(&[0, 1]), Invalidate],
            sent: &[],
            acked: 2,
            dropped: 1,
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
    ];

    #[tokio::test]
    async fn ack_cases() {
        for case in CASES {
            let (sender, mut ledger, mut eventloop, metrics) = ledger(16);
            let mut tokens: Vec<Option<AckToken>> = Vec::new();
            let mut got = Vec::new();
            for op in case.ops {
                match *op {
                    Receive(pkid, qos) => tokens.push(Some(ledger.token(&publish(pkid, qos)))),
                    Ack(which) => {
                        let batch = which
                            .iter()
                            .map(|&i| tokens[i].take().expect("each token is acked once"))
                            .collect();
                        sender.ack(batch).await;
                        ledger.take(&mut eventloop);
                    }
                    Invalidate => ledger.invalidate(&mut eventloop),
                    Close => ledger.close(),
                    Flush => got.extend(sent(&mut eventloop)),
                }
            }
            got.extend(sent(&mut eventloop));
            let name = case.name;
            assert_eq!(got, case.sent, "{name}: PUBACKs sent");
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
        let (sender, mut ledger) = channel(16, Metrics::new());
        let token = ledger.token(&publish(1, Q1));
        client.try_subscribe("a/#", Q1).unwrap();
        sender.ack(vec![token]).await;
        ledger.take(&mut eventloop);
        ledger.invalidate(&mut eventloop);
        assert!(matches!(
            eventloop.pending.iter().collect::<Vec<_>>()[..],
            [Request::Subscribe(_)]
        ));
        assert!(eventloop.state.write.is_empty());
    }

    /// Ten thousand PUBACKs take one write, not ten thousand turns of the event loop.
    #[tokio::test]
    async fn a_backlog_of_acks_is_written_at_once() {
        let (sender, mut ledger, mut eventloop, _metrics) = ledger(10_000);
        let tokens: Vec<AckToken> = (1..=10_000)
            .map(|p| ledger.token(&publish(p, Q1)))
            .collect();
        sender.ack(tokens).await;
        ledger.take(&mut eventloop);
        assert_eq!(eventloop.state.write.len(), 9_999 * 4);
        assert_eq!(
            eventloop.pending.len(),
            1,
            "one request makes the event loop write"
        );
        assert_eq!(sent(&mut eventloop), (1..=10_000).collect::<Vec<u16>>());
    }

    /// A full queue is backpressure: the committer waits for room, and nothing is dropped or
    /// reordered.
    #[tokio::test]
    async fn a_full_queue_delays_acks_without_losing_or_reordering_them() {
        let (sender, mut ledger, mut eventloop, metrics) = ledger(1);
        let tokens: Vec<AckToken> = (1..=5).map(|p| ledger.token(&publish(p, Q1))).collect();
        let acking = tokio::spawn(async move { sender.ack(tokens).await });
        let mut got = Vec::new();
        let mut buf = Vec::new();
        tokio::time::timeout(std::time::Duration::from_secs(10), async {
            while got.len() < 5 {
                ledger.recv(&mut buf).await;
                ledger.write(&mut eventloop, std::mem::take(&mut buf));
                got.extend(sent(&mut eventloop));
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

//! Receivers that refuse or fail: a 4xx (other than 408 and 429) is dead-lettered at once with
//! its status and body; a 5xx is retried.

use std::time::Duration;

use crate::alerts::{only_rules, publish_cod_exceedance, Receiver};
use crate::helpers::{eventually, TestApp};

#[tokio::test]
async fn a_4xx_is_dead_lettered_at_once_and_a_5xx_retried() {
    let receiver = Receiver::start(&[("flaky", 2)]).await;
    let hooks = vec![receiver.webhook("reject"), receiver.webhook("flaky")];
    let mut app = TestApp::spawn_with(1883, |s| {
        only_rules(s, &["discharge_exceedance"]);
        s.alerts.webhooks = hooks;
        s.alerts.delivery.retry_initial_ms = 100;
        s.alerts.delivery.retry_max_ms = 200;
        s.alerts.delivery.max_attempts = 5;
    })
    .await;
    publish_cod_exceedance(&app).await;

    let (attempts, error): (i32, String) = eventually(
        Duration::from_secs(30),
        "the refused notification dead-lettered",
        || async {
            sqlx::query_as(
                "SELECT attempts, last_error FROM notification_outbox
                 WHERE receiver = 'webhook:reject' AND status = 'dead'",
            )
            .fetch_optional(&app.db.pool)
            .await
            .unwrap()
        },
    )
    .await;
    assert_eq!(attempts, 1, "a 400 is not retried");
    assert!(error.contains("400 Bad Request"), "{error}");
    assert_eq!(receiver.requests("reject").len(), 1);

    // The 503s were retried, and the third attempt delivered.
    eventually(
        Duration::from_secs(30),
        "the flaky receiver's success",
        || async { (receiver.requests("flaky").len() == 3).then_some(()) },
    )
    .await;
    eventually(Duration::from_secs(10), "the delivery recorded", || async {
        let m = app.metrics().await;
        let delivered = crate::helpers::metric_value(
            &m,
            r#"greenmon_notifications_total{notifier="webhook",outcome="delivered"}"#,
        );
        (delivered == 1.0).then_some(())
    })
    .await;
    app.shutdown().await;
}

//! Writes to `quarantine`: the raw message, its topic and a stable reason code. An identical
//! message (same topic and bytes) is kept once, so redelivery after a crash adds nothing.

use super::batch::BatchItem;
use super::StoreError;

/// Inserts one quarantine row per rejected message.
///
/// # Errors
/// Database errors.
pub(super) async fn insert(
    tx: &mut sqlx::PgConnection,
    rejected: &[(&BatchItem, &'static str, String)],
) -> Result<(), StoreError> {
    let source: Vec<&str> = rejected.iter().map(|(i, _, _)| i.source).collect();
    let topic: Vec<&str> = rejected.iter().map(|(i, _, _)| i.topic.as_str()).collect();
    let payload: Vec<&[u8]> = rejected
        .iter()
        .map(|(i, _, _)| i.payload.as_ref())
        .collect();
    let reason: Vec<&str> = rejected.iter().map(|(_, r, _)| *r).collect();
    let detail: Vec<&str> = rejected.iter().map(|(_, _, d)| d.as_str()).collect();
    sqlx::query(
        "INSERT INTO quarantine (source, topic, payload, reason, detail)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::bytea[], $4::text[], $5::text[])
         ON CONFLICT ON CONSTRAINT quarantine_message_key DO NOTHING",
    )
    .bind(&source)
    .bind(&topic)
    .bind(&payload)
    .bind(&reason)
    .bind(&detail)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

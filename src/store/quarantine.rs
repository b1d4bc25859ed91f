//! Writes to `quarantine`: the raw message, its topic and a stable reason code. An identical
//! message (same topic and bytes) is kept once, so redelivery after a crash adds nothing.

use super::StoreError;

/// One rejected message, as it goes into `quarantine`.
pub(super) struct Rejected<'a> {
    /// `mqtt` or `tcp`.
    pub source: &'a str,
    pub topic: &'a str,
    pub payload: &'a [u8],
    /// The stable reason code.
    pub reason: &'a str,
    /// What exactly was wrong, for the operator.
    pub detail: &'a str,
}

/// Inserts one quarantine row per rejected message.
///
/// # Errors
/// Database errors.
pub(super) async fn insert(
    tx: &mut sqlx::PgConnection,
    rejected: &[Rejected<'_>],
) -> Result<(), StoreError> {
    let source: Vec<&str> = rejected.iter().map(|r| r.source).collect();
    // PostgreSQL text cannot hold NUL: a topic or detail that quotes one keeps a visible mark.
    let topic: Vec<std::borrow::Cow<'_, str>> = rejected.iter().map(|r| text(r.topic)).collect();
    let payload: Vec<&[u8]> = rejected.iter().map(|r| r.payload).collect();
    let reason: Vec<&str> = rejected.iter().map(|r| r.reason).collect();
    let detail: Vec<std::borrow::Cow<'_, str>> = rejected.iter().map(|r| text(r.detail)).collect();
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

/// `s` as PostgreSQL text can hold it: NUL bytes become U+FFFD.
fn text(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains('\0') {
        std::borrow::Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

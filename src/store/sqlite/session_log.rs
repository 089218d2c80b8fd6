use crate::store::SessionLog;
use anyhow::Context;
use sqlx::SqliteConnection;

pub async fn insert_session_log(conn: &mut SqliteConnection, log: &SessionLog) -> anyhow::Result<()> {
    crate::store::statements::insert_session_log::<sqlx::Sqlite>(log)
        .build()
        .execute(&mut *conn)
        .await
        .context("logging a session request")?;
    Ok(())
}

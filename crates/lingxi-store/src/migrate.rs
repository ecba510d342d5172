//! Schema migrations: numbered SQL files embedded in the binary, applied in order inside
//! one transaction each, recorded in `schema_migrations`.

use crate::Result;
use sqlx::{AnyPool, Row};

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_init.sql")),
    (2, include_str!("../migrations/0002_bot.sql")),
    (3, include_str!("../migrations/0003_workspace.sql")),
    (5, include_str!("../migrations/0005_widget.sql")),
    (6, include_str!("../migrations/0006_routing.sql")),
    (4, include_str!("../migrations/0004_knowledge.sql")),
    (7, include_str!("../migrations/0007_tools.sql")),
    (8, include_str!("../migrations/0008_learn.sql")),
    (9, include_str!("../migrations/0009_embeddings.sql")),
    (10, include_str!("../migrations/0010_nlu.sql")),
    (11, include_str!("../migrations/0011_feedback.sql")),
    (12, include_str!("../migrations/0012_message_intents.sql")),
    (13, include_str!("../migrations/0013_rating_gaps.sql")),
    (14, include_str!("../migrations/0014_answered_by.sql")),
];

pub(crate) async fn run(pool: &AnyPool) -> Result<Vec<i64>> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .execute(pool)
    .await?;
    let rows = sqlx::query("SELECT version FROM schema_migrations").fetch_all(pool).await?;
    let done: Vec<i64> = rows.iter().map(|r| r.try_get::<i64, _>(0)).collect::<Result<_, _>>()?;
    let mut applied = Vec::new();
    for (version, sql) in MIGRATIONS {
        if done.contains(version) {
            continue;
        }
        let mut tx = pool.begin().await?;
        for stmt in split_statements(sql) {
            sqlx::query(&stmt).execute(&mut *tx).await?;
        }
        sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
            .bind(*version)
            .bind(crate::codec::now_millis())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        applied.push(*version);
    }
    Ok(applied)
}

/// Splits a migration into statements, dropping `--` comments. Migrations contain no
/// string literals with semicolons, which keeps this simple and correct for our files.
fn split_statements(sql: &str) -> Vec<String> {
    let without_comments: String =
        sql.lines().map(|l| l.split("--").next().unwrap_or("")).collect::<Vec<_>>().join("\n");
    without_comments.split(';').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

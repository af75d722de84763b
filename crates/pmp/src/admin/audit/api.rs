//! `GET /api/v1/audit` (search by actor, action, time and text) and
//! `GET /api/v1/audit/export?format=jsonl|csv`, both for `audit.view` on `/`. CSV cells that
//! a spreadsheet would read as a formula (`=`, `+`, `-`, `@`, tab, CR) are neutralised; every
//! field but the time is client- or user-supplied text.

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::access::Privilege;
use crate::access::routes::{Access, Routes};
use crate::audit::events::{self, EVENT_COLUMNS, Event, Kind, Subject};
use crate::http::AppError;
use crate::identity::principal::Principal;
use crate::inventory::InventoryState;
use crate::with_pool;
use axum::extract::FromRef;

/// Audit routes.
pub fn routes<S>() -> Routes<S>
where
    S: Clone + Send + Sync + 'static,
    InventoryState: FromRef<S>,
{
    let view = Access::Privilege(Privilege::AuditView);
    Routes::new()
        .add("/api/v1/audit", &["GET"], view, get(search))
        .add("/api/v1/audit/export", &["GET"], view, get(export))
}

/// What to search for.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Filter {
    /// A user id or username (a failed sign-in knows only the name typed).
    #[serde(default)]
    pub actor: Option<String>,
    /// An event kind (`login.failed`, `guest.action`, ...).
    #[serde(default)]
    pub action: Option<String>,
    /// Unix seconds, inclusive.
    #[serde(default)]
    pub from: Option<i64>,
    #[serde(default)]
    pub to: Option<i64>,
    /// An access path: entries on it or below it.
    #[serde(default)]
    pub target: Option<String>,
    /// Text the detail contains.
    #[serde(default)]
    pub q: Option<String>,
    #[serde(default)]
    pub limit: Option<i64>,
    /// `jsonl` or `csv` (export only).
    #[serde(default)]
    pub format: Option<String>,
}

/// The newest entries matching `f`, at most `cap`.
pub(crate) async fn select(
    state: &InventoryState,
    f: &Filter,
    cap: i64,
) -> Result<Vec<Event>, AppError> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM security_events \
        WHERE ($1 IS NULL OR user_id = $1 OR username = $1) AND ($2 IS NULL OR kind = $2) AND ($3 IS NULL OR at >= $3) \
        AND ($4 IS NULL OR at <= $4) AND ($5 IS NULL OR detail LIKE $5) \
        AND ($7 IS NULL OR target = $7 OR target LIKE $8) ORDER BY id DESC LIMIT $6"
    );
    // The text is matched literally: LIKE's own wildcards in it are escaped away.
    let pattern =
        f.q.as_deref()
            .map(|q| format!("%{}%", q.replace(['%', '_'], "")));
    let limit = f.limit.unwrap_or(cap).clamp(1, cap);
    let rows = with_pool!(&state.db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(f.actor.as_deref())
        .bind(f.action.as_deref())
        .bind(f.from)
        .bind(f.to)
        .bind(pattern)
        .bind(limit)
        .bind(f.target.as_deref())
        .bind(f.target.as_deref().map(|t| format!("{}/%", t.replace(['%', '_'], ""))))
        .fetch_all(pool)
        .await
        .map_err(AppError::internal)?);
    Ok(rows)
}

async fn search(
    State(state): State<InventoryState>,
    Query(f): Query<Filter>,
) -> Result<Response, AppError> {
    if f.format.is_some() {
        return Err(AppError::BadRequest(
            "format is for /api/v1/audit/export".to_owned(),
        ));
    }
    Ok(axum::Json(select(&state, &f, 500).await?).into_response())
}

/// A CSV cell: quoted, with a leading `'` where a spreadsheet would start a formula.
fn cell(text: &str) -> String {
    let neutral = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    format!("\"{}\"", neutral.replace('"', "\"\""))
}

async fn export(
    State(state): State<InventoryState>,
    principal: Principal,
    Query(f): Query<Filter>,
) -> Result<Response, AppError> {
    let csv = match f.format.as_deref().unwrap_or("jsonl") {
        "jsonl" => false,
        "csv" => true,
        _ => return Err(AppError::BadRequest("format is jsonl or csv".to_owned())),
    };
    let rows = select(&state, &f, 100_000).await?;
    // Who took a copy of the trail, and how much of it, is itself part of the trail.
    let detail = format!(
        "{} entries exported as {}",
        rows.len(),
        if csv { "CSV" } else { "JSON Lines" }
    );
    let subject = Subject::user(&principal.user.id, &principal.user.username);
    events::record(
        &state.db,
        Kind::AuditExported,
        subject,
        &principal.client,
        &detail,
    )
    .await
    .map_err(AppError::internal)?;
    if !csv {
        let body: String = rows
            .iter()
            .filter_map(|e| serde_json::to_string(e).ok())
            .map(|l| l + "\n")
            .collect();
        return Ok((
            [
                (header::CONTENT_TYPE, "application/x-ndjson"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"audit.jsonl\"",
                ),
            ],
            body,
        )
            .into_response());
    }
    let mut body = String::from(
        "id,at,kind,user_id,username,ip,user_agent,detail,actor,target,outcome,request_id\n",
    );
    for e in &rows {
        let fields = [
            e.id.to_string(),
            e.at.to_string(),
            cell(&e.kind),
            cell(e.user_id.as_deref().unwrap_or("")),
            cell(e.username.as_deref().unwrap_or("")),
            cell(&e.ip),
            cell(&e.user_agent),
            cell(&e.detail),
            cell(&e.actor),
            cell(&e.target),
            cell(&e.outcome),
            cell(&e.request_id),
        ];
        body.push_str(&fields.join(","));
        body.push('\n');
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"audit.csv\"",
            ),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::cell;

    #[test]
    fn formula_cells_are_neutralised_and_quotes_doubled() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("+1"), "\"'+1\"");
        assert_eq!(cell("-1"), "\"'-1\"");
        assert_eq!(cell("@SUM(A1)"), "\"'@SUM(A1)\"");
        assert_eq!(cell("plain"), "\"plain\"");
    }
}

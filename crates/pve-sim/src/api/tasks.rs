//! Task endpoints: the cluster and node task lists, a task's status, its log with PVE's
//! paging (`start`, `limit`; lines numbered from 1; `total` in the envelope), and stopping a
//! task. A task is visible to its owner (a user sees their tokens' tasks too) and to holders
//! of Sys.Audit on its node; stopping someone else's needs Sys.Modify there.

use axum::extract::{Path, State};
use axum::response::IntoResponse as _;
use axum::{Extension, Json};
use serde_json::{Value, json};

use super::check::{allowed, denied};
use super::cluster::find_node;
use super::params::Params;
use super::{Answer, ApiState, Check, Principal, PveError, data};
use crate::perms::Access;
use crate::tasks::{Task, Upid};

const AUDIT: &[&str] = &["Sys.Audit"];

/// Whether `principal` owns `task` or holds `privs` on the task's node.
fn may(state: &ApiState, principal: &str, task: &Task, privs: &'static [&'static str]) -> bool {
    let owner = &task.upid.user;
    owner == principal
        || Access::owner(owner) == principal
        || allowed(
            state,
            principal,
            &format!("/nodes/{}", task.upid.node),
            Check::All("", privs),
        )
}

pub(super) async fn cluster_tasks(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    params: Params,
) -> Answer {
    params.only(&[])?;
    // The schema declares only `upid` here (closed object); clients parse the rest from it.
    let tasks = state
        .cluster
        .tasks
        .select(|t| may(&state, &principal.0, t, AUDIT));
    data(
        tasks
            .iter()
            .map(|t| json!({ "upid": t.upid.to_string() }))
            .collect(),
    )
}

pub(super) async fn node_tasks(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    Path(node): Path<String>,
    params: Params,
) -> Answer {
    params.only(&[
        "errors",
        "limit",
        "since",
        "source",
        "start",
        "statusfilter",
        "typefilter",
        "until",
        "userfilter",
        "vmid",
    ])?;
    find_node(&state.cluster, &node)?;
    let start = params.integer("start")?.unwrap_or(0);
    let limit = params.integer("limit")?.unwrap_or(50);
    let since = params.integer("since")?;
    let until = params.integer("until")?;
    let vmid = params.integer("vmid")?.map(|v| v.to_string());
    let errors_only = params.get("errors") == Some("1");
    let source = params.get("source").unwrap_or("archive");
    if !matches!(source, "archive" | "active" | "all") {
        return Err(PveError::parameter(
            "source",
            format!(
                "value '{source}' does not have a value in the enumeration 'archive, active, all'"
            ),
        ));
    }
    let kind = params.get("typefilter");
    let user = params.get("userfilter");
    let tasks = state.cluster.tasks.select(|t| {
        let u = &t.upid;
        let running = t.exit.is_none();
        u.node == node
            && may(&state, &principal.0, t, AUDIT)
            && match source {
                "active" => running,
                "archive" => !running,
                _ => true,
            }
            && vmid.as_ref().is_none_or(|v| &u.id == v)
            && kind.is_none_or(|k| u.kind == k)
            && user.is_none_or(|name| u.user.contains(name))
            && since.is_none_or(|s| u.starttime >= s)
            && until.is_none_or(|s| u.starttime <= s)
            && (!errors_only || t.exit.as_deref().is_some_and(|e| e != "OK"))
    });
    let total = tasks.len();
    let page: Vec<Value> = tasks
        .iter()
        .skip(usize::try_from(start).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .map(Task::listing)
        .collect();
    Ok(Json(json!({ "data": page, "total": total })).into_response())
}

/// The task named in the path, which must run on the node named in the path and be one
/// `principal` may see (or, with `privs` Sys.Modify, stop).
fn find_task(
    state: &ApiState,
    principal: &str,
    node: &str,
    upid: &str,
    privs: &'static [&'static str],
) -> Result<Task, PveError> {
    find_node(&state.cluster, node)?;
    let parsed: Upid = upid
        .parse()
        .map_err(|e: crate::tasks::UpidError| PveError::parameter("upid", e.to_string()))?;
    let task = state
        .cluster
        .tasks
        .get(&parsed)
        .filter(|t| t.upid.node == node)
        .ok_or_else(|| PveError::failed("no such task"))?;
    if may(state, principal, &task, privs) {
        Ok(task)
    } else {
        Err(denied(&format!("/nodes/{node}"), privs))
    }
}

pub(super) async fn status(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    Path((node, upid)): Path<(String, String)>,
    params: Params,
) -> Answer {
    params.only(&[])?;
    data(find_task(&state, &principal.0, &node, &upid, AUDIT)?.status())
}

/// `DELETE /nodes/{node}/tasks/{upid}`: stops a running task, which then ends with PVE's
/// "unexpected status" and never has its effect; a finished task is left as it is.
pub(super) async fn stop(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    Path((node, upid)): Path<(String, String)>,
    params: Params,
) -> Answer {
    params.only(&[])?;
    let task = find_task(&state, &principal.0, &node, &upid, &["Sys.Modify"])?;
    let tasks = &state.cluster.tasks;
    tasks.append(&task.upid, "received interrupt".to_owned());
    tasks.finish_with(&task.upid, "unexpected status".to_owned(), || {});
    data(Value::Null)
}

pub(super) async fn log(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    Path((node, upid)): Path<(String, String)>,
    params: Params,
) -> Answer {
    params.only(&["download", "limit", "start"])?;
    let task = find_task(&state, &principal.0, &node, &upid, AUDIT)?;
    let start = usize::try_from(params.integer("start")?.unwrap_or(0)).unwrap_or(usize::MAX);
    // limit=0 reads everything.
    let limit = match params.integer("limit")?.unwrap_or(50) {
        0 => usize::MAX,
        n => usize::try_from(n).unwrap_or(usize::MAX),
    };
    let lines = task.log();
    if lines.is_empty() {
        // PVE answers an empty log file with one placeholder line, whatever the start.
        let placeholder = json!([{ "n": 1, "t": "no content" }]);
        return Ok(Json(json!({ "data": placeholder, "total": 1 })).into_response());
    }
    let total = lines.len();
    let page: Vec<Value> = lines
        .into_iter()
        .enumerate()
        .skip(start)
        .take(limit)
        .map(|(i, t)| json!({ "n": i + 1, "t": t }))
        .collect();
    Ok(Json(json!({ "data": page, "total": total })).into_response())
}

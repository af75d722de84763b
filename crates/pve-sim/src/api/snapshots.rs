//! Snapshot actions: create, delete and roll back, each a task, refused as PVE refuses them
//! (a name already used, a snapshot that does not exist, RAM state of a stopped VM).

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::Method;
use axum::routing::{delete, post};
use serde_json::json;

use super::actions::run_task;
use super::guests::find_guest;
use super::params::Params;
use super::{Answer, ApiState, Check, Principal, PveError, Row, data};
use crate::guests::{GuestKind, Snapshot};
use crate::tasks::unix_now;

/// The snapshot rows of the endpoint table.
pub(super) fn routes() -> Vec<Row> {
    const SNAPSHOT: Check = Check::All("/vms/{vmid}", &["VM.Snapshot"]);
    const ROLLBACK: Check = Check::Any("/vms/{vmid}", &["VM.Snapshot", "VM.Snapshot.Rollback"]);
    let mut rows: Vec<Row> = Vec::new();
    for (kind, list, one, rollback) in [
        (
            GuestKind::Qemu,
            "/nodes/{node}/qemu/{vmid}/snapshot",
            "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}",
            "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}/rollback",
        ),
        (
            GuestKind::Lxc,
            "/nodes/{node}/lxc/{vmid}/snapshot",
            "/nodes/{node}/lxc/{vmid}/snapshot/{snapname}",
            "/nodes/{node}/lxc/{vmid}/snapshot/{snapname}/rollback",
        ),
    ] {
        rows.push((
            Method::POST,
            list,
            SNAPSHOT,
            post(
                move |s: State<ApiState>,
                      p: Extension<Principal>,
                      path: Path<(String, String)>,
                      params: Params| { create(s, p, path, params, kind) },
            ),
        ));
        rows.push((
            Method::DELETE,
            one,
            SNAPSHOT,
            delete(
                move |s: State<ApiState>,
                      p: Extension<Principal>,
                      path: Path<(String, String, String)>,
                      params: Params| { remove(s, p, path, params, kind) },
            ),
        ));
        rows.push((
            Method::POST,
            rollback,
            ROLLBACK,
            post(
                move |s: State<ApiState>,
                      p: Extension<Principal>,
                      path: Path<(String, String, String)>,
                      params: Params| { roll_back(s, p, path, params, kind) },
            ),
        ));
    }
    rows
}

/// PVE's `pve-configid` format for snapshot names.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && (2..=40).contains(&name.len())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

async fn create(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    Path((node, vmid)): Path<(String, String)>,
    params: Params,
    kind: GuestKind,
) -> Answer {
    let allowed: &[&str] = match kind {
        GuestKind::Qemu => &["snapname", "description", "vmstate"],
        GuestKind::Lxc => &["snapname", "description"],
    };
    params.only(allowed)?;
    let Some(name) = params.get("snapname").map(str::to_owned) else {
        return Err(PveError::parameter(
            "snapname",
            "property is missing and it is not optional",
        ));
    };
    if !valid_name(&name) {
        return Err(PveError::parameter(
            "snapname",
            format!("invalid format - invalid configuration ID '{name}'"),
        ));
    }
    let guest = find_guest(&state, &node, &vmid, kind)?;
    if name == "current" {
        return Err(PveError::failed(
            "snapshot name 'current' is reserved".to_owned(),
        ));
    }
    if guest.snapshots.iter().any(|s| s.name == name) {
        return Err(PveError::failed(format!(
            "snapshot name '{name}' already used"
        )));
    }
    let vmstate = params.get("vmstate") == Some("1");
    if vmstate && !guest.running {
        return Err(PveError::failed(format!(
            "VM {} is not running",
            guest.vmid
        )));
    }
    let snapshot = Snapshot {
        description: params.get("description").unwrap_or_default().to_owned(),
        name: name.clone(),
        snaptime: unix_now(),
        vmstate,
    };
    let line = format!("snapshotting '{name}' of {} {}", kind.noun(), guest.vmid);
    let upid = run_task(
        &state,
        &guest,
        &kind.worker("snapshot"),
        &principal.0,
        line,
        move |g| {
            g.snapshots.push(snapshot);
        },
    );
    data(json!(upid))
}

async fn remove(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    Path((node, vmid, name)): Path<(String, String, String)>,
    params: Params,
    kind: GuestKind,
) -> Answer {
    params.only(&["force"])?;
    let guest = find_guest(&state, &node, &vmid, kind)?;
    if !guest.snapshots.iter().any(|s| s.name == name) {
        return Err(PveError::failed(format!(
            "snapshot '{name}' does not exist"
        )));
    }
    let line = format!("delete snapshot '{name}' of {} {}", kind.noun(), guest.vmid);
    let upid = run_task(
        &state,
        &guest,
        &kind.worker("delsnapshot"),
        &principal.0,
        line,
        move |g| {
            g.snapshots.retain(|s| s.name != name);
        },
    );
    data(json!(upid))
}

async fn roll_back(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    Path((node, vmid, name)): Path<(String, String, String)>,
    params: Params,
    kind: GuestKind,
) -> Answer {
    params.only(&["start"])?;
    let guest = find_guest(&state, &node, &vmid, kind)?;
    let Some(snapshot) = guest.snapshots.iter().find(|s| s.name == name).cloned() else {
        return Err(PveError::failed(format!(
            "snapshot '{name}' does not exist"
        )));
    };
    let start = params.get("start") == Some("1");
    let line = format!(
        "rollback to snapshot '{name}' of {} {}",
        kind.noun(),
        guest.vmid
    );
    let upid = run_task(
        &state,
        &guest,
        &kind.worker("rollback"),
        &principal.0,
        line,
        move |g| {
            // A snapshot with RAM state resumes running; otherwise the guest is stopped, unless
            // `start` asks for it to be started.
            g.running = snapshot.vmstate || start;
            g.paused = false;
        },
    );
    data(json!(upid))
}

#[cfg(test)]
mod tests {
    use super::valid_name;

    #[test]
    fn snapshot_names_follow_pve_configid() {
        assert!(valid_name("before-upgrade_1"));
        for bad in [
            "",
            "a",
            "1abc",
            "has space",
            "../etc",
            "<script>",
            &"a".repeat(41),
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}

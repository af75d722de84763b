//! Power actions on guests (`status/start`, `stop`, ...): each is checked against the guest's
//! state as PVE checks it, answers a UPID at once, and changes the guest when its task ends.

use std::time::Duration;

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::Method;
use axum::routing::post;
use serde_json::json;

use super::guests::find_guest;
use super::params::Params;
use super::{Answer, ApiState, Check, Principal, PveError, Row, data};
use crate::guests::{Guest, GuestKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Power {
    Start,
    Stop,
    Shutdown,
    Reboot,
    Reset,
    Suspend,
    Resume,
}

impl Power {
    fn name(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Stop => "stop",
            Self::Shutdown => "shutdown",
            Self::Reboot => "reboot",
            Self::Reset => "reset",
            Self::Suspend => "suspend",
            Self::Resume => "resume",
        }
    }

    /// Parameters the schema declares for the action (beyond `node` and `vmid`).
    fn params(self, kind: GuestKind) -> &'static [&'static str] {
        match (kind, self) {
            (GuestKind::Qemu, Self::Start) => &[
                "force-cpu",
                "machine",
                "migratedfrom",
                "migration_network",
                "migration_type",
                "nets-host-mtu",
                "skiplock",
                "stateuri",
                "targetstorage",
                "timeout",
                "with-conntrack-state",
            ],
            (GuestKind::Qemu, Self::Stop) => &[
                "keepActive",
                "migratedfrom",
                "overrule-shutdown",
                "skiplock",
                "timeout",
            ],
            (GuestKind::Qemu, Self::Shutdown) => {
                &["forceStop", "keepActive", "skiplock", "timeout"]
            }
            (GuestKind::Qemu, Self::Reboot) => &["timeout"],
            (GuestKind::Qemu, Self::Reset) => &["skiplock"],
            (GuestKind::Qemu, Self::Suspend) => &["skiplock", "statestorage", "todisk"],
            (GuestKind::Qemu, Self::Resume) => &["nocheck", "skiplock"],
            (GuestKind::Lxc, Self::Start) => &["debug", "skiplock"],
            (GuestKind::Lxc, Self::Stop) => &["overrule-shutdown", "skiplock"],
            (GuestKind::Lxc, Self::Shutdown) => &["forceStop", "timeout"],
            (GuestKind::Lxc, Self::Reboot) => &["timeout"],
            (GuestKind::Lxc, Self::Reset | Self::Suspend | Self::Resume) => &[],
        }
    }

    /// PVE's refusal when the guest is in the wrong state for the action.
    fn refusal(self, guest: &Guest) -> Option<String> {
        let who = format!("{} {}", guest.kind.noun(), guest.vmid);
        match self {
            Self::Start if guest.template => Some(format!("{who} is a template, cannot start")),
            Self::Start if guest.running => Some(format!("{who} already running")),
            Self::Resume if !guest.paused => Some(format!("{who} is not suspended")),
            Self::Start | Self::Resume => None,
            _ if !guest.running => Some(format!("{who} not running")),
            _ => None,
        }
    }

    fn apply(self, guest: &mut Guest) {
        match self {
            Self::Start | Self::Resume => {
                guest.running = true;
                guest.paused = false;
            }
            Self::Stop | Self::Shutdown => {
                guest.running = false;
                guest.paused = false;
            }
            Self::Suspend => guest.paused = true,
            Self::Reboot | Self::Reset => guest.paused = false,
        }
    }
}

/// Every power action PVE has, per guest kind, with its path (LXC has no `reset`).
const ACTIONS: [(GuestKind, Power, &str); 13] = [
    (
        GuestKind::Qemu,
        Power::Start,
        "/nodes/{node}/qemu/{vmid}/status/start",
    ),
    (
        GuestKind::Qemu,
        Power::Stop,
        "/nodes/{node}/qemu/{vmid}/status/stop",
    ),
    (
        GuestKind::Qemu,
        Power::Shutdown,
        "/nodes/{node}/qemu/{vmid}/status/shutdown",
    ),
    (
        GuestKind::Qemu,
        Power::Reboot,
        "/nodes/{node}/qemu/{vmid}/status/reboot",
    ),
    (
        GuestKind::Qemu,
        Power::Reset,
        "/nodes/{node}/qemu/{vmid}/status/reset",
    ),
    (
        GuestKind::Qemu,
        Power::Suspend,
        "/nodes/{node}/qemu/{vmid}/status/suspend",
    ),
    (
        GuestKind::Qemu,
        Power::Resume,
        "/nodes/{node}/qemu/{vmid}/status/resume",
    ),
    (
        GuestKind::Lxc,
        Power::Start,
        "/nodes/{node}/lxc/{vmid}/status/start",
    ),
    (
        GuestKind::Lxc,
        Power::Stop,
        "/nodes/{node}/lxc/{vmid}/status/stop",
    ),
    (
        GuestKind::Lxc,
        Power::Shutdown,
        "/nodes/{node}/lxc/{vmid}/status/shutdown",
    ),
    (
        GuestKind::Lxc,
        Power::Reboot,
        "/nodes/{node}/lxc/{vmid}/status/reboot",
    ),
    (
        GuestKind::Lxc,
        Power::Suspend,
        "/nodes/{node}/lxc/{vmid}/status/suspend",
    ),
    (
        GuestKind::Lxc,
        Power::Resume,
        "/nodes/{node}/lxc/{vmid}/status/resume",
    ),
];

/// The power-action rows of the endpoint table.
pub(super) fn routes() -> Vec<Row> {
    ACTIONS
        .into_iter()
        .map(|(kind, power, path)| {
            let handler = post(
                move |state: State<ApiState>,
                      principal: Extension<Principal>,
                      path: Path<(String, String)>,
                      params: Params| {
                    act(state, principal, path, params, kind, power)
                },
            );
            let check = Check::All("/vms/{vmid}", &["VM.PowerMgmt"]);
            (Method::POST, path, check, handler)
        })
        .collect()
}

async fn act(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    Path((node, vmid)): Path<(String, String)>,
    params: Params,
    kind: GuestKind,
    power: Power,
) -> Answer {
    params.only(power.params(kind))?;
    let guest = find_guest(&state, &node, &vmid, kind)?;
    if let Some(refusal) = power.refusal(&guest) {
        return Err(PveError::failed(refusal));
    }
    // PVE's start tasks write nothing until they end with `TASK OK`; the others say what
    // they do first.
    let first_line = (power != Power::Start).then(|| {
        format!(
            "{} {} {}: {}",
            power.name(),
            kind.noun(),
            guest.vmid,
            guest.name
        )
    });
    let worker = kind.worker(power.name());
    let upid = run_task(
        &state,
        &guest,
        &worker,
        &principal.0,
        first_line,
        move |g| power.apply(g),
    );
    data(json!(upid))
}

/// Starts a task for `guest` that applies `effect` to it when it ends after the configured
/// duration; returns the UPID.
pub(super) fn run_task(
    state: &ApiState,
    guest: &Guest,
    worker: &str,
    user: &str,
    first_line: impl Into<Option<String>>,
    effect: impl FnOnce(&mut Guest) + Send + 'static,
) -> String {
    let cluster = state.cluster.clone();
    let vmid = guest.vmid;
    let task = NodeTask {
        node: &guest.node,
        worker,
        id: &vmid.to_string(),
        user,
    };
    run_node_task(state, &task, first_line, move || {
        cluster.update_guest(vmid, effect);
    })
}

/// Who runs a task where, for [`run_node_task`].
pub(super) struct NodeTask<'a> {
    pub node: &'a str,
    pub worker: &'a str,
    /// The UPID's id field: a VMID, or empty.
    pub id: &'a str,
    pub user: &'a str,
}

/// Starts a task on a node that logs progress and runs `done` when it ends after the
/// configured duration, unless it was stopped first; returns the UPID. A task without a first
/// line writes nothing until it ends, as a guest's start does in PVE: until then its log is
/// PVE's "no content" placeholder.
pub(super) fn run_node_task(
    state: &ApiState,
    task: &NodeTask<'_>,
    first_line: impl Into<Option<String>>,
    done: impl FnOnce() + Send + 'static,
) -> String {
    let cluster = state.cluster.clone();
    let first_line = first_line.into();
    let logs = first_line.is_some();
    let upid = cluster
        .tasks
        .begin(task.node, task.worker, task.id, task.user, first_line);
    let duration: Duration = state.task_duration;
    let running = upid.clone();
    tokio::spawn(async move {
        // Progress lines a third and two thirds of the way, as long PVE tasks log as they go.
        for step in 1..=2 {
            tokio::time::sleep(duration / 3).await;
            if logs {
                cluster
                    .tasks
                    .append(&running, format!("progress {}%", step * 33));
            }
        }
        tokio::time::sleep(duration / 3).await;
        cluster.tasks.finish_with(&running, "OK".to_owned(), done);
    });
    upid.to_string()
}

//! Guest config edits: `PUT .../config` (synchronous) and QEMU's `POST .../config` (a task),
//! for the keys the portal edits (name or hostname, description, tags, cores, memory, onboot,
//! `delete`), with PVE's format checks and its digest check against concurrent edits. Other
//! keys the schema declares are refused with a clear message rather than silently ignored.

use std::collections::BTreeMap;

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::Method;
use axum::routing::{post, put};
use serde_json::{Value, json};

use super::actions::run_task;
use super::guests::find_guest;
use super::params::Params;
use super::{Answer, ApiState, Check, Principal, PveError, Row, data};
use crate::guests::{Guest, GuestKind};

const QEMU_EDIT: Check = Check::Any(
    "/vms/{vmid}",
    &[
        "VM.Config.Disk",
        "VM.Config.CDROM",
        "VM.Config.CPU",
        "VM.Config.Memory",
        "VM.Config.Network",
        "VM.Config.HWType",
        "VM.Config.Options",
        "VM.Config.Cloudinit",
    ],
);
const LXC_EDIT: Check = Check::Any(
    "/vms/{vmid}",
    &[
        "VM.Config.Disk",
        "VM.Config.CPU",
        "VM.Config.Memory",
        "VM.Config.Network",
        "VM.Config.Options",
    ],
);

/// The config-edit rows of the endpoint table.
pub(super) fn routes() -> Vec<Row> {
    let edit = |kind: GuestKind, asynchronous: bool| {
        move |s: State<ApiState>,
              p: Extension<Principal>,
              path: Path<(String, String)>,
              q: Params| { edit(s, p, path, q, kind, asynchronous) }
    };
    vec![
        (
            Method::PUT,
            "/nodes/{node}/qemu/{vmid}/config",
            QEMU_EDIT,
            put(edit(GuestKind::Qemu, false)),
        ),
        (
            Method::POST,
            "/nodes/{node}/qemu/{vmid}/config",
            QEMU_EDIT,
            post(edit(GuestKind::Qemu, true)),
        ),
        (
            Method::PUT,
            "/nodes/{node}/lxc/{vmid}/config",
            LXC_EDIT,
            put(edit(GuestKind::Lxc, false)),
        ),
    ]
}

fn dns_name(value: &str) -> bool {
    value.len() <= 253
        && value.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

fn tag(value: &str) -> bool {
    value.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-+.".contains(&b))
}

fn integer(name: &str, value: &str, min: u64, max: u64) -> Result<u64, (String, String)> {
    let n: u64 = value.parse().map_err(|_| {
        (
            name.to_owned(),
            format!("type check ('integer') failed - got '{value}'"),
        )
    })?;
    if n < min {
        return Err((
            name.to_owned(),
            format!("value must have a minimum value of {min}"),
        ));
    }
    if n > max {
        return Err((
            name.to_owned(),
            format!("value must have a maximum value of {max}"),
        ));
    }
    Ok(n)
}

/// Checks every parameter and applies them to a copy of `guest`; all or nothing.
fn apply(guest: &Guest, params: &Params, kind: GuestKind) -> Result<Guest, PveError> {
    let name_key = match kind {
        GuestKind::Qemu => "name",
        GuestKind::Lxc => "hostname",
    };
    let mut next = guest.clone();
    let mut errors = BTreeMap::new();
    let mut check = |result: Result<(), (String, String)>| {
        if let Err((k, v)) = result {
            errors.insert(k, v);
        }
    };
    if let Some(name) = params.get(name_key) {
        check(if dns_name(name) {
            next.name = name.to_owned();
            Ok(())
        } else {
            Err((
                name_key.to_owned(),
                "invalid format - value does not look like a valid DNS name".to_owned(),
            ))
        });
    }
    if let Some(text) = params.get("description") {
        check(if text.chars().count() <= 8192 {
            next.description = text.to_owned();
            Ok(())
        } else {
            Err((
                "description".to_owned(),
                "value may only be 8192 characters long".to_owned(),
            ))
        });
    }
    if let Some(list) = params.get("tags") {
        let tags: Vec<String> = list
            .split([';', ',', ' '])
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect();
        check(if tags.iter().all(|t| tag(t)) {
            let mut sorted = tags;
            sorted.sort();
            sorted.dedup();
            next.tags = sorted;
            Ok(())
        } else {
            Err((
                "tags".to_owned(),
                format!("invalid format - invalid characters in tag list '{list}'"),
            ))
        });
    }
    if let Some(value) = params.get("cores") {
        check(integer("cores", value, 1, 8192).map(|n| next.cores = u32::try_from(n).unwrap_or(1)));
    }
    if let Some(value) = params.get("memory") {
        // QEMU takes a property string whose default key is `current`.
        let plain = value.strip_prefix("current=").unwrap_or(value);
        check(integer("memory", plain, 16, 4_178_944).map(|n| next.memory_mib = n));
    }
    if let Some(value) = params.get("onboot") {
        check(match value {
            "0" | "1" => {
                next.onboot = value == "1";
                Ok(())
            }
            _ => Err((
                "onboot".to_owned(),
                format!("type check ('boolean') failed - got '{value}'"),
            )),
        });
    }
    for key in params
        .get("delete")
        .unwrap_or_default()
        .split([',', ';', ' '])
        .filter(|k| !k.is_empty())
    {
        match key {
            "description" => next.description.clear(),
            "tags" => next.tags.clear(),
            "onboot" => next.onboot = false,
            other => {
                errors.insert(
                    "delete".to_owned(),
                    format!("cannot delete '{other}' (not supported by the simulator)"),
                );
            }
        }
    }
    if errors.is_empty() {
        Ok(next)
    } else {
        Err(PveError::parameters(errors))
    }
}

async fn edit(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    Path((node, vmid)): Path<(String, String)>,
    params: Params,
    kind: GuestKind,
    asynchronous: bool,
) -> Answer {
    let editable = match kind {
        GuestKind::Qemu => [
            "name",
            "description",
            "tags",
            "cores",
            "memory",
            "onboot",
            "delete",
            "digest",
        ],
        GuestKind::Lxc => [
            "hostname",
            "description",
            "tags",
            "cores",
            "memory",
            "onboot",
            "delete",
            "digest",
        ],
    };
    params.only(&editable)?;
    let guest = find_guest(&state, &node, &vmid, kind)?;
    if let Some(digest) = params.get("digest")
        && guest.config()["digest"] != json!(digest)
    {
        let message = "detected modified configuration - file changed by other user? Try again.";
        return Err(PveError::failed(message));
    }
    let next = apply(&guest, &params, kind)?;
    if !asynchronous {
        state.cluster.update_guest(guest.vmid, |g| *g = next);
        return data(Value::Null);
    }
    let first_line = format!("update VM {}: {}", guest.vmid, params.summary());
    let upid = run_task(
        &state,
        &guest,
        "qmconfig",
        &principal.0,
        first_line,
        move |g| {
            // Keep the node: a migration may have finished in the meantime.
            let node = std::mem::take(&mut g.node);
            *g = Guest { node, ..next };
        },
    );
    data(json!(upid))
}

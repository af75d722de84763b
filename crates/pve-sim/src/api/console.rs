//! Console tickets: `vncproxy` and `termproxy` for VMs and containers answer what PVE
//! answers (a port, a `PVEVNC:` ticket, the node's certificate, a task for the proxy), so a
//! client can build the websocket URL. The websocket itself is not simulated.

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::Method;
use axum::routing::post;
use base64::Engine as _;
use serde_json::json;

use super::actions::run_task;
use super::guests::find_guest;
use super::params::Params;
use super::{Answer, ApiState, Check, Principal, Row, data};
use crate::guests::GuestKind;

const CONSOLE: Check = Check::All("/vms/{vmid}", &["VM.Console"]);

/// The console rows of the endpoint table.
pub(super) fn routes() -> Vec<Row> {
    let proxy = |kind: GuestKind, vnc: bool| {
        move |s: State<ApiState>,
              p: Extension<Principal>,
              path: Path<(String, String)>,
              q: Params| { console(s, p, path, q, kind, vnc) }
    };
    vec![
        (
            Method::POST,
            "/nodes/{node}/qemu/{vmid}/vncproxy",
            CONSOLE,
            post(proxy(GuestKind::Qemu, true)),
        ),
        (
            Method::POST,
            "/nodes/{node}/qemu/{vmid}/termproxy",
            CONSOLE,
            post(proxy(GuestKind::Qemu, false)),
        ),
        (
            Method::POST,
            "/nodes/{node}/lxc/{vmid}/vncproxy",
            CONSOLE,
            post(proxy(GuestKind::Lxc, true)),
        ),
        (
            Method::POST,
            "/nodes/{node}/lxc/{vmid}/termproxy",
            CONSOLE,
            post(proxy(GuestKind::Lxc, false)),
        ),
    ]
}

async fn console(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    Path((node, vmid)): Path<(String, String)>,
    params: Params,
    kind: GuestKind,
    vnc: bool,
) -> Answer {
    let allowed: &[&str] = match (kind, vnc) {
        (GuestKind::Qemu, true) => &["generate-password", "websocket"],
        (GuestKind::Qemu, false) => &["serial"],
        (GuestKind::Lxc, true) => &["height", "websocket", "width"],
        (GuestKind::Lxc, false) => &[],
    };
    params.only(allowed)?;
    let guest = find_guest(&state, &node, &vmid, kind)?;
    let user = principal.0.clone();
    let ticket = state
        .tickets
        .vnc_ticket(&user, &format!("/vms/{}", guest.vmid));
    let port = 5900 + (guest.vmid % 100);
    let worker = if vnc { "vncproxy" } else { "termproxy" };
    let first_line = format!("starting {worker} for {} {}", kind.noun(), guest.vmid);
    let upid = run_task(&state, &guest, worker, &user, first_line, |_| {});
    let mut answer = json!({ "port": port, "ticket": ticket, "upid": upid, "user": user });
    if vnc {
        let der = state.certificate_der(&node).unwrap_or_default();
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        answer["cert"] = json!(format!(
            "-----BEGIN CERTIFICATE-----\n{b64}\n-----END CERTIFICATE-----\n"
        ));
        if params.get("generate-password") == Some("1") {
            answer["password"] = json!(crate::random_hex(4));
        }
    }
    data(answer)
}

//! Guest network addresses: the QEMU guest agent's `network-get-interfaces` and a container's
//! `interfaces`, for running guests (PVE answers an error for stopped ones). Addresses are
//! derived from the VMID, so they are stable across runs.

use axum::extract::{Path, State};
use axum::http::Method;
use axum::routing::get;
use serde_json::{Value, json};

use super::guests::find_guest;
use super::params::Params;
use super::{Answer, ApiState, Check, PveError, Row, data};
use crate::guests::{Guest, GuestKind};

/// The address rows of the endpoint table.
pub(super) fn routes() -> Vec<Row> {
    vec![
        (
            Method::GET,
            "/nodes/{node}/qemu/{vmid}/agent/network-get-interfaces",
            Check::Any(
                "/vms/{vmid}",
                &["VM.GuestAgent.Audit", "VM.GuestAgent.Unrestricted"],
            ),
            get(|s: State<ApiState>, p: Path<(String, String)>, q: Params| {
                addresses(s, p, q, GuestKind::Qemu)
            }),
        ),
        (
            Method::GET,
            "/nodes/{node}/lxc/{vmid}/interfaces",
            Check::All("/vms/{vmid}", &["VM.Audit"]),
            get(|s: State<ApiState>, p: Path<(String, String)>, q: Params| {
                addresses(s, p, q, GuestKind::Lxc)
            }),
        ),
    ]
}

/// The guest's IPv4 and IPv6 addresses.
fn ips(guest: &Guest) -> (String, String) {
    let v = guest.vmid;
    (
        format!("10.{}.{}.{}", 10 + (v >> 16) % 200, (v >> 8) & 255, v & 255),
        format!("fd00:10::{v:x}"),
    )
}

async fn addresses(
    State(state): State<ApiState>,
    Path((node, vmid)): Path<(String, String)>,
    params: Params,
    kind: GuestKind,
) -> Answer {
    params.only(&[])?;
    let guest = find_guest(&state, &node, &vmid, kind)?;
    if !guest.running {
        let message = match kind {
            GuestKind::Qemu => format!("VM {} is not running", guest.vmid),
            GuestKind::Lxc => format!("CT {} is not running", guest.vmid),
        };
        return Err(PveError::failed(message));
    }
    let (v4, v6) = ips(&guest);
    let mac = format!(
        "bc:24:11:{:02x}:{:02x}:{:02x}",
        (guest.vmid >> 16) & 255,
        (guest.vmid >> 8) & 255,
        guest.vmid & 255
    );
    match kind {
        GuestKind::Qemu => data(json!({ "result": [
            { "name": "lo", "hardware-address": "00:00:00:00:00:00", "ip-addresses": [
                { "ip-address": "127.0.0.1", "ip-address-type": "ipv4", "prefix": 8 },
                { "ip-address": "::1", "ip-address-type": "ipv6", "prefix": 128 } ] },
            { "name": "eth0", "hardware-address": mac, "ip-addresses": [
                { "ip-address": v4, "ip-address-type": "ipv4", "prefix": 24 },
                { "ip-address": v6, "ip-address-type": "ipv6", "prefix": 64 } ] },
        ] })),
        GuestKind::Lxc => {
            // PVE 9 lists each address both ways: `inet`/`inet6` and `ip-addresses`.
            let entry = |name: &str, hw: &str, inet: &str, inet6: &str| -> Value {
                let split = |cidr: &str| {
                    cidr.split_once('/')
                        .map(|(ip, p)| (ip.to_owned(), p.parse::<u8>().unwrap_or(0)))
                };
                let listed: Vec<Value> = [(inet, "inet"), (inet6, "inet6")]
                    .into_iter()
                    .filter_map(|(cidr, family)| split(cidr).map(|(ip, prefix)| json!({ "ip-address": ip, "ip-address-type": family, "prefix": prefix })))
                    .collect();
                json!({ "name": name, "hwaddr": hw, "hardware-address": hw, "inet": inet, "inet6": inet6, "ip-addresses": listed })
            };
            data(json!([
                entry("lo", "00:00:00:00:00:00", "127.0.0.1/8", "::1/128"),
                entry("eth0", &mac, &format!("{v4}/24"), &format!("{v6}/64"))
            ]))
        }
    }
}

//! `rrddata` for nodes and guests: 70 points over PVE's time frames (hour, day, week, month,
//! year) at its resolutions, `AVERAGE` or `MAX`, with PVE's field names. The figures are
//! waves of time, stable for a given instant, so graphs look alive and tests can reason.

use axum::extract::{Path, State};
use axum::http::Method;
use axum::routing::get;
use serde_json::{Value, json};

use super::cluster::find_node;
use super::guests::find_guest;
use super::params::Params;
use super::{Answer, ApiState, Check, PveError, Row, data};
use crate::guests::GuestKind;
use crate::tasks::unix_now;

const AUDIT: Check = Check::All("/vms/{vmid}", &["VM.Audit"]);

/// The metrics rows of the endpoint table.
pub(super) fn routes() -> Vec<Row> {
    let guest = |kind: GuestKind| {
        move |s: State<ApiState>, p: Path<(String, String)>, q: Params| guest_rrd(s, p, q, kind)
    };
    vec![
        (
            Method::GET,
            "/nodes/{node}/rrddata",
            Check::All("/nodes/{node}", &["Sys.Audit"]),
            get(node_rrd),
        ),
        (
            Method::GET,
            "/nodes/{node}/qemu/{vmid}/rrddata",
            AUDIT,
            get(guest(GuestKind::Qemu)),
        ),
        (
            Method::GET,
            "/nodes/{node}/lxc/{vmid}/rrddata",
            AUDIT,
            get(guest(GuestKind::Lxc)),
        ),
    ]
}

/// The time frame's step in seconds and whether `MAX` was asked for.
fn frame(params: &Params) -> Result<(u64, bool), PveError> {
    params.only(&["cf", "timeframe"])?;
    let step = match params.get("timeframe") {
        Some("hour") => 60,
        Some("day") => 1_800,
        Some("week") => 10_800,
        Some("month") => 43_200,
        Some("year") => 604_800,
        Some(other) => {
            let why = format!(
                "value '{other}' does not have a value in the enumeration 'hour, day, week, month, year'"
            );
            return Err(PveError::parameter("timeframe", why));
        }
        None => {
            return Err(PveError::parameter(
                "timeframe",
                "property is missing and it is not optional",
            ));
        }
    };
    let max = match params.get("cf") {
        None | Some("AVERAGE") => false,
        Some("MAX") => true,
        Some(other) => {
            let why =
                format!("value '{other}' does not have a value in the enumeration 'AVERAGE, MAX'");
            return Err(PveError::parameter("cf", why));
        }
    };
    Ok((step, max))
}

/// 70 point times ending at the last full step.
fn times(step: u64) -> impl Iterator<Item = u64> {
    let last = unix_now() / step * step;
    (0..70u64).rev().map(move |i| last - i * step)
}

fn wave(t: u64, seed: u32, period: f64) -> f64 {
    0.5 + 0.5 * (t as f64 / period + f64::from(seed) * 0.9).sin()
}

async fn node_rrd(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    params: Params,
) -> Answer {
    let (step, max) = frame(&params)?;
    let node = find_node(&state.cluster, &name)?;
    let peak = if max { 1.3 } else { 1.0 };
    let points: Vec<Value> = times(step)
        .map(|t| {
            let cpu = (0.05 + 0.35 * wave(t, node.id, 5_400.0)) * peak;
            let mem = node.maxmem as f64 * (0.3 + 0.3 * wave(t, node.id + 7, 9_000.0));
            json!({
                "time": t, "cpu": cpu.min(1.0), "maxcpu": node.maxcpu, "iowait": cpu / 20.0,
                "loadavg": cpu * f64::from(node.maxcpu), "memused": mem, "memtotal": node.maxmem,
                "swapused": 0, "swaptotal": 8u64 << 30, "rootused": node.maxdisk / 4, "roottotal": node.maxdisk,
                "netin": 2.0e6 * wave(t, node.id + 3, 3_000.0) * peak, "netout": 1.0e6 * wave(t, node.id + 5, 3_600.0) * peak,
            })
        })
        .collect();
    data(Value::Array(points))
}

async fn guest_rrd(
    State(state): State<ApiState>,
    Path((node, vmid)): Path<(String, String)>,
    params: Params,
    kind: GuestKind,
) -> Answer {
    let (step, max) = frame(&params)?;
    let guest = find_guest(&state, &node, &vmid, kind)?;
    let peak = if max { 1.3 } else { 1.0 };
    let on = if guest.running { 1.0 } else { 0.0 };
    let maxmem = guest.memory_mib * 1024 * 1024;
    let points: Vec<Value> = times(step)
        .map(|t| {
            let load = wave(t, guest.vmid, 4_200.0) * on * peak;
            json!({
                "time": t, "cpu": (load * 0.6).min(1.0), "maxcpu": guest.cores,
                "mem": maxmem as f64 * (0.2 + 0.5 * wave(t, guest.vmid + 11, 7_000.0)) * on, "maxmem": maxmem,
                "disk": 0, "maxdisk": guest.disk_gib << 30,
                "diskread": 4.0e5 * load, "diskwrite": 2.5e5 * load,
                "netin": 1.5e5 * load, "netout": 9.0e4 * load,
            })
        })
        .collect();
    data(Value::Array(points))
}

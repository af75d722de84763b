//! Guests (QEMU VMs and LXC containers) across every server: the permission-filtered list
//! from the live inventory, one guest's details, and every operation as a job that follows
//! its PVE task.

mod actions;
mod api;
mod bulk;
pub mod chart;
pub mod jobs;
pub mod list;
pub mod ops;
mod page;

/// Guest routes.
pub fn routes() -> crate::http::access::Routes {
    api::routes().merge(actions::routes()).merge(page::routes())
}

/// The RRD time frame called `name` (an hour when not given).
pub fn timeframe(name: Option<&str>) -> Option<pve::Timeframe> {
    Some(match name.unwrap_or("hour") {
        "hour" => pve::Timeframe::Hour,
        "day" => pve::Timeframe::Day,
        "week" => pve::Timeframe::Week,
        "month" => pve::Timeframe::Month,
        "year" => pve::Timeframe::Year,
        _ => return None,
    })
}

//! Alerts: anomaly detection over the audit trail (`anomaly`), periodic rules over servers and
//! jobs (`watch`) and over what PVE reports of storages, backups and guests (`scan`), the rules' settings (`rules`), alerts as stored (`store`), notification
//! channels (`channels`, checked by `destination`, delivered by `send` through the job engine
//! in `notify`), and the API and page that show and manage them.

pub mod anomaly;
mod api;
pub mod channels;
mod channels_page;
pub mod destination;
pub mod notify;
mod page;
pub mod rules;
mod scan;
pub mod send;
pub mod store;
pub mod watch;

/// Alert routes.
pub fn routes() -> crate::http::access::Routes {
    api::routes().merge(page::routes())
}

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

/// What alerts' handlers use: the database, the data key (sealed channel secrets) and the
/// internal addresses notifications may go to nonetheless.
#[derive(Debug, Clone)]
pub struct AlertsState {
    /// The database.
    pub db: crate::db::Db,
    /// The data key.
    pub keys: std::sync::Arc<crate::secrets::Keys>,
    /// Internal destinations allowed on purpose.
    pub notify_allow: std::sync::Arc<Vec<crate::config::ProxyNet>>,
}

/// Alert routes.
pub fn routes<S>() -> crate::access::routes::Routes<S>
where
    S: Clone + Send + Sync + 'static,
    AlertsState: axum::extract::FromRef<S>,
{
    api::routes().merge(page::routes())
}

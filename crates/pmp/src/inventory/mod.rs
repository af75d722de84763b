//! The live inventory: one poller per server (`servers::poller`) reads `/cluster/resources`
//! (one call for the whole cluster, never a call per guest) and keeps the result here, in a
//! cache every reader shares, with the server's health said plainly (up, degraded, unreachable, certificate
//! changed, disabled). Changes are announced on a broadcast channel that the live pages
//! follow. Polls are frequent while someone watches or a job runs, rare otherwise, and back
//! off while PVE is unhealthy.

mod events;
mod placement;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{Notify, broadcast};

pub use events::routes;

/// The live inventory and the database beside it: what views that place guests on their
/// node and pool use (administration, schedules, live events).
#[derive(Debug, Clone)]
pub struct InventoryState {
    /// The database.
    pub db: crate::db::Db,
    /// The live inventory.
    pub inventory: Inventory,
}
pub use placement::{target, visible};

/// How often to poll.
#[derive(Debug, Clone, Copy)]
pub struct PollSettings {
    /// Nobody watching.
    pub idle: Duration,
    /// Someone watching, or a job running on the server.
    pub busy: Duration,
}

/// A server's health, as shown to people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Health {
    /// Not polled yet.
    Unknown,
    /// Every node online.
    Up,
    /// Answering, but some nodes are not online.
    Degraded { message: String },
    /// Not answering; the message says why.
    Unreachable { message: String },
    /// A member presented another certificate than the pinned one: calls are blocked until
    /// an administrator confirms the new fingerprint.
    CertificateChanged {
        member: String,
        expected: String,
        seen: String,
    },
    /// Turned off by an administrator.
    Disabled,
}

impl Health {
    /// Every state's name.
    pub const NAMES: [&'static str; 6] = [
        "unknown",
        "up",
        "degraded",
        "unreachable",
        "certificate_changed",
        "disabled",
    ];

    /// The state's name, as serialised (`up`, `certificate_changed`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Up => "up",
            Self::Degraded { .. } => "degraded",
            Self::Unreachable { .. } => "unreachable",
            Self::CertificateChanged { .. } => "certificate_changed",
            Self::Disabled => "disabled",
        }
    }
}

/// One guest as the inventory knows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GuestRow {
    pub server: String,
    pub vmid: u32,
    /// `qemu` or `lxc`.
    pub kind: &'static str,
    pub name: String,
    pub node: String,
    pub status: String,
    pub tags: Vec<String>,
    pub pool: Option<String>,
    pub template: bool,
    pub cpu: f64,
    pub maxcpu: f64,
    pub mem: u64,
    pub maxmem: u64,
    pub disk: u64,
    pub maxdisk: u64,
    pub uptime: u64,
}

/// One node as the inventory knows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeRow {
    pub name: String,
    pub status: String,
    pub cpu: f64,
    pub maxcpu: f64,
    pub mem: u64,
    pub maxmem: u64,
    pub uptime: u64,
}

/// What the cache holds for one server.
#[derive(Debug, Clone, Serialize)]
pub struct ServerState {
    pub health: Health,
    pub guests: Vec<GuestRow>,
    pub nodes: Vec<NodeRow>,
    /// Unix ms of the last successful poll.
    pub updated_ms: Option<i64>,
    /// Bumped on every change, so pages know when to redraw.
    pub generation: u64,
}

#[derive(Debug)]
struct Shared {
    servers: RwLock<BTreeMap<String, Arc<ServerState>>>,
    changes: broadcast::Sender<String>,
    watchers: AtomicUsize,
    nudges: Mutex<BTreeMap<String, Arc<Notify>>>,
    busy_servers: Mutex<BTreeMap<String, usize>>,
    running: Mutex<std::collections::BTreeSet<String>>,
    settings: PollSettings,
}

/// The shared inventory cache. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Inventory {
    shared: Arc<Shared>,
}

/// Keeps polling fast while it lives (a page following the inventory, a running job).
#[derive(Debug)]
pub struct Busy {
    shared: Arc<Shared>,
    server: Option<String>,
}

impl Drop for Busy {
    fn drop(&mut self) {
        match &self.server {
            None => {
                self.shared.watchers.fetch_sub(1, Ordering::Relaxed);
            }
            Some(id) => {
                let mut busy = self
                    .shared
                    .busy_servers
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                if let Some(n) = busy.get_mut(id) {
                    *n = n.saturating_sub(1);
                }
            }
        }
    }
}

impl Inventory {
    /// An empty cache polling as `settings` says.
    pub fn new(settings: PollSettings) -> Self {
        let (changes, _) = broadcast::channel(256);
        Self {
            shared: Arc::new(Shared {
                servers: RwLock::default(),
                changes,
                watchers: AtomicUsize::new(0),
                nudges: Mutex::default(),
                busy_servers: Mutex::default(),
                running: Mutex::default(),
                settings,
            }),
        }
    }

    /// The cached state of `server`.
    pub fn server(&self, server: &str) -> Option<Arc<ServerState>> {
        let servers = self
            .shared
            .servers
            .read()
            .unwrap_or_else(|e| e.into_inner());
        servers.get(server).cloned()
    }

    /// Every server's cached state, by id.
    pub fn all(&self) -> Vec<(String, Arc<ServerState>)> {
        let servers = self
            .shared
            .servers
            .read()
            .unwrap_or_else(|e| e.into_inner());
        servers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// The guest `vmid` of `server`, if the inventory knows it.
    pub fn guest(&self, server: &str, vmid: u32) -> Option<GuestRow> {
        self.server(server)?
            .guests
            .iter()
            .find(|g| g.vmid == vmid)
            .cloned()
    }

    /// Stores a new state for `server` and announces it when it changed.
    pub fn publish(&self, server: &str, mut state: ServerState) {
        let mut servers = self
            .shared
            .servers
            .write()
            .unwrap_or_else(|e| e.into_inner());
        let previous = servers.get(server);
        let changed = previous.is_none_or(|p| {
            p.health != state.health || p.guests != state.guests || p.nodes != state.nodes
        });
        state.generation = previous.map_or(1, |p| p.generation + u64::from(changed));
        servers.insert(server.to_owned(), Arc::new(state));
        drop(servers);
        if changed {
            let _ = self.shared.changes.send(server.to_owned());
        }
    }

    /// Forgets `server` (it was removed).
    pub fn forget(&self, server: &str) {
        let mut servers = self
            .shared
            .servers
            .write()
            .unwrap_or_else(|e| e.into_inner());
        servers.remove(server);
        drop(servers);
        let _ = self.shared.changes.send(server.to_owned());
    }

    /// How long the supervisor waits between looks for new servers.
    pub fn idle(&self) -> Duration {
        self.shared.settings.idle
    }

    /// Claims the one poller slot of `server`: false when a poller already runs for it.
    pub fn claim(&self, server: &str) -> bool {
        let mut running = self
            .shared
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        running.insert(server.to_owned())
    }

    /// Gives `server`'s poller slot back (its poller ended).
    pub fn release(&self, server: &str) {
        let mut running = self
            .shared
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        running.remove(server);
    }

    /// Announcements of changed servers (their ids).
    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.shared.changes.subscribe()
    }

    /// Polls every server fast while the returned guard lives.
    pub fn watch(&self) -> Busy {
        self.shared.watchers.fetch_add(1, Ordering::Relaxed);
        self.nudge_all();
        Busy {
            shared: self.shared.clone(),
            server: None,
        }
    }

    /// Polls `server` fast while the returned guard lives (a job runs there).
    pub fn busy(&self, server: &str) -> Busy {
        let mut busy = self
            .shared
            .busy_servers
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *busy.entry(server.to_owned()).or_default() += 1;
        Busy {
            shared: self.shared.clone(),
            server: Some(server.to_owned()),
        }
    }

    /// Asks `server`'s poller to poll now.
    pub fn nudge(&self, server: &str) {
        self.notify(server).notify_one();
    }

    fn nudge_all(&self) {
        let nudges = self.shared.nudges.lock().unwrap_or_else(|e| e.into_inner());
        for notify in nudges.values() {
            notify.notify_one();
        }
    }

    /// What wakes `server`'s poller early (a nudge).
    pub fn notify(&self, server: &str) -> Arc<Notify> {
        let mut nudges = self.shared.nudges.lock().unwrap_or_else(|e| e.into_inner());
        nudges.entry(server.to_owned()).or_default().clone()
    }

    /// How long `server`'s poller waits before its next poll.
    pub fn interval(&self, server: &str, failures: u32) -> Duration {
        let settings = self.shared.settings;
        if failures > 0 {
            return settings
                .idle
                .saturating_mul(1 << failures.min(2))
                .min(settings.idle * 4);
        }
        let watched = self.shared.watchers.load(Ordering::Relaxed) > 0;
        let busy = {
            let busy = self
                .shared
                .busy_servers
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            busy.get(server).is_some_and(|n| *n > 0)
        };
        if watched || busy {
            settings.busy
        } else {
            settings.idle
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Health;

    #[test]
    fn health_names_are_the_serialised_states() {
        let text = String::new;
        for health in [
            Health::Unknown,
            Health::Up,
            Health::Degraded { message: text() },
            Health::Unreachable { message: text() },
            Health::CertificateChanged {
                member: text(),
                expected: text(),
                seen: text(),
            },
            Health::Disabled,
        ] {
            let serialised = serde_json::to_value(&health).unwrap();
            assert_eq!(serialised["state"], health.name());
            assert!(Health::NAMES.contains(&health.name()));
        }
    }
}

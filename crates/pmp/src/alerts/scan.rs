//! The rules that ask PVE itself what the inventory cache does not hold: guests set to start at
//! boot that stay stopped past a grace window (each stopped guest's `onboot` read once, then
//! kept for a scan interval), storages above a use threshold, and guests whose newest backup is
//! too old. Storages and backups cost a storage list per online node and a content list per
//! backup storage, so each server's are read once per `alert_scan_interval_secs` (the first
//! time as soon as it answers), not on every evaluation.
//! Alerts about a server that cannot be read now are left as they are.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::alerts::rules::{Rule, Settings};
use crate::alerts::store;
use crate::alerts::watch::{raise, settle};
use crate::db::now;
use crate::db::{Db, DbError};
use crate::ids::ServerId;
use crate::inventory::{Health, Inventory, ServerState};
use crate::secrets::Keys;

/// Config reads one evaluation may make, so a cluster where many guests just stopped is read
/// over a few evaluations instead of in one burst.
const READS_PER_ROUND: usize = 20;
const DAY: i64 = 86_400;

/// State kept between evaluations.
#[derive(Debug)]
pub struct Scanner {
    db: Db,
    keys: Arc<Keys>,
    inventory: Inventory,
    /// How often a server's storages are read; also how long a read `onboot` is believed.
    every: Duration,
    /// When each server's storages were last read.
    scanned: HashMap<String, Instant>,
    /// When each stopped guest (`server/vmid`) was first seen stopped.
    stopped_since: HashMap<String, i64>,
    /// Each stopped guest's `onboot`, and when it was read.
    onboot: HashMap<String, (bool, i64)>,
}

/// The servers that answer now, with their cached state.
fn readable(inventory: &Inventory) -> Vec<(String, Arc<ServerState>)> {
    inventory
        .all()
        .into_iter()
        .filter(|(_, s)| matches!(s.health, Health::Up | Health::Degraded { .. }))
        .collect()
}

/// The server a subject (`server/...`) is about.
fn server_of(subject: &str) -> &str {
    subject
        .split_once('/')
        .map_or(subject, |(server, _)| server)
}

impl Scanner {
    /// A scanner reading storages (and believing a read `onboot`) once per `every`.
    pub fn new(db: Db, keys: Arc<Keys>, inventory: Inventory, every: Duration) -> Self {
        Self {
            db,
            keys,
            inventory,
            every,
            scanned: HashMap::new(),
            stopped_since: HashMap::new(),
            onboot: HashMap::new(),
        }
    }

    async fn client(&self, server: &str) -> Option<pve::Client> {
        let id = ServerId::parse(server).ok()?;
        match crate::servers::connect::open(&self.db, &self.keys, &id).await {
            Ok(found) => found.map(|(_, client)| client),
            Err(e) => {
                tracing::debug!(server, error = %e, "alert scan could not open the server");
                None
            }
        }
    }

    /// Guests that should be running: evaluated on every round from the inventory, reading a
    /// guest's configuration only once it has been stopped for the grace window.
    pub async fn guests(&mut self) -> Result<(), DbError> {
        let rule = store::settings(&self.db, Rule::GuestDown).await?;
        let now = now();
        let refresh = i64::try_from(self.every.as_secs()).unwrap_or(i64::MAX);
        let mut stopped = BTreeSet::new();
        let mut still = Vec::new();
        let mut looked = BTreeSet::new();
        let mut reads = 0;
        for (server, state) in readable(&self.inventory) {
            looked.insert(server.clone());
            let mut client = None;
            for guest in state
                .guests
                .iter()
                .filter(|g| !g.template && g.status == "stopped")
            {
                let subject = format!("{server}/{}", guest.vmid);
                stopped.insert(subject.clone());
                let since = *self.stopped_since.entry(subject.clone()).or_insert(now);
                if !rule.enabled || now - since < rule.window_secs {
                    continue;
                }
                let known = self
                    .onboot
                    .get(&subject)
                    .filter(|(_, at)| now - at < refresh);
                let onboot = match known {
                    Some((onboot, _)) => Some(*onboot),
                    None if reads < READS_PER_ROUND => {
                        reads += 1;
                        if client.is_none() {
                            client = self.client(&server).await;
                        }
                        let read = match &client {
                            Some(pve) => pve.guest_config(guest.vmid).await.ok(),
                            None => None,
                        };
                        read.map(|config| {
                            self.onboot.insert(subject.clone(), (config.onboot, now));
                            config.onboot
                        })
                    }
                    None => None,
                };
                match onboot {
                    Some(true) => {
                        let title = format!("Guest {} ({subject}) is stopped", guest.name);
                        let minutes = (now - since) / 60;
                        let detail = format!(
                            "set to start at boot, stopped on {} for {minutes} min or more",
                            guest.node
                        );
                        raise(&self.db, Rule::GuestDown, &subject, title, detail).await?;
                        still.push(subject);
                    }
                    Some(false) => {}
                    // Not read yet: an alert already firing stays.
                    None => still.push(subject),
                }
            }
        }
        self.stopped_since.retain(|s, _| stopped.contains(s));
        self.onboot.retain(|s, _| stopped.contains(s));
        settle(&self.db, Rule::GuestDown, &still, |s| {
            looked.contains(server_of(s))
        })
        .await
    }

    /// Storages above the threshold and guests whose newest backup is too old, on the servers
    /// due for a read.
    pub async fn storage(&mut self) -> Result<(), DbError> {
        let due: Vec<_> = readable(&self.inventory)
            .into_iter()
            .filter(|(server, _)| {
                self.scanned
                    .get(server)
                    .is_none_or(|at| at.elapsed() >= self.every)
            })
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        let full = store::settings(&self.db, Rule::StorageFull).await?;
        let stale = store::settings(&self.db, Rule::BackupStale).await?;
        let mut found = Found::default();
        for (server, state) in due {
            // Counted as read when tried, so a failing server is not asked again every round.
            self.scanned.insert(server.clone(), Instant::now());
            let Some(pve) = self.client(&server).await else {
                continue;
            };
            match self
                .read(&pve, &server, &state, full, stale, &mut found)
                .await
            {
                Ok(()) => {
                    found.looked.insert(server);
                }
                Err(e) => tracing::debug!(server, error = %e, "alert scan could not read storage"),
            }
        }
        let looked = |s: &str| found.looked.contains(server_of(s));
        for (rule, raised) in [
            (Rule::StorageFull, found.full),
            (Rule::BackupStale, found.stale),
        ] {
            let mut still = Vec::new();
            for (subject, title, detail) in raised {
                raise(&self.db, rule, &subject, title, detail).await?;
                still.push(subject);
            }
            settle(&self.db, rule, &still, looked).await?;
        }
        Ok(())
    }

    /// Reads one server's storages and backups and raises what they show.
    async fn read(
        &self,
        pve: &pve::Client,
        server: &str,
        state: &ServerState,
        full: Settings,
        stale: Settings,
        found: &mut Found,
    ) -> Result<(), pve::Error> {
        let mut counted = BTreeSet::new();
        let mut walked = BTreeSet::new();
        let mut newest: BTreeMap<u64, u64> = BTreeMap::new();
        for node in state.nodes.iter().filter(|n| n.status == "online") {
            let storages = pve.storages(&node.name).await?;
            for s in storages.iter().filter(|s| s.total > 0) {
                let subject = if s.shared {
                    format!("{server}/{}", s.storage)
                } else {
                    format!("{server}/{}/{}", node.name, s.storage)
                };
                let percent = u128::from(s.used) * 100 / u128::from(s.total);
                let threshold = u128::try_from(full.threshold).unwrap_or(u128::MAX);
                if full.enabled && percent >= threshold && counted.insert(subject.clone()) {
                    let title = format!("Storage {subject} is {percent}% full");
                    let detail = format!("{} of {} bytes used", s.used, s.total);
                    found.full.push((subject, title, detail));
                }
            }
            if stale.enabled {
                let backups = crate::servers::storage::backups_on(
                    pve,
                    &node.name,
                    &storages,
                    &mut walked,
                    None,
                );
                for backup in backups.await.found {
                    if let (Some(vmid), Some(ctime)) = (backup.vmid, backup.ctime) {
                        let best = newest.entry(vmid).or_default();
                        *best = (*best).max(ctime);
                    }
                }
            }
        }
        let now = now();
        for guest in state.guests.iter().filter(|g| !g.template) {
            let Some(ctime) = newest.get(&u64::from(guest.vmid)) else {
                continue;
            };
            let days = (now - i64::try_from(*ctime).unwrap_or(i64::MAX)) / DAY;
            if days >= stale.threshold {
                let subject = format!("{server}/{}", guest.vmid);
                let title = format!(
                    "The newest backup of {} ({subject}) is {days} days old",
                    guest.name
                );
                let detail = format!("older than the {} days allowed", stale.threshold);
                found.stale.push((subject, title, detail));
            }
        }
        Ok(())
    }
}

/// An alert to raise: subject, title, detail.
type Raise = (String, String, String);

/// What one scan saw.
#[derive(Debug, Default)]
struct Found {
    /// Servers read completely.
    looked: BTreeSet<String>,
    full: Vec<Raise>,
    stale: Vec<Raise>,
}

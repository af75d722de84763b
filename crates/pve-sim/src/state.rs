//! The simulated cluster's state: nodes and guests, seeded deterministically, behind one lock
//! shared by every node's listener. Figures (CPU, memory, I/O) are derived from the clock, so
//! they move plausibly without a background task.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::RwLock;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};

use crate::guests::{Guest, GuestKind, Snapshot};
use crate::tasks::Tasks;

/// One cluster node.
#[derive(Debug, Clone)]
pub struct Node {
    /// Node name (`pve1`, ...).
    pub name: String,
    /// Corosync node id, from 1.
    pub id: u32,
    /// Address the node resolves to.
    pub ip: IpAddr,
    /// CPU threads.
    pub maxcpu: u32,
    /// Memory in bytes.
    pub maxmem: u64,
    /// Root filesystem size in bytes.
    pub maxdisk: u64,
}

/// What the cluster is seeded with.
#[derive(Debug, Clone)]
pub struct Seed {
    /// Cluster name.
    pub name: String,
    /// Number of nodes.
    pub nodes: usize,
    /// Number of guests, spread over the nodes (about one in four a container).
    pub guests: usize,
    /// Seed for the generator: the same seed gives the same cluster.
    pub seed: u64,
}

/// A cluster of nodes and their guests.
#[derive(Debug)]
pub struct Cluster {
    /// Cluster name.
    pub name: String,
    /// Its nodes, in id order.
    pub nodes: Vec<Node>,
    guests: RwLock<BTreeMap<u32, Guest>>,
    /// Every task run so far.
    pub tasks: Tasks,
    /// Backups written by vzdump.
    pub backups: crate::storage::Backups,
    started: Instant,
}

const GIB: u64 = 1024 * 1024 * 1024;
const WORDS: [&str; 16] = [
    "web", "db", "cache", "mail", "dns", "proxy", "build", "ci", "files", "backup", "monitor",
    "vpn", "git", "chat", "wiki", "media",
];
const TAGS: [&str; 6] = [
    "prod",
    "staging",
    "dev",
    "customer-a",
    "customer-b",
    "critical",
];
const POOLS: [&str; 3] = ["production", "staging", "lab"];

impl Cluster {
    /// Builds a cluster from `seed`; node `i` resolves to `ips[i]` (the last one repeats).
    pub fn new(seed: &Seed, ips: &[IpAddr]) -> Self {
        let mut rng = StdRng::seed_from_u64(seed.seed);
        let localhost = IpAddr::from([127, 0, 0, 1]);
        let nodes: Vec<Node> = (1..=seed.nodes.max(1))
            .map(|i| Node {
                name: format!("pve{i}"),
                id: u32::try_from(i).unwrap_or(u32::MAX),
                ip: ips.get(i - 1).or(ips.last()).copied().unwrap_or(localhost),
                maxcpu: 16,
                maxmem: 64 * GIB,
                maxdisk: 100 * GIB,
            })
            .collect();
        let guests = (0..seed.guests)
            .map(|i| {
                let vmid = 100 + u32::try_from(i).unwrap_or(u32::MAX - 100);
                let kind = if rng.random_ratio(1, 4) {
                    GuestKind::Lxc
                } else {
                    GuestKind::Qemu
                };
                let word = WORDS[rng.random_range(0..WORDS.len())];
                let tags = (0..rng.random_range(0..3))
                    .map(|_| TAGS[rng.random_range(0..TAGS.len())].to_owned())
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect();
                let guest = Guest {
                    vmid,
                    kind,
                    node: nodes[i % nodes.len()].name.clone(),
                    name: format!("{word}-{vmid}"),
                    running: rng.random_ratio(2, 3),
                    paused: false,
                    cores: [1, 2, 2, 4, 4, 8][rng.random_range(0..6)],
                    memory_mib: [512, 1024, 2048, 4096, 8192][rng.random_range(0..5)],
                    disk_gib: [8, 16, 32, 64, 128][rng.random_range(0..5)],
                    tags,
                    pool: rng
                        .random_ratio(1, 2)
                        .then(|| POOLS[rng.random_range(0..POOLS.len())].to_owned()),
                    template: rng.random_ratio(1, 40),
                    onboot: rng.random_ratio(1, 2),
                    description: String::new(),
                    boot_offset: rng.random_range(600..2_000_000),
                    snapshots: (0..rng.random_range(0..3))
                        .map(|n| Snapshot {
                            name: format!("before-upgrade-{}", n + 1),
                            description: format!("Taken before upgrade {}", n + 1),
                            snaptime: 1_760_000_000 + u64::from(vmid) * 60 + n * 86_400,
                            vmstate: kind == GuestKind::Qemu && n == 0,
                        })
                        .collect(),
                };
                (vmid, guest)
            })
            .collect();
        Self {
            name: seed.name.clone(),
            nodes,
            guests: RwLock::new(guests),
            tasks: Tasks::default(),
            backups: crate::storage::Backups::default(),
            started: Instant::now(),
        }
    }

    /// The node called `name`.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// Seconds since the simulator started.
    pub fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Seconds since the cluster "booted".
    pub fn uptime(&self) -> u64 {
        self.started.elapsed().as_secs() + 86_400
    }

    /// A CPU load between 2 % and 40 % that drifts with time, different per node.
    pub fn node_cpu(&self, node: &Node) -> f64 {
        let t = self.elapsed() / 30.0 + f64::from(node.id);
        0.21 + 0.19 * t.sin()
    }

    /// Used memory that drifts between 30 % and 60 % of the node's memory.
    pub fn node_mem(&self, node: &Node) -> u64 {
        let t = self.elapsed() / 45.0 + f64::from(node.id) * 2.0;
        let share = 0.45 + 0.15 * t.cos();
        (node.maxmem as f64 * share) as u64
    }

    /// Runs `f` over every guest, in VMID order, under the read lock.
    pub fn with_guests<T>(&self, f: impl FnOnce(&mut dyn Iterator<Item = &Guest>) -> T) -> T {
        let guests = self.guests.read().unwrap_or_else(|e| e.into_inner());
        f(&mut guests.values())
    }

    /// Applies `change` to the guest `vmid`, if it still exists.
    pub fn update_guest(&self, vmid: u32, change: impl FnOnce(&mut Guest)) {
        let mut guests = self.guests.write().unwrap_or_else(|e| e.into_inner());
        if let Some(guest) = guests.get_mut(&vmid) {
            change(guest);
        }
    }

    /// The lowest free VMID at or above 100.
    pub fn next_vmid(&self) -> u32 {
        let guests = self.guests.read().unwrap_or_else(|e| e.into_inner());
        (100..)
            .find(|id| !guests.contains_key(id))
            .unwrap_or(u32::MAX)
    }

    /// Whether `vmid` is taken.
    pub fn vmid_taken(&self, vmid: u32) -> bool {
        let guests = self.guests.read().unwrap_or_else(|e| e.into_inner());
        guests.contains_key(&vmid)
    }

    /// Adds `guest` unless its VMID is taken; returns whether it was added.
    pub fn insert_guest(&self, guest: Guest) -> bool {
        let mut guests = self.guests.write().unwrap_or_else(|e| e.into_inner());
        if guests.contains_key(&guest.vmid) {
            return false;
        }
        guests.insert(guest.vmid, guest);
        true
    }

    /// A copy of the guest `vmid`, if it exists.
    pub fn guest(&self, vmid: u32) -> Option<Guest> {
        let guests = self.guests.read().unwrap_or_else(|e| e.into_inner());
        guests.get(&vmid).cloned()
    }
}

//! The simulated cluster's state: its name and nodes, with figures that move plausibly.

use std::net::IpAddr;
use std::time::Instant;

/// One cluster node.
#[derive(Debug, Clone)]
pub struct Node {
    /// Node name (`pve1`, ...).
    pub name: String,
    /// Corosync node id, from 1.
    pub id: u32,
    /// Address the node resolves to.
    pub ip: IpAddr,
    /// Whether the node is up.
    pub online: bool,
    /// CPU threads.
    pub maxcpu: u32,
    /// Memory in bytes.
    pub maxmem: u64,
}

/// A cluster of nodes.
#[derive(Debug)]
pub struct Cluster {
    /// Cluster name.
    pub name: String,
    /// Its nodes, in id order.
    pub nodes: Vec<Node>,
    started: Instant,
}

impl Cluster {
    /// A cluster of `count` online nodes, all reachable at `ip`.
    pub fn new(name: &str, count: usize, ip: IpAddr) -> Self {
        let nodes = (1..=count.max(1))
            .map(|i| Node {
                name: format!("pve{i}"),
                id: u32::try_from(i).unwrap_or(u32::MAX),
                ip,
                online: true,
                maxcpu: 16,
                maxmem: 64 * 1024 * 1024 * 1024,
            })
            .collect();
        Self {
            name: name.to_owned(),
            nodes,
            started: Instant::now(),
        }
    }

    /// Seconds since the cluster "booted".
    pub fn uptime(&self) -> u64 {
        self.started.elapsed().as_secs() + 86_400
    }

    /// A CPU load between 2 % and 40 % that drifts with time, different per node.
    pub fn cpu(&self, node: &Node) -> f64 {
        let t = self.started.elapsed().as_secs_f64() / 30.0 + f64::from(node.id);
        0.21 + 0.19 * t.sin()
    }

    /// Used memory that drifts between 30 % and 60 % of the node's memory.
    pub fn mem(&self, node: &Node) -> u64 {
        let t = self.started.elapsed().as_secs_f64() / 45.0 + f64::from(node.id) * 2.0;
        let share = 0.45 + 0.15 * t.cos();
        (node.maxmem as f64 * share) as u64
    }
}

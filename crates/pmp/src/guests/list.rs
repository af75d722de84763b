//! Guest listing across every server: search, filters (server, node, status, tag, pool,
//! type), sort and paging done here, on the inventory cache, and only over the guests the
//! caller may see, so counts and pages never reveal anyone else's.

use serde::{Deserialize, Serialize};

use crate::access::{Grants, Privilege};
use crate::ids::ServerId;
use crate::inventory::{GuestRow, Inventory, visible};

/// Most rows one page holds.
pub const MAX_PER_PAGE: usize = 500;

/// What the caller asked for.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Query {
    #[serde(default)]
    pub q: Option<String>,
    #[serde(default)]
    pub server: Option<String>,
    #[serde(default)]
    pub node: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub tag: Option<String>,
    #[serde(default)]
    pub pool: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub sort: Option<String>,
    #[serde(default)]
    pub desc: Option<bool>,
    #[serde(default)]
    pub page: Option<usize>,
    #[serde(default)]
    pub per_page: Option<usize>,
}

/// One page.
#[derive(Debug, Serialize)]
pub struct Page {
    pub items: Vec<GuestRow>,
    /// Matching guests the caller may see, over all pages.
    pub total: usize,
    pub page: usize,
    pub per_page: usize,
}

fn matches(row: &GuestRow, query: &Query) -> bool {
    let same = |want: &Option<String>, have: &str| {
        want.as_deref().is_none_or(|w| w.is_empty() || w == have)
    };
    let search = query
        .q
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(str::to_lowercase);
    same(&query.server, &row.server)
        && same(&query.node, &row.node)
        && same(&query.status, &row.status)
        && same(&query.kind, row.kind)
        && same(&query.pool, row.pool.as_deref().unwrap_or_default())
        && query
            .tag
            .as_deref()
            .is_none_or(|t| t.is_empty() || row.tags.iter().any(|have| have == t))
        && search.is_none_or(|q| row.name.to_lowercase().contains(&q) || row.vmid.to_string() == q)
}

/// The page of guests `query` asks for, among those `grants` may see.
pub fn page(inventory: &Inventory, grants: &Grants, query: &Query) -> Page {
    let servers = inventory.all();
    let mut rows: Vec<&GuestRow> = Vec::new();
    for (id, state) in &servers {
        // Granted on the whole server (or everything): no guest needs its own check.
        let everyone = ServerId::parse(id)
            .is_ok_and(|s| grants.below_server(&s).contains(Privilege::GuestView));
        rows.extend(
            state
                .guests
                .iter()
                .filter(|row| matches(row, query) && (everyone || visible(grants, row))),
        );
    }
    match query.sort.as_deref().unwrap_or("server") {
        "name" => rows.sort_by_cached_key(|r| r.name.to_lowercase()),
        "status" => rows.sort_by(|a, b| a.status.cmp(&b.status)),
        "node" => rows.sort_by(|a, b| a.node.cmp(&b.node)),
        "cpu" => rows.sort_by(|a, b| a.cpu.total_cmp(&b.cpu)),
        "mem" => rows.sort_by_key(|r| r.mem),
        "vmid" => rows.sort_by_key(|r| r.vmid),
        // "server" (the default): already in server and VMID order, as the inventory keeps it.
        _ => {}
    }
    if query.desc == Some(true) {
        rows.reverse();
    }
    let per_page = query.per_page.unwrap_or(50).clamp(1, MAX_PER_PAGE);
    let page = query.page.unwrap_or(1).max(1);
    let total = rows.len();
    let items = rows
        .into_iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .cloned()
        .collect();
    Page {
        items,
        total,
        page,
        per_page,
    }
}

//! `authorize()` cost: ns per check against a principal holding 10,000 ACL entries (guests,
//! pools, nodes and servers across two servers), as a ratio against the same check with a
//! single entry (the baseline) measured in the same run; and the time to load those 10,000
//! entries from SQLite, which happens once per request.
//!
//! `cargo bench -p pmp --bench authorize`

// A benchmark fails loudly on purpose; a panic is the run failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Instant;

use pmp::access::{AclPath, Grant, Grants, PrivSet, Privilege, Target};
use pmp::ids::{GuestRef, Node, PoolId, ServerId, Vmid};

const ENTRIES: u32 = 10_000;
const CHECKS: u32 = 1_000_000;

fn entry(i: u32) -> Grant {
    let server = if i.is_multiple_of(2) { "lab" } else { "prod" };
    let path = match i % 10 {
        0 => format!("/pools/{server}/pool{i}"),
        1 => format!("/servers/{server}/nodes/node{i}"),
        _ => format!("/guests/{server}/{}", 100 + i),
    };
    Grant {
        entry_id: i.to_string(),
        path: AclPath::parse(&path).unwrap(),
        propagate: i.is_multiple_of(3),
        role_id: "tenant".to_owned(),
        privileges: PrivSet::of(&[Privilege::GuestView, Privilege::GuestPower]),
        via_group: None,
    }
}

fn target(i: u32) -> Target {
    let server = if i.is_multiple_of(2) { "lab" } else { "prod" };
    Target::Guest {
        guest: GuestRef {
            server: ServerId::parse(server).unwrap(),
            vmid: Vmid::parse(&(100 + i % 20_000).to_string()).unwrap(),
        },
        node: Some(Node::parse(&format!("node{}", i % 2000)).unwrap()),
        pool: Some(PoolId::parse(&format!("pool{}", i % 2000)).unwrap()),
    }
}

fn ns_per_check(grants: &Grants, targets: &[Target]) -> (f64, u32) {
    let mut allowed = 0;
    let started = Instant::now();
    for i in 0..CHECKS {
        let t = &targets[i as usize % targets.len()];
        if black_box(grants)
            .privileges_at(t)
            .contains(Privilege::GuestPower)
        {
            allowed += 1;
        }
    }
    (
        started.elapsed().as_nanos() as f64 / f64::from(CHECKS),
        allowed,
    )
}

#[tokio::main]
async fn main() {
    let targets: Vec<Target> = (0..4096).map(target).collect();
    let big = Grants::new((0..ENTRIES).map(entry).collect());
    let small = Grants::new(vec![entry(2)]);
    let (baseline, _) = ns_per_check(&small, &targets);
    let (cost, allowed) = ns_per_check(&big, &targets);
    let authorized = (0..CHECKS)
        .filter(|i| {
            big.authorize(Privilege::GuestPower, targets[*i as usize % 4096].clone())
                .is_ok()
        })
        .count();
    assert_eq!(
        authorized, allowed as usize,
        "authorize agrees with privileges_at"
    );

    // Loading the same 10,000 entries from SQLite, as every request does.
    let dir = tempfile::tempdir().unwrap();
    let url: pmp::db::DatabaseUrl = format!("sqlite://{}", dir.path().join("bench.db").display())
        .parse()
        .unwrap();
    let settings = pmp::db::PoolSettings {
        max_connections: 2,
        connect_timeout: std::time::Duration::from_secs(5),
    };
    let db = pmp::db::Db::connect(&url, settings).await.unwrap();
    db.migrate().await.unwrap();
    pmp::access::store::seed_builtin_roles(&db).await.unwrap();
    let name = pmp::identity::users::Username::parse("tenant").unwrap();
    let user = pmp::identity::users::create(&db, &name, "x", false, false)
        .await
        .unwrap();
    for i in 0..ENTRIES {
        let grant = entry(i);
        pmp::access::admin::add_entry(
            &db,
            pmp::access::admin::Principal::User(&user.id),
            &grant.path.to_string(),
            "tenant",
            grant.propagate,
        )
        .await
        .unwrap();
    }
    let rounds = 20;
    let started = Instant::now();
    for _ in 0..rounds {
        black_box(pmp::access::store::grants_of(&db, &user.id).await.unwrap());
    }
    let load_ms = started.elapsed().as_secs_f64() * 1000.0 / f64::from(rounds);
    let started = Instant::now();
    for _ in 0..rounds {
        black_box(pmp::identity::users::by_id(&db, &user.id).await.unwrap());
    }
    let user_ms = started.elapsed().as_secs_f64() * 1000.0 / f64::from(rounds);
    db.close().await;

    println!("authorize benchmark ({ENTRIES} ACL entries, {CHECKS} checks, {allowed} allowed)");
    println!("  check with 1 entry (baseline): {baseline:.1} ns");
    println!(
        "  check with {ENTRIES} entries:      {cost:.1} ns (x{:.2})",
        cost / baseline
    );
    println!(
        "  load {ENTRIES} entries from SQLite: {load_ms:.2} ms per request (one user lookup: {user_ms:.3} ms, x{:.0})",
        load_ms / user_ms
    );
}

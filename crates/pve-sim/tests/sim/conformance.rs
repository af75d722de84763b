//! Conformance: every endpoint the simulator serves, called over real HTTPS, checked against
//! the official PVE API schema in `../shared/reference/pve-api-schema.json`: the path and
//! method exist, every returned property is declared with the schema's type, required
//! properties are present, and parameters are refused as PVE refuses them.

use std::path::PathBuf;

use serde_json::Value;

use crate::support::Sim;

fn schema() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/reference/pve-api-schema.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("the PVE API schema is expected at {} ({e})", path.display()));
    serde_json::from_str(&text).expect("schema is JSON")
}

/// The schema node for `path`, walking the tree of `children`.
fn find<'a>(nodes: &'a Value, path: &str) -> Option<&'a Value> {
    nodes.as_array()?.iter().find_map(|node| {
        if node["path"] == path {
            Some(node)
        } else {
            find(&node["children"], path)
        }
    })
}

#[derive(Default)]
struct Report {
    properties: usize,
    violations: Vec<String>,
}

fn type_matches(value: &Value, kind: &str) -> bool {
    match kind {
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        // PVE sends booleans as 0/1 integers.
        "boolean" => value.is_boolean() || value.as_u64().is_some_and(|n| n <= 1),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "null" => value.is_null(),
        _ => true,
    }
}

fn check(value: &Value, schema: &Value, at: &str, report: &mut Report) {
    if let Some(kind) = schema["type"].as_str()
        && !type_matches(value, kind)
    {
        report
            .violations
            .push(format!("{at}: expected {kind}, got {value}"));
        return;
    }
    if let (Some(items), Some(values)) = (schema.get("items"), value.as_array()) {
        for (i, item) in values.iter().enumerate() {
            check(item, items, &format!("{at}[{i}]"), report);
        }
    }
    let (Some(declared), Some(object)) = (schema["properties"].as_object(), value.as_object())
    else {
        return;
    };
    // An object whose properties the schema leaves empty (rrddata points) declares nothing,
    // so it cannot be held against what PVE sends in it.
    let open = schema["additionalProperties"] == 1
        || schema["additionalProperties"] == true
        || declared.is_empty();
    for (key, item) in object {
        report.properties += 1;
        // Indexed keys (`net0`, `scsi1`) are declared once as `net[n]`, `scsi[n]`.
        let indexed = format!("{}[n]", key.trim_end_matches(|c: char| c.is_ascii_digit()));
        match declared.get(key).or_else(|| declared.get(&indexed)) {
            Some(property) => check(item, property, &format!("{at}.{key}"), report),
            None if open => {}
            None => report
                .violations
                .push(format!("{at}.{key}: not declared in the schema")),
        }
    }
    for (key, property) in declared {
        let optional = property["optional"] == 1 || property["optional"] == true;
        if !optional && !object.contains_key(key) {
            report
                .violations
                .push(format!("{at}.{key}: required but missing"));
        }
    }
}

/// PVE's refusals of an action in the guest's current state.
const STATE_REFUSALS: [&str; 4] = [
    "already running",
    "not running",
    "is not suspended",
    "is a template",
];

#[tokio::test]
async fn every_endpoint_answers_as_the_schema_says() {
    let schema = schema();
    let sim = Sim::start().await;
    let qemu = sim.guest_on_pve1("qemu", true).await;
    let lxc = sim.guest_on_pve1("lxc", true).await;
    let (_, started) = sim
        .post(&format!("/nodes/pve1/qemu/{qemu}/status/suspend"))
        .await;
    let upid = started["data"].as_str().expect("a UPID").to_owned();
    sim.wait(&upid).await;
    for (kind, id) in [("qemu", qemu), ("lxc", lxc)] {
        let create = format!("/nodes/pve1/{kind}/{id}/snapshot?snapname=conform");
        let (_, body) = sim.post(&create).await;
        sim.wait(body["data"].as_str().expect("a UPID")).await;
    }

    let mut report = Report::default();
    let mut posts_answered = 0;
    let endpoints = pve_sim::endpoints();
    for endpoint in &endpoints {
        let node = find(&schema, endpoint.path)
            .unwrap_or_else(|| panic!("{} is not a path in the PVE schema", endpoint.path));
        let method = node["info"]
            .get(endpoint.method.as_str())
            .unwrap_or_else(|| {
                panic!("{} {} is not in the schema", endpoint.method, endpoint.path)
            });
        let vmid = if endpoint.path.contains("/lxc/") {
            lxc
        } else {
            qemu
        };
        let path = endpoint
            .path
            .replace("{node}", "pve1")
            .replace("{vmid}", &vmid.to_string())
            .replace("{upid}", &upid)
            .replace("{snapname}", "conform")
            .replace("{storage}", "local");
        let path = match endpoint.path {
            p if p.ends_with("/clone") => format!("{path}?newid={}", 900 + vmid),
            p if p.ends_with("/rrddata") => format!("{path}?timeframe=hour&cf=MAX"),
            "/nodes/{node}/vzdump" => format!("{path}?vmid={qemu}&storage=local&compress=zstd"),
            "/pools" => format!("{path}?poolid=lab"),
            "/access/ticket" => format!(
                "{path}?username=root@pam&password={}",
                sim.sim.root_password()
            ),
            p if p.ends_with("/snapshot") && endpoint.method == reqwest::Method::POST => {
                format!("{path}?snapname=walk")
            }
            p if p.ends_with("/migrate") => format!("{path}?target=pve2&online=1&restart=1")
                .replace(
                    "&online=1&restart=1",
                    if p.contains("/lxc/") {
                        "&restart=1"
                    } else {
                        "&online=1"
                    },
                ),
            _ => path,
        };
        let (status, body) = sim.call(endpoint.method.clone(), &path).await;
        if endpoint.method != reqwest::Method::GET && status == 500 {
            // An action the guest's current state does not allow, refused as PVE does.
            let message = body["message"].as_str().unwrap_or_default();
            assert!(
                STATE_REFUSALS.iter().any(|r| message.contains(r)),
                "{path}: {body}"
            );
            continue;
        }
        assert_eq!(status, 200, "{endpoint:?} {path}: {body}");
        posts_answered += usize::from(endpoint.method != reqwest::Method::GET);
        check(&body["data"], &method["returns"], &path, &mut report);
    }
    println!(
        "conformance: {} endpoints ({posts_answered} actions answered), {} returned properties checked against the schema",
        endpoints.len(),
        report.properties
    );
    assert!(
        posts_answered >= 6,
        "too few actions were accepted to check"
    );
    assert!(report.properties > 100, "too little was checked");
    assert!(
        report.violations.is_empty(),
        "{}",
        report.violations.join("\n")
    );
}

/// The schema's `permissions` of a method as the simulator's [`pve_sim::Check`] writes it.
fn declared_check(permissions: &Value) -> String {
    match (
        permissions["user"].as_str(),
        permissions["check"].as_array(),
    ) {
        (Some("world"), _) => "World".to_owned(),
        (Some("all"), _) => "User".to_owned(),
        (_, Some(check)) if check[0] == "and" || check[0] == "or" => "Custom".to_owned(),
        (_, Some(check)) if check[0] == "perm" => {
            let privs: Vec<&str> = check[2]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let any = check.get(3).and_then(Value::as_str) == Some("any");
            let kind = if any { "Any" } else { "All" };
            format!(
                "{kind}({:?}, {privs:?})",
                check[1].as_str().unwrap_or_default()
            )
        }
        _ => format!("unsupported: {permissions}"),
    }
}

#[test]
fn every_endpoint_checks_the_permission_the_schema_declares() {
    let schema = schema();
    let endpoints = pve_sim::endpoints();
    for endpoint in &endpoints {
        let node = find(&schema, endpoint.path).expect("a schema path");
        let permissions = &node["info"][endpoint.method.as_str()]["permissions"];
        assert_eq!(
            format!("{:?}", endpoint.check),
            declared_check(permissions),
            "{} {}",
            endpoint.method,
            endpoint.path
        );
    }
    println!(
        "permissions: {} endpoints match the schema",
        endpoints.len()
    );
}

#[tokio::test]
async fn required_parameters_are_enforced_as_the_schema_declares() {
    let schema = schema();
    let sim = Sim::start().await;
    let mut checked = 0;
    for endpoint in pve_sim::endpoints() {
        let node = find(&schema, endpoint.path).expect("a schema path");
        let params = &node["info"][endpoint.method.as_str()]["parameters"]["properties"];
        let required: Vec<&String> = params
            .as_object()
            .map(|p| {
                p.iter()
                    .filter(|(name, spec)| {
                        spec["optional"] != 1 && !endpoint.path.contains(&format!("{{{name}}}"))
                    })
                    .map(|(name, _)| name)
                    .collect()
            })
            .unwrap_or_default();
        if required.is_empty() {
            continue;
        }
        let path = endpoint
            .path
            .replace("{node}", "pve1")
            .replace("{vmid}", "100")
            .replace("{storage}", "local");
        let (status, body) = sim.call(endpoint.method.clone(), &path).await;
        assert_eq!(status, 400, "{} {path}: {body}", endpoint.method);
        for name in &required {
            let missing = body["errors"][name.as_str()].as_str().unwrap_or_default();
            assert!(
                missing.contains("property is missing"),
                "{name} on {path}: {body}"
            );
        }
        checked += 1;
    }
    println!("required parameters: {checked} endpoints refuse a call without them");
    assert!(checked >= 8);
}

#[tokio::test]
async fn parameters_are_refused_as_pve_refuses_them() {
    let sim = Sim::start().await;
    for endpoint in pve_sim::endpoints() {
        let path = endpoint
            .path
            .replace("{node}", "pve1")
            .replace("{vmid}", "100")
            .replace(
                "{upid}",
                "UPID:pve1:00001234:00ABCDEF:6745A1C2:qmstart:100:root@pam:",
            )
            .replace("{snapname}", "x");
        let (status, body) = sim.call(endpoint.method, &format!("{path}?bogus=1")).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["message"], "Parameter verification failed.");
        assert!(
            body["errors"]["bogus"]
                .as_str()
                .unwrap()
                .contains("not defined in schema")
        );
    }
    let (status, body) = sim.get("/cluster/resources?type=bogus").await;
    assert_eq!(status, 400);
    assert!(
        body["errors"]["type"]
            .as_str()
            .unwrap()
            .contains("enumeration")
    );
    let (status, body) = sim.get("/nodes/pve1/qemu/abc/status/current").await;
    assert_eq!(status, 400);
    assert!(
        body["errors"]["vmid"]
            .as_str()
            .unwrap()
            .contains("type check ('integer') failed")
    );
    let (status, body) = sim.get("/nodes/nowhere/qemu").await;
    assert_eq!(status, 500);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("hostname lookup 'nowhere' failed")
    );
    let (status, body) = sim.get("/nodes/pve1/qemu/99999/status/current").await;
    assert_eq!(status, 500);
    assert_eq!(
        body["message"],
        "Configuration file 'nodes/pve1/qemu-server/99999.conf' does not exist"
    );
    let (status, _) = sim.get("/nodes/pve1/no-such-thing").await;
    assert_eq!(status, 501);
}

#[tokio::test]
async fn guests_are_found_only_on_their_own_node_and_seeds_are_reproducible() {
    let sim = Sim::start().await;
    let qemu = sim.guest_on_pve1("qemu", true).await;
    let (status, body) = sim
        .get(&format!("/nodes/pve2/qemu/{qemu}/status/current"))
        .await;
    assert_eq!(status, 500, "{body}");
    let (status, body) = sim
        .get(&format!("/nodes/pve1/lxc/{qemu}/status/current"))
        .await;
    assert_eq!(status, 500, "a VM is not a container: {body}");

    let (_, first) = sim.get("/cluster/resources?type=vm").await;
    let again = Sim::start().await;
    let (_, second) = again.get("/cluster/resources?type=vm").await;
    let names = |body: &Value| -> Vec<Value> {
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].clone())
            .collect()
    };
    assert_eq!(names(&first), names(&second));
    assert_eq!(first["data"].as_array().unwrap().len(), 20);
}

#[tokio::test]
async fn guest_config_snapshots_and_nextid_read_like_pve() {
    let sim = Sim::start().await;
    let vmid = sim.guest_on_pve1("qemu", true).await;
    let (_, config) = sim.get(&format!("/nodes/pve1/qemu/{vmid}/config")).await;
    let config = &config["data"];
    let digest = config["digest"].as_str().unwrap();
    assert_eq!(digest.len(), 40);
    assert!(
        config["net0"]
            .as_str()
            .unwrap()
            .starts_with("virtio=BC:24:11:")
    );
    let (_, again) = sim.get(&format!("/nodes/pve1/qemu/{vmid}/config")).await;
    assert_eq!(again["data"]["digest"], digest, "the digest is stable");

    let (_, snapshots) = sim.get(&format!("/nodes/pve1/qemu/{vmid}/snapshot")).await;
    let list = snapshots["data"].as_array().unwrap();
    let current = list.last().unwrap();
    assert_eq!(current["name"], "current");
    assert_eq!(current["description"], "You are here!");
    if list.len() > 1 {
        assert_eq!(current["parent"], list[list.len() - 2]["name"]);
        assert_eq!(config["parent"], current["parent"]);
    }
    let (status, body) = sim
        .get(&format!("/nodes/pve1/qemu/{vmid}/config?snapshot=nope"))
        .await;
    assert_eq!(status, 500);
    assert_eq!(body["message"], "snapshot 'nope' does not exist");

    let (_, next) = sim.get("/cluster/nextid").await;
    assert_eq!(
        next["data"], 120,
        "the default scenario has VMIDs 100 to 119"
    );
    let (status, body) = sim.get("/cluster/nextid?vmid=100").await;
    assert_eq!(status, 400);
    assert_eq!(body["message"], "VM 100 already exists");
    let (status, _) = sim.get("/cluster/nextid?vmid=500").await;
    assert_eq!(status, 200);
}

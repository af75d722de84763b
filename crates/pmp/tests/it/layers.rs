//! The layer order of `crates/pmp/src`, as `docs/architecture.md` draws it, enforced on the
//! source: every `crate::` path names a top-level module, and a module may only name modules on
//! its own layer or below, never in a loop. There is no list of exceptions: a module that needs
//! something from above is in the wrong place.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Lowest first. Keep in step with `docs/architecture.md`.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "foundation",
        &[
            "ids",
            "db",
            "config",
            "secrets",
            "settings",
            "logging",
            "telemetry",
        ],
    ),
    ("plumbing", &["ui", "http"]),
    ("who and what may be done", &["access", "audit", "identity"]),
    ("core features", &["inventory", "servers", "jobs", "admin"]),
    (
        "features on guests",
        &["guests", "schedules", "alerts", "health"],
    ),
    ("pages", &["web"]),
    ("the application", &["app", "backup", "sealed", "demo"]),
];

/// Every `.rs` file under `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The top-level module a source file belongs to (`None` for the crate roots).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel.components().next()?.as_os_str().to_str()?.to_owned();
    let name = first.trim_end_matches(".rs").to_owned();
    (name != "lib" && name != "main").then_some(name)
}

/// The names that follow `crate::` in `code`: `crate::a::b` gives `a`, `crate::{a, b::c}`
/// gives `a` and `b`. `$crate` (inside a macro) names the crate root, not a module.
fn named(code: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let macro_root = rest[..at].ends_with('$');
        let after = &rest[at + "crate::".len()..];
        rest = after;
        if macro_root {
            continue;
        }
        if let Some(group) = after.strip_prefix('{') {
            let mut depth = 0;
            let mut current = String::new();
            for ch in group.chars() {
                match ch {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        names.push(std::mem::take(&mut current));
                        continue;
                    }
                    _ => {}
                }
                current.push(ch);
            }
            names.push(current);
        } else {
            names.push(after.to_owned());
        }
    }
    names
        .into_iter()
        .filter_map(|n| {
            let head: String = n
                .trim_start()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            (!head.is_empty() && head != "self").then_some(head)
        })
        .collect()
}

/// The code of a file without its comment lines (doc comments may name any module).
fn code(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// module -> module it names -> where (file:line), for every top-level module.
type Graph = BTreeMap<String, BTreeMap<String, String>>;

fn graph(src: &Path) -> Graph {
    let files = sources(src);
    // Exported macros live at the crate root; they belong to the module that defines them.
    let mut macros = BTreeMap::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        if let (Some(module), true) = (module_of(src, file), text.contains("#[macro_export]")) {
            for part in text.split("macro_rules!").skip(1) {
                let name: String = part
                    .trim_start()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                macros.insert(name, module.clone());
            }
        }
    }
    let mut graph = Graph::new();
    for file in &files {
        let Some(module) = module_of(src, file) else {
            continue;
        };
        let text = code(&std::fs::read_to_string(file).unwrap());
        let edges = graph.entry(module.clone()).or_default();
        for (number, line) in text.lines().enumerate() {
            for name in named(line) {
                let target = macros.get(&name).cloned().unwrap_or(name);
                if target != module {
                    let rel = file.strip_prefix(src).unwrap().display();
                    edges
                        .entry(target)
                        .or_insert_with(|| format!("{rel}:{}", number + 1));
                }
            }
        }
    }
    graph
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS
        .iter()
        .position(|(_, modules)| modules.contains(&module))
}

/// The problems `graph` has: unplaced modules, imports upwards, and loops.
fn violations(graph: &Graph) -> Vec<String> {
    let mut found = Vec::new();
    for (module, edges) in graph {
        let Some(own) = layer_of(module) else {
            found.push(format!(
                "`{module}` is on no layer: place it in LAYERS and docs/architecture.md"
            ));
            continue;
        };
        for (target, at) in edges {
            match layer_of(target) {
                Some(theirs) if theirs > own => found.push(format!(
                    "{at}: `{module}` ({}) imports `{target}`, on the higher layer {}",
                    LAYERS[own].0, LAYERS[theirs].0
                )),
                _ => {}
            }
        }
    }
    // Loops: a depth-first walk that meets a module still on its path.
    fn walk(
        graph: &Graph,
        module: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        found: &mut Vec<String>,
    ) {
        if let Some(start) = path.iter().position(|m| m == module) {
            let mut cycle = path[start..].to_vec();
            cycle.push(module.to_owned());
            let steps: Vec<String> = cycle
                .windows(2)
                .map(|w| format!("{} -> {} ({})", w[0], w[1], graph[&w[0]][&w[1]]))
                .collect();
            found.push(format!("import loop: {}", steps.join(", ")));
            return;
        }
        if !done.insert(module.to_owned()) {
            return;
        }
        path.push(module.to_owned());
        for target in graph.get(module).into_iter().flat_map(|e| e.keys()) {
            walk(graph, target, path, done, found);
        }
        path.pop();
    }
    let mut done = BTreeSet::new();
    for module in graph.keys() {
        walk(graph, module, &mut Vec::new(), &mut done, &mut found);
    }
    found
}

#[test]
fn modules_import_only_their_own_layer_or_below_and_never_in_a_loop() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = graph(&src);
    for (module, edges) in &graph {
        let targets: Vec<&str> = edges.keys().map(String::as_str).collect();
        println!("{module} -> {}", targets.join(", "));
    }
    let found = violations(&graph);
    assert!(found.is_empty(), "layering broken:\n{}", found.join("\n"));
}

#[test]
fn the_check_sees_imports_upwards_and_loops() {
    let mut graph = Graph::new();
    let edge = |g: &mut Graph, a: &str, b: &str| {
        g.entry(a.into())
            .or_default()
            .insert(b.into(), format!("{a}/x.rs:1"));
    };
    edge(&mut graph, "http", "guests");
    edge(&mut graph, "servers", "inventory");
    edge(&mut graph, "inventory", "servers");
    edge(&mut graph, "nowhere", "db");
    let found = violations(&graph).join("\n");
    assert!(
        found.contains("`http` (plumbing) imports `guests`"),
        "{found}"
    );
    assert!(
        found.contains("import loop: inventory -> servers"),
        "{found}"
    );
    assert!(found.contains("`nowhere` is on no layer"), "{found}");
    assert_eq!(
        named("use crate::{ids::ServerId, http::{AppError, Client}};\n$crate::db::x"),
        vec!["ids", "http"]
    );
}

//! Fingerprints the files under `static/` so they can be served under content-hashed names
//! with a one-year immutable cache: a changed file gets a new name, never a stale copy.
//! Also makes a new migration file trigger a rebuild.

use std::fmt::Write as _;
use std::path::Path;

use sha2::{Digest, Sha256};

fn content_type(ext: &str) -> &'static str {
    match ext {
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn main() -> std::io::Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("static");
    println!("cargo:rerun-if-changed={}", dir.display());
    // sqlx::migrate! embeds the migration folders at compile time; a new file must rebuild.
    println!("cargo:rerun-if-changed=migrations");
    let mut files: Vec<_> = std::fs::read_dir(&dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let mut out = String::from("&[\n");
    for path in files {
        let body = std::fs::read(&path)?;
        let digest = hex::encode(Sha256::digest(&body));
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let (stem, ext) = name.rsplit_once('.').unwrap_or((name, ""));
        let hashed = format!("{stem}.{}.{ext}", &digest[..12]);
        let _ = writeln!(
            out,
            "    Asset {{ name: {name:?}, hashed: {hashed:?}, url: {url:?}, content_type: {ct:?}, body: include_bytes!({path:?}) }},",
            url = format!("/static/{hashed}"),
            ct = content_type(ext),
            path = path.display().to_string(),
        );
    }
    out.push(']');
    let target = Path::new(&std::env::var("OUT_DIR").unwrap_or_default()).join("assets.rs");
    std::fs::write(target, out)
}

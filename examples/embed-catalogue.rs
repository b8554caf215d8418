//! Regenerates `data/download-metadata.cpython.json`, the catalogue embedded in pyswap, from an
//! upstream `download-metadata.json`:
//!
//! ```text
//! cargo run --example embed-catalogue -- data/upstream/download-metadata.json
//! ```

use std::path::Path;

fn main() -> anyhow::Result<()> {
    let src = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "data/upstream/download-metadata.json".into());
    let text = fs_read(&src)?;
    let subset = pyswap::catalogue::cpython_subset(&text)?;
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/download-metadata.cpython.json");
    std::fs::write(&out, subset)?;
    eprintln!("wrote {}", out.display());
    Ok(())
}

fn fs_read(path: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read {path}: {e}"))
}

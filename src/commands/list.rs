//! `pyswap list [--installed]` and `pyswap list --available`.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use crate::output::human_bytes;
use crate::settings::Settings;
use crate::store::Store;

#[derive(Serialize)]
struct Available {
    key: String,
    version: String,
    build: Option<String>,
    url: String,
    installed: bool,
}

#[derive(Serialize)]
struct Installed {
    name: String,
    version: String,
    platform: String,
    store_path: String,
    bytes: u64,
    files: u64,
    generations: Vec<String>,
}

pub fn available(s: &Settings, pre: bool) -> anyhow::Result<()> {
    let platform = s.platform()?;
    let catalogue = super::load_catalogue(s, &s.fetcher(), Some(&platform))?;
    let installed: Vec<String> = match super::open_ro(s)? {
        Some(db) => db
            .entries()?
            .into_iter()
            .map(|e| e.archive_sha256)
            .collect(),
        None => Vec::new(),
    };
    let mut rows: Vec<Available> = catalogue
        .entries
        .iter()
        .filter(|e| {
            e.implementation == "cpython"
                && e.os == platform.os
                && e.arch == platform.arch
                && e.libc == platform.libc
        })
        .filter(|e| pre || !e.version.is_prerelease())
        .map(|e| Available {
            installed: e.sha256.as_ref().is_some_and(|d| installed.contains(d)),
            key: e.key.clone(),
            version: e.version.to_string(),
            build: e.build.clone(),
            url: e.url.clone(),
        })
        .collect();
    rows.sort_by(|a, b| {
        let v = |r: &Available| crate::version::PythonVersion::parse(&r.version);
        v(b).cmp(&v(a)).then_with(|| a.key.cmp(&b.key))
    });
    if s.out.json {
        return s.out.json(&rows);
    }
    let mut t = String::new();
    for r in &rows {
        let _ = writeln!(
            t,
            "{:<44} {:<10} {}",
            r.key,
            r.build.as_deref().unwrap_or("-"),
            if r.installed { "installed" } else { "" }
        );
    }
    s.out.data(&t)?;
    Ok(())
}

pub fn installed(s: &Settings) -> anyhow::Result<()> {
    let Some(db) = super::open_ro(s)? else {
        return if s.out.json {
            s.out.json(&Vec::<Installed>::new())
        } else {
            s.out.say("nothing installed yet");
            Ok(())
        };
    };
    let mut users: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for g in db.all_generations()? {
        users
            .entry(g.entry_id)
            .or_default()
            .push(format!("{}:{}", g.profile, g.number));
    }
    let store = Store::new(s.home.store());
    let rows: Vec<Installed> = db
        .entries()?
        .into_iter()
        .map(|e| Installed {
            store_path: store.path(&e.name).display().to_string(),
            generations: users.remove(&e.id).unwrap_or_default(),
            name: e.name,
            version: e.version,
            platform: e.platform,
            bytes: e.bytes,
            files: e.files,
        })
        .collect();
    if s.out.json {
        return s.out.json(&rows);
    }
    let mut t = String::new();
    for r in &rows {
        let gens = if r.generations.is_empty() {
            "(unused)".to_owned()
        } else {
            r.generations.join(" ")
        };
        let _ = writeln!(
            t,
            "{:<10} {:>10}  {}  {gens}",
            r.version,
            human_bytes(r.bytes),
            r.name
        );
    }
    s.out.data(&t)?;
    Ok(())
}

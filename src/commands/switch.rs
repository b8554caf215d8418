//! `pyswap switch REQUEST`: resolve, install if needed, record a generation, activate it.

use serde::Serialize;

use crate::catalog::{CatalogError, Catalogue, Entry, Location};
use crate::crash;
use crate::db::{Db, GenerationRow};
use crate::fetch::Fetcher;
use crate::install;
use crate::output::{now_unix, rfc3339};
use crate::platform::Platform;
use crate::profile::Profiles;
use crate::settings::Settings;
use crate::version::{PythonVersion, Request, Variant};

#[derive(Serialize)]
struct Switched<'a> {
    profile: &'a str,
    generation: u64,
    version: &'a str,
    store_path: String,
    installed: bool,
    changed: bool,
    created: String,
}

pub fn run(s: &Settings, request: &str, pre: bool) -> anyhow::Result<()> {
    let request = Request::parse(request)?;
    let platform = s.platform()?;
    let mut db = super::open_rw(s)?;
    let _gc = super::gc_shared(s)?;
    let fetcher = s.fetcher();
    let catalogue = catalogue_for(s, &db, &fetcher, &request, &platform, pre)?;
    let entry = catalogue.resolve(&request, &platform, pre)?;
    let cache = s.download_cache();
    let opts = s.install_options(&cache);
    let installed = install::ensure(
        &s.home,
        &mut db,
        &fetcher,
        entry,
        &opts,
        || s.out.progress(&entry.key),
        &|note| s.out.say(note),
    )?;
    crash::point("switch:installed");

    let _profile = super::profile_lock(s)?;
    let profiles = Profiles::new(s.home.profiles());
    let current = match profiles.current(&s.profile)? {
        Some(n) => db.generation(&s.profile, n)?,
        None => None,
    };
    let (generation, changed) = match current {
        Some(g) if g.entry_id == installed.row.id => (g, false),
        _ => {
            let row = GenerationRow {
                profile: s.profile.clone(),
                number: 0,
                entry_id: installed.row.id,
                entry_name: installed.row.name.clone(),
                version: installed.row.version.clone(),
                request: request.to_string(),
                command: "switch".into(),
                created: now_unix(),
            };
            let n = db.add_generation(&row, |n| {
                profiles
                    .write_generation_link(&s.profile, n, &installed.row.name)
                    .map_err(|e| e.to_string())
            })?;
            crash::point("switch:generation-committed");
            profiles.activate(&s.profile, n)?;
            crash::point("switch:activated");
            db.unstage(installed.row.id)?;
            (GenerationRow { number: n, ..row }, true)
        }
    };
    let how = if installed.fresh {
        "installed and validated"
    } else {
        "already in the store"
    };
    if changed {
        s.out.say(&format!(
            "switched profile `{}` to generation {}: CPython {} ({how})",
            s.profile, generation.number, generation.version
        ));
    } else {
        s.out.say(&format!(
            "profile `{}` is already at CPython {} (generation {}); nothing changed",
            s.profile, generation.version, generation.number
        ));
    }
    s.out.json(&Switched {
        profile: &s.profile,
        generation: generation.number,
        version: &generation.version,
        store_path: installed.path.display().to_string(),
        installed: installed.fresh,
        changed,
        created: rfc3339(generation.created),
    })
}

/// The configured catalogue, or, when a remote one cannot be fetched and the request is
/// satisfied by a runtime already in the store, the store's own runtimes (with a warning).
fn catalogue_for(
    s: &Settings,
    db: &Db,
    fetcher: &Fetcher,
    request: &Request,
    platform: &Platform,
    pre: bool,
) -> anyhow::Result<Catalogue> {
    // A full key may name another platform: load everything so the error can say so.
    let narrow = request.key().is_none().then_some(platform);
    match super::load_catalogue(s, fetcher, narrow) {
        Err(err)
            if matches!(
                err.downcast_ref::<CatalogError>(),
                Some(CatalogError::Fetch(_) | CatalogError::NotCached { .. })
            ) =>
        {
            let installed = installed_catalogue(s, db)?;
            if installed.resolve(request, platform, pre).is_err() {
                return Err(err);
            }
            s.out.warn(&format!(
                "{err:#}; resolving `{request}` among the runtimes already installed"
            ));
            Ok(installed)
        }
        other => other,
    }
}

/// The runtimes in the store, as a catalogue (for resolving while the real one is unreachable).
fn installed_catalogue(s: &Settings, db: &Db) -> anyhow::Result<Catalogue> {
    let entries = db
        .entries()?
        .into_iter()
        .filter_map(|row| {
            let mut platform = row.platform.splitn(3, '-');
            let (os, arch, libc) = (platform.next()?, platform.next()?, platform.next()?);
            Some(Entry {
                implementation: row.catalogue_key.split('-').next()?.to_owned(),
                version: PythonVersion::parse(&row.version)?,
                variant: Variant::from_catalogue(
                    Some(row.variant.as_str()).filter(|v| !v.is_empty()),
                )?,
                os: os.to_owned(),
                arch: arch.to_owned(),
                libc: libc.to_owned(),
                key: row.catalogue_key,
                url: row.archive_url,
                sha256: Some(row.archive_sha256),
                build: row.build,
                size: None,
            })
        })
        .collect();
    Ok(Catalogue {
        source: Location::Path(s.home.db()),
        entries,
        warnings: Vec::new(),
    })
}

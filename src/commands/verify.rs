//! `pyswap verify [--repair]`: re-hash the store against the database, cross-check links, and
//! with `--repair` fix what can be fixed (see `verify` for what each finding means).

use serde::Serialize;

use crate::install;
use crate::lock::{self, Mode};
use crate::output::human_bytes;
use crate::profile::Profiles;
use crate::settings::Settings;
use crate::store::Store;
use crate::verify::{Findings, Kind, Problem, VerifyError, audit};

#[derive(Serialize)]
struct Verified {
    ok: bool,
    repair: bool,
    entries_checked: u64,
    files_hashed: u64,
    bytes_hashed: u64,
    problems: Vec<Problem>,
}

pub fn run(s: &Settings, repair: bool) -> anyhow::Result<()> {
    let Some(db) = super::open_ro(s)? else {
        s.out.say("nothing installed yet; nothing to verify");
        return report(s, repair, &Findings::default());
    };
    let _lock = lock::acquire(
        &s.home.locks().join("gc.lock"),
        Mode::Exclusive,
        s.lock_wait,
        &|| s.out.say("waiting for running pyswap commands to finish…"),
    )?;
    let started = std::time::Instant::now();
    let mut findings = audit(&s.home, &db)?;
    let took = started.elapsed();
    s.out.say(&format!(
        "checked {} store entr{} ({} files, {}) in {:.2}s",
        findings.entries,
        if findings.entries == 1 { "y" } else { "ies" },
        findings.files,
        human_bytes(findings.bytes),
        took.as_secs_f64()
    ));
    if repair {
        let fetcher = s.fetcher();
        let cache = s.download_cache();
        let opts = s.install_options(&cache);
        let store = Store::new(s.home.store());
        let profiles = Profiles::new(s.home.profiles());
        for p in &mut findings.problems {
            let fixed: anyhow::Result<()> = match p.kind {
                Kind::Corrupt | Kind::Missing => {
                    let name = p.entry.clone().unwrap_or_default();
                    match db.entry_by_name(&name)? {
                        Some(row) => install::restore(
                            &s.home,
                            &fetcher,
                            &row,
                            &opts,
                            &s.out.progress(&row.catalogue_key),
                            &|note| s.out.say(note),
                        )
                        .map(drop),
                        None => Ok(()),
                    }
                }
                Kind::Unregistered => store
                    .remove(p.entry.as_deref().unwrap_or_default())
                    .map_err(Into::into),
                Kind::BrokenLink => {
                    let (profile, n) = (
                        p.profile.clone().unwrap_or_default(),
                        p.generation.unwrap_or(0),
                    );
                    match db.generation(&profile, n)? {
                        Some(g) => profiles
                            .write_generation(&profile, n, &g.entry_name)
                            .map_err(Into::into),
                        None => Ok(()),
                    }
                }
                Kind::StrayLink => profiles
                    .remove_generation(
                        p.profile.as_deref().unwrap_or_default(),
                        p.generation.unwrap_or(0),
                    )
                    .map_err(Into::into),
                Kind::DanglingCurrent | Kind::Database => continue,
            };
            match fixed {
                Ok(()) => p.repaired = true,
                Err(e) => p.detail = format!("{}; repair failed: {e:#}", p.detail),
            }
        }
    }
    report(s, repair, &findings)
}

fn report(s: &Settings, repair: bool, f: &Findings) -> anyhow::Result<()> {
    for p in &f.problems {
        let state = if p.repaired { " (repaired)" } else { "" };
        s.out.warn(&format!(
            "{}: {}: {}{state}",
            p.kind.as_str(),
            p.path.display(),
            p.detail
        ));
    }
    let unrepaired = f.problems.iter().filter(|p| !p.repaired).count();
    s.out.json(&Verified {
        ok: unrepaired == 0,
        repair,
        entries_checked: f.entries,
        files_hashed: f.files,
        bytes_hashed: f.bytes,
        problems: f.problems.clone(),
    })?;
    if unrepaired > 0 {
        return Err(VerifyError::Problems {
            found: f.problems.len(),
            unrepaired,
        }
        .into());
    }
    if f.problems.is_empty() {
        s.out
            .say("all store entries match their digests; database and links agree");
    } else {
        s.out
            .say(&format!("all {} problem(s) repaired", f.problems.len()));
    }
    Ok(())
}

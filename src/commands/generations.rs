//! `pyswap generations`: the profile's generations, the current one marked.

use std::fmt::Write;

use serde::Serialize;

use crate::output::rfc3339;
use crate::profile::Profiles;
use crate::settings::Settings;
use crate::store::Store;

/// One element of `pyswap generations --json` (documented in README).
#[derive(Serialize)]
struct Generation {
    number: u64,
    version: String,
    /// The python-build-standalone build (release date), if known.
    build: Option<String>,
    /// The catalogue key of its runtime.
    key: String,
    store_path: String,
    created: String,
    current: bool,
    request: String,
    command: String,
    /// The newest validation recorded for this generation, if any.
    validation: Option<Validation>,
    /// Whether its directory under `profiles/` is exactly what the row says (else `rollback
    /// --to` or `verify --repair` rebuilds it).
    intact: bool,
}

#[derive(Serialize)]
struct Validation {
    /// `install`, `activate`, `health` or `check`.
    phase: String,
    ok: bool,
    at: String,
}

pub fn run(s: &Settings) -> anyhow::Result<()> {
    let (rows, mut checks) = match super::open_ro(s)? {
        Some(db) => (
            db.generations(&s.profile)?,
            db.latest_validations(&s.profile)?,
        ),
        None => Default::default(),
    };
    let profiles = Profiles::new(s.home.profiles());
    let current = profiles.current(&s.profile)?;
    let store = Store::new(s.home.store());
    let broken = rows
        .iter()
        .find(|g| Some(g.number) == current)
        .and_then(|g| crate::activation::check_current_intact(&profiles, g).err());
    let gens: Vec<Generation> = rows
        .into_iter()
        .map(|g| Generation {
            intact: profiles.generation_intact(&s.profile, g.number, &g.entry_name),
            current: current == Some(g.number),
            number: g.number,
            store_path: store.path(&g.entry_name).display().to_string(),
            created: rfc3339(g.created),
            key: g.key().to_owned(),
            build: g.build.clone(),
            version: g.version,
            request: g.request,
            command: g.command,
            validation: checks.remove(&g.number).map(|v| Validation {
                phase: v.phase,
                ok: v.ok,
                at: rfc3339(v.created),
            }),
        })
        .collect();
    if s.out.json {
        s.out.json(&gens)?;
        return broken.map_or(Ok(()), |e| Err(e.into()));
    }
    if gens.is_empty() {
        s.out
            .say(&format!("profile `{}` has no generations yet", s.profile));
        return Ok(());
    }
    let mut t = String::from(
        "   GEN  CREATED               VERSION     BUILD     VALIDATION        STORE ENTRY\n",
    );
    for g in &gens {
        let name = g.store_path.rsplit('/').next().unwrap_or_default();
        let short = match name.split_once('-') {
            Some((digest, rest)) if digest.len() > 12 => format!("{}…-{rest}", &digest[..12]),
            _ => name.to_owned(),
        };
        let mut check = g.validation.as_ref().map_or_else(
            || "-".to_owned(),
            |v| format!("{} {}", if v.ok { "ok" } else { "FAILED" }, v.phase),
        );
        if !g.intact {
            check = "BROKEN DIR".into();
        }
        let _ = writeln!(
            t,
            "{} {:>4}  {:<20}  {:<10}  {:<8}  {check:<16}  {short}",
            if g.current { "*" } else { " " },
            g.number,
            g.created,
            g.version,
            g.build.as_deref().unwrap_or("-")
        );
    }
    s.out.data(&t)?;
    broken.map_or(Ok(()), |e| Err(e.into()))
}

//! `pyswap generations`: the profile's generations, the current one marked.

use std::collections::HashMap;

use serde::Serialize;

use super::{Changes, Verb};
use crate::ground::clock::rfc3339;
use crate::ground::text::{Column, Table};
use crate::interface::output::{Outcome, Output};
use crate::interface::settings::Settings;
use crate::interface::settings::defs::Group;
use crate::storage::db::{Db, GenerationRow, ValidationRow};
use crate::storage::profile::{Profiles, Seals};
use crate::storage::store::Store;

/// One element of `pyswap generations --json` (documented in docs/json.md).
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

#[derive(Debug, clap::Args)]
pub(crate) struct Generations {}

impl Verb for Generations {
    fn reads() -> &'static [Group] {
        &[]
    }

    fn changes(&self) -> Changes {
        Changes::NOTHING
    }

    fn run(&self, s: &Settings, out: Output) -> anyhow::Result<Outcome> {
        run(s, out)
    }
}

fn run(s: &Settings, out: Output) -> anyhow::Result<Outcome> {
    let profiles = Profiles::new(s.home.profiles());
    let (rows, checks, seals) = match crate::storage::db::Db::open_home_read(&s.home)? {
        Some(db) => read(&db, &profiles, &s.profile, &s.home.db())?,
        None => Default::default(),
    };
    let current = profiles.current(&s.profile)?;
    let store = Store::new(s.home.store());
    let broken = rows
        .iter()
        .find(|g| Some(g.number) == current)
        .and_then(|g| crate::activation::check_current_intact(&profiles, g).err());
    let intact: Vec<bool> = rows
        .iter()
        .map(|g| profiles.intact_by(&seals, &s.profile, g.number, &g.entry_name))
        .collect();
    if out.json {
        let gens: Vec<Generation> = rows
            .into_iter()
            .zip(intact)
            .map(|(g, intact)| Generation {
                intact,
                current: current == Some(g.number),
                number: g.number,
                store_path: store.path(&g.entry_name).display().to_string(),
                created: rfc3339(g.created),
                key: g.key().to_owned(),
                build: g.build.clone(),
                version: g.version.to_string(),
                request: g.request,
                command: g.command,
                validation: checks.get(&g.number).map(|v| Validation {
                    phase: v.phase.clone(),
                    ok: v.ok,
                    at: rfc3339(v.created),
                }),
            })
            .collect();
        let outcome = Outcome::of(&gens)?;
        return match broken {
            Some(e) => Err(outcome.failed(e)),
            None => Ok(outcome),
        };
    }
    if rows.is_empty() {
        out.say(&format!("profile `{}` has no generations yet", s.profile));
        return Ok(Outcome::none());
    }
    out.data(&listing(&rows, &intact, &checks, current))?;
    broken.map_or(Ok(Outcome::none()), |e| Err(e.into()))
}

/// The human listing: one line per generation, the current one starred.
fn listing(
    rows: &[GenerationRow],
    intact: &[bool],
    checks: &HashMap<u64, ValidationRow>,
    current: Option<u64>,
) -> String {
    let mut t = Table::new([
        Column::left("").min(1),
        Column::right("GEN").min(4).gap(" "),
        Column::left("CREATED").min(20),
        Column::left("VERSION").min(16),
        Column::left("VALIDATION").min(10),
        Column::left("STORE ENTRY").elide().droppable(),
    ]);
    for (g, &intact) in rows.iter().zip(intact) {
        let name = g.entry_name.as_str();
        let (digest, rest) = match name.split_once('-') {
            Some((digest, rest)) if digest.len() > 12 => (&digest[..12], rest),
            _ => (name, ""),
        };
        let ellipsis = if rest.is_empty() { "" } else { "…-" };
        let check = match checks.get(&g.number) {
            _ if !intact => "BROKEN DIR".to_owned(),
            None => "-".to_owned(),
            Some(v) => format!("{} {}", if v.ok { "ok" } else { "FAILED" }, v.phase),
        };
        t.row([
            if current == Some(g.number) { "*" } else { "" }.to_owned(),
            g.number.to_string(),
            rfc3339(g.created),
            g.label(),
            check,
            format!("{digest}{ellipsis}{rest}"),
        ]);
    }
    t.render()
}

/// The profile's generation rows, the newest validation of each and the seals of its
/// generation directories, read at once on three threads (`db`, a second read-only connection
/// to `path`, and `profiles/`).
fn read(
    db: &Db,
    profiles: &Profiles,
    profile: &str,
    path: &std::path::Path,
) -> anyhow::Result<(Vec<GenerationRow>, HashMap<u64, ValidationRow>, Seals)> {
    std::thread::scope(|scope| {
        let checks = scope.spawn(|| Db::open_read_only(path)?.latest_validations(profile));
        let seals = scope.spawn(|| profiles.seals(profile));
        let rows = db.generations(profile)?;
        let panicked = || anyhow::anyhow!("reading the generations of `{profile}` panicked");
        let checks = checks.join().map_err(|_| panicked())??;
        let seals = seals.join().map_err(|_| panicked())?;
        Ok((rows, checks, seals))
    })
}

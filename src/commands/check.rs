//! `pyswap check [N]`: re-hash a generation's runtime (the current one by default) against its
//! recorded tree digest, as `verify` does for every entry, then re-run the validation policy on
//! it and record the result with the generation. For the current generation the health check
//! through the profile path runs too (first). Nothing is switched or rolled back.

use crate::activation::ActivationError;
use serde::Serialize;

use super::{Changes, CommandError, Verb};
use crate::activation;
use crate::domain::validate::Report;
use crate::interface::output::{Outcome, Output};
use crate::interface::settings::Settings;
use crate::interface::settings::defs::Group;
use crate::storage::profile::Profiles;
use crate::storage::store::Store;

#[derive(Serialize)]
struct Checked {
    profile: String,
    generation: u64,
    version: String,
    current: bool,
    ok: bool,
    reports: Vec<Report>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Check {
    /// The generation to check [default: the current one]
    #[arg(value_parser = super::args::generation_number())]
    generation: Option<u64>,
}

impl Verb for Check {
    fn reads() -> &'static [Group] {
        &[Group::Validation]
    }

    fn changes(&self) -> Changes {
        // Records a validation row, which the metrics show.
        Changes::state(true)
    }

    fn run(&self, s: &Settings, out: Output) -> anyhow::Result<Outcome> {
        run(s, out, self.generation)
    }
}

/// The entry at `path` against its row's tree digest: a tampered runtime fails the check
/// (validation alone would pass one whose changed files it does not import). Files only added
/// after the install (bytecode a root process wrote) leave the installed ones intact: a warning.
fn intact(
    out: Output,
    path: &std::path::Path,
    row: &crate::storage::db::EntryRow,
    index: Option<&[u8]>,
) -> anyhow::Result<()> {
    let mut nodes = crate::ground::tree::scan(path)?;
    match crate::domain::verify::standing(path, &mut nodes, row, index) {
        crate::domain::verify::Standing::Intact => Ok(()),
        crate::domain::verify::Standing::Added(added) => {
            out.warn(&format!(
                "{} were written into store entry {} after it was installed (its installed files are intact); `pyswap verify` names them",
                crate::ground::text::count(added.len() as u64, "file", "files"),
                row.name
            ));
            Ok(())
        }
        crate::domain::verify::Standing::Damaged(_) => {
            Err(CommandError::Tampered(row.name.clone()).into())
        }
    }
}

fn run(s: &Settings, out: Output, generation: Option<u64>) -> anyhow::Result<Outcome> {
    let mut db = crate::storage::db::Db::open_existing_home(&s.home)?;
    let _gc = super::gc_shared_lock(s, out)?;
    let profiles = Profiles::new(s.home.profiles());
    let current = profiles.current(&s.profile)?;
    let n = generation
        .or(current)
        .ok_or_else(|| CommandError::NoCurrent(s.profile.clone()))?;
    let g = super::error::generation(s, &db, n)?;
    let row = db
        .entry_by_name(&g.entry_name)?
        .ok_or_else(|| ActivationError::EntryMissing(g.entry_name.clone()))?;
    let path = Store::new(s.home.store()).path(&row.name);
    if path.join("bin/python3").symlink_metadata().is_err() {
        return Err(ActivationError::EntryMissing(path.display().to_string()).into());
    }
    intact(out, &path, &row, db.entry_tree(&row.name)?.as_deref())?;
    let is_current = current == Some(n);
    let reports = activation::recheck(s, &mut db, &profiles, &row, n, is_current)?;
    let ok = reports.iter().all(|r| r.ok);
    // One aligned listing on stderr, each line indented by two, fitted to the terminal: a long
    // detail loses its middle.
    let mut t = crate::ground::text::Table::headless([
        crate::ground::text::Column::left("").min(4),
        crate::ground::text::Column::left("").min(10).gap(" "),
        crate::ground::text::Column::left("").gap(" ").elide(),
    ]);
    for r in &reports {
        for c in &r.checks {
            t.row([
                if c.ok { "ok" } else { "FAIL" },
                c.name.as_str(),
                c.detail.as_str(),
            ]);
        }
    }
    let width = crate::ground::text::terminal_width().map(|w| w.saturating_sub(2));
    for line in t.render_in(width).lines() {
        out.say(&format!("  {line}"));
    }
    let outcome = Outcome::of(&Checked {
        profile: s.profile.clone(),
        generation: n,
        version: g.version.to_string(),
        current: is_current,
        ok,
        reports: reports.clone(),
    })?;
    if let Some(failed) = reports.into_iter().find(|r| !r.ok)
        && let Err(e) = failed.into_result()
    {
        return Err(outcome.failed(e));
    }
    out.say(&format!(
        "generation {n} of `{}` (CPython {}) passed validation",
        s.profile,
        g.label()
    ));
    Ok(outcome)
}

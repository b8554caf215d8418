//! `pyswap store`: what the store takes on disk, each file counted once; `pyswap store
//! optimise`: share the identical files of entries that do not share them yet (issue 40).

use serde::Serialize;

use super::{Changes, Verb};
use crate::ground::text::{count, human_bytes};
use crate::interface::output::{Outcome, Output};
use crate::interface::settings::Settings;
use crate::interface::settings::defs::Group;
use crate::storage::objects::Usage;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  pyswap store              entries, their files, and the disk they take (a shared file once)
  pyswap store optimise     share the identical files of runtimes installed by an older pyswap")]
pub(crate) struct StoreArgs {
    #[command(subcommand)]
    command: Option<StoreCommand>,
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum StoreCommand {
    /// Share the identical files of entries that do not share them yet, in place (running
    /// processes keep the files they have open)
    Optimise,
}

/// `pyswap store --json` (docs/json.md).
#[derive(Serialize)]
struct Figures {
    entries: usize,
    files: u64,
    /// The bytes of the entries' trees, each entry counted whole.
    tree_bytes: u64,
    /// What the entries and the objects take, each file (inode) once.
    disk_bytes: u64,
    /// `tree_bytes` less what sharing saves: `disk_bytes` without the objects nothing links.
    shared_bytes_saved: u64,
    /// Objects no entry links any more (`pyswap gc` frees them).
    unlinked_bytes: u64,
}

impl Verb for StoreArgs {
    fn reads() -> &'static [Group] {
        &[]
    }

    fn changes(&self) -> Changes {
        Changes::state(self.command.is_some())
    }

    fn run(&self, s: &Settings, out: Output) -> anyhow::Result<Outcome> {
        match self.command {
            None => figures(s, out),
            Some(StoreCommand::Optimise) => optimise(s, out),
        }
    }
}

fn figures(s: &Settings, out: Output) -> anyhow::Result<Outcome> {
    let Some(db) = crate::storage::db::Db::open_home_read(&s.home)? else {
        out.say("nothing installed yet");
        return Outcome::of(&Figures {
            entries: 0,
            files: 0,
            tree_bytes: 0,
            disk_bytes: 0,
            shared_bytes_saved: 0,
            unlinked_bytes: 0,
        });
    };
    let entries = db.entries()?;
    let usage = Usage::of_home(&s.home, &entries)?;
    let tree_bytes: u64 = entries.iter().map(|e| e.bytes).sum();
    let unlinked = usage.unlinked();
    let f = Figures {
        entries: entries.len(),
        files: entries.iter().map(|e| e.files).sum(),
        tree_bytes,
        disk_bytes: usage.bytes(),
        shared_bytes_saved: tree_bytes.saturating_sub(usage.bytes() - unlinked),
        unlinked_bytes: unlinked,
    };
    if !out.json {
        out.data(&format!(
            "{}, {}: {} in their trees, {} on disk (a file entries share counted once; sharing saves {})\n{}\n",
            count(f.entries as u64, "entry", "entries"),
            count(f.files, "file", "files"),
            human_bytes(f.tree_bytes),
            human_bytes(f.disk_bytes),
            human_bytes(f.shared_bytes_saved),
            if unlinked > 0 {
                format!("{} of objects no entry links: `pyswap gc` frees them", human_bytes(unlinked))
            } else {
                "no object is left that no entry links".to_owned()
            }
        ))?;
        return Ok(Outcome::none());
    }
    Outcome::of(&f)
}

fn optimise(s: &Settings, out: Output) -> anyhow::Result<Outcome> {
    let db = crate::storage::db::Db::open_existing_home(&s.home)?;
    let _gc = super::gc_shared_lock(s, out)?;
    let report = crate::domain::optimise::optimise(&s.home, &db, s.lock_wait, &|name| {
        out.say(&format!("waiting for another pyswap command using {name}…"));
    })?;
    let linked: u64 = report
        .entries
        .iter()
        .map(|e| e.sharing.linked + e.sharing.adopted)
        .sum();
    let already: u64 = report.entries.iter().map(|e| e.sharing.already).sum();
    let private: u64 = report.entries.iter().map(|e| e.sharing.private).sum();
    out.say(&format!(
        "{} gone through: {} shared now, {} shared already; {} freed",
        count(report.entries.len() as u64, "entry", "entries"),
        count(linked, "file", "files"),
        count(already, "file", "files"),
        human_bytes(report.bytes_freed)
    ));
    if let Some((path, code)) = report
        .entries
        .iter()
        .find_map(|e| e.sharing.first_private.clone())
    {
        out.say(&format!(
            "note: {} kept as their entries' own copies (first: {path}: {})",
            count(private, "file is", "files are"),
            std::io::Error::from_raw_os_error(code)
        ));
    }
    for e in &report.entries {
        if let Some(first) = e.sharing.damaged.first() {
            out.say(&format!(
                "warning: {}: {} not as installed (first: {first}), left as they are: run `pyswap verify`",
                e.name,
                count(e.sharing.damaged.len() as u64, "file", "files")
            ));
        }
    }
    for k in &report.skipped {
        out.say(&format!("note: {} left as it is: {}", k.name, k.why));
    }
    Outcome::of(&report)
}

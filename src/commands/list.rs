//! `pyswap list [REQUEST]`: installed runtimes and what the catalogue offers, together (as
//! `uv python list`), each marked `current`, `installed`, `staged` or not; `--installed` and
//! `--available` show one side. A REQUEST (`3.12`, `cpython@3.11`, `>=3.10`) filters both.
//! Of what the catalogue offers, the default is uv's: the newest build of the newest patch of
//! each minor version, default builds only; `--all-versions` shows every version and build,
//! `--variants` the free-threaded and debug builds too. Installed runtimes are always all
//! shown. Every view has one order: newest version first, then variant, then newest build.
//! `--json` keeps its documented shapes: the installed entries (default and `--installed`) or
//! the catalogue's (`--available`).

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use super::report::Teller;
use super::{Changes, Verb};
use crate::activation::Ctx;
use crate::catalogue::Entry;
use crate::ground::text::{Column, Table, human_bytes};
use crate::ground::version::{PythonVersion, Request, Variant, label};
use crate::interface::output::{Outcome, Output};
use crate::interface::settings::Settings;
use crate::interface::settings::defs::Group;
use crate::storage::store::Store;

#[derive(Serialize)]
struct Available {
    key: String,
    version: String,
    build: Option<String>,
    url: String,
    #[serde(skip)]
    variant: Variant,
    installed: bool,
    /// Pre-staged by `install` and not used by a generation yet.
    staged: bool,
    /// The runtime of the profile's current generation.
    current: bool,
}

#[derive(Serialize)]
struct Installed {
    name: String,
    version: String,
    build: Option<String>,
    platform: String,
    store_path: String,
    /// Its files' bytes, as its tree holds them.
    bytes: u64,
    /// The bytes of the files only it holds (files it shares with other entries are stored
    /// once): what removing it frees.
    alone_bytes: u64,
    files: u64,
    generations: Vec<String>,
    staged: bool,
    current: bool,
    /// Running processes that use it (its executable or a library mapped from it): gc keeps it
    /// while there are any, generations or not.
    processes: u32,
    #[serde(skip)]
    variant: Variant,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  pyswap list                         newest patch of each minor, and what is installed
  pyswap list 3.12 --all-versions     every 3.12 build the catalogue has
  pyswap list --variants              free-threaded and debug builds too
  pyswap list --installed             store entries, their size and generations")]
#[allow(clippy::struct_excessive_bools, reason = "each is a command-line flag")]
pub(crate) struct List {
    /// Only runtimes this request matches (`3.12`, `cpython@3.11`, `>=3.10`)
    request: Option<String>,
    /// Only what the catalogue offers for this platform
    #[arg(long, conflicts_with = "installed")]
    available: bool,
    /// Only store entries, their size and the generations using them
    #[arg(long)]
    installed: bool,
    /// Include prereleases from the catalogue
    #[arg(long)]
    pre: bool,
    /// Every version and build the catalogue has, not only the newest of each minor
    #[arg(long)]
    all_versions: bool,
    /// Free-threaded and debug builds too (a request naming a variant, `3.13t`, shows it)
    #[arg(long)]
    variants: bool,
}

impl Verb for List {
    fn reads() -> &'static [Group] {
        &[Group::Catalogue, Group::Network]
    }

    // Takes the download cache's bound, as every command that reaches the network does.
    fn accepts() -> &'static [Group] {
        &[Group::Catalogue, Group::Network, Group::Cache]
    }

    fn changes(&self) -> Changes {
        Changes::NOTHING
    }

    fn run(&self, s: &Settings, out: Output) -> anyhow::Result<Outcome> {
        let side = match (self.available, self.installed) {
            (true, _) => Side::Available,
            (_, true) => Side::Installed,
            _ => Side::Both,
        };
        run(s, out, self, side)
    }
}

/// What `list` shows; the flags pick one side, the default both.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Both,
    Installed,
    Available,
}

fn run(s: &Settings, out: Output, args: &List, side: Side) -> anyhow::Result<Outcome> {
    let request = args.request.as_deref().map(Request::parse).transpose()?;
    let matches = |version: &str, variant: Variant, build: Option<&str>| {
        request.as_ref().is_none_or(|r| {
            PythonVersion::parse(version).is_some_and(|v| r.matches(&v))
                && r.variant() == variant
                && r.admits_build(build)
        })
    };
    let mut installed = installed_rows(s)?
        .into_iter()
        .filter(|r| matches(&r.version, r.variant, r.build.as_deref()))
        .collect::<Vec<_>>();
    installed.sort_by(|a, b| {
        order(&a.version, a.variant, a.build.as_deref()).cmp(&order(
            &b.version,
            b.variant,
            b.build.as_deref(),
        ))
    });
    if side == Side::Installed || (side == Side::Both && out.json) {
        return show_installed(out, &installed);
    }
    let (available, unreadable) = match available_rows(s, out, &installed, args.pre) {
        Ok(rows) => (rows, None),
        // The default view still shows what is installed when the catalogue is out of reach;
        // a catalogue refused under `[trust]` is a security event, never a warning.
        Err(e) if side == Side::Both && !refused(&e) => (Vec::new(), Some(e)),
        Err(e) => return Err(e),
    };
    let variants = args.variants
        || request
            .as_ref()
            .is_some_and(|r| r.variant() != Variant::Default);
    let mut available: Vec<Available> = available
        .into_iter()
        .filter(|r| matches(&r.version, r.variant, r.build.as_deref()))
        .filter(|r| variants || r.variant == Variant::Default)
        .collect();
    if !args.all_versions {
        newest_per_minor(&mut available);
    }
    if side == Side::Available {
        if out.json {
            return Outcome::of(&available);
        }
        out.data(&available_table(&available))?;
        return Ok(Outcome::none());
    }
    match unreadable {
        // Nothing to show because the catalogue could not be read: that is the answer.
        Some(e) if installed.is_empty() => return Err(e),
        Some(e) => out.warn(&format!("{e:#}; showing installed runtimes only")),
        None => {}
    }
    if installed.is_empty() && available.is_empty() {
        out.say(&match &args.request {
            Some(r) => format!("nothing installed or in the catalogue matches `{r}`"),
            None => "nothing installed, and the catalogue offers nothing for this platform".into(),
        });
        return Ok(Outcome::none());
    }
    out.data(&both_table(&installed, &available))?;
    Ok(Outcome::none())
}

/// Whether `e` is a catalogue refused under `[trust] keys` (tampered, replayed, unsigned,
/// another line's).
fn refused(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<crate::catalogue::trust::TrustError>()
            .is_some()
            || matches!(
                c.downcast_ref::<crate::catalogue::CatalogueError>(),
                Some(crate::catalogue::CatalogueError::Untrusted(_))
            )
    })
}

fn status(current: bool, installed: bool, staged: bool) -> &'static str {
    if current {
        "current"
    } else if staged {
        "staged"
    } else if installed {
        "installed"
    } else {
        ""
    }
}

fn installed_rows(s: &Settings) -> anyhow::Result<Vec<Installed>> {
    let Some(db) = crate::storage::db::Db::open_home_read(&s.home)? else {
        return Ok(Vec::new());
    };
    let mut users: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for g in db.all_generations()? {
        users
            .entry(g.entry_id)
            .or_default()
            .push(format!("{}:{}", g.profile, g.number));
    }
    let staged: HashSet<String> = db.staged_names()?.into_iter().collect();
    let current = current_entry(s, &db);
    let store = Store::new(s.home.store());
    let running = crate::ground::inuse::process_counts(&s.home.store());
    let entries = db.entries()?;
    let usage = crate::storage::objects::Usage::of_home(&s.home, &entries)?;
    Ok(entries
        .into_iter()
        .enumerate()
        .map(|(i, e)| Installed {
            alone_bytes: usage.alone(&[i]),
            store_path: store.path(&e.name).display().to_string(),
            generations: users.remove(&e.id).unwrap_or_default(),
            staged: staged.contains(&e.name),
            current: current.as_deref() == Some(e.name.as_str()),
            processes: running.get(&e.name).copied().unwrap_or(0),
            variant: e.variant,
            name: e.name,
            version: e.version.to_string(),
            build: e.build,
            platform: e.platform,
            bytes: e.bytes,
            files: e.files,
        })
        .collect())
}

/// The entry name of the profile's current generation.
fn current_entry(s: &Settings, db: &crate::storage::db::Db) -> Option<String> {
    let n = crate::storage::profile::Profiles::new(s.home.profiles())
        .current(&s.profile)
        .ok()??;
    db.generation(&s.profile, n).ok()?.map(|g| g.entry_name)
}

fn available_rows(
    s: &Settings,
    out: Output,
    installed: &[Installed],
    pre: bool,
) -> anyhow::Result<Vec<Available>> {
    let tell = Teller::new(out, &s.home);
    let cx = Ctx { s, tell: &tell };
    let platform = s.platform()?;
    let catalogue =
        crate::activation::load_catalogue(cx, &super::fetcher(s, out), Some(&platform), false)?;
    catalogue.offers(&platform)?;
    // Two builds of one key are two runtimes: an entry is installed when one of that key *and*
    // build is.
    let mine = |e: &Entry| {
        installed
            .iter()
            .find(|i| crate::storage::store::key_of(&i.name) == e.key && i.build == e.build)
    };
    let mut rows: Vec<Available> = catalogue
        .entries
        .iter()
        .filter(|e| e.implementation == "cpython" && e.on(&platform))
        .filter(|e| pre || !e.version.is_prerelease())
        .map(|e| {
            let mine = mine(e);
            Available {
                installed: mine.is_some(),
                staged: mine.is_some_and(|i| i.staged),
                current: mine.is_some_and(|i| i.current),
                key: e.key.clone(),
                version: e.version.to_string(),
                build: e.build.clone(),
                url: e.url.clone(),
                variant: e.variant,
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        order(&a.version, a.variant, a.build.as_deref()).cmp(&order(
            &b.version,
            b.variant,
            b.build.as_deref(),
        ))
    });
    Ok(rows)
}

/// Where a row sorts: see [`order`].
type Order<'a> = (
    Reverse<Option<PythonVersion>>,
    Variant,
    Reverse<(u64, &'a str)>,
);

/// The one order of every listing: newest version first, then variant (default builds first),
/// then newest build.
fn order<'a>(version: &str, variant: Variant, build: Option<&'a str>) -> Order<'a> {
    (
        Reverse(PythonVersion::parse(version)),
        variant,
        Reverse(crate::ground::version::build_rank(build)),
    )
}

/// Keeps, of rows in [`order`], the first (newest) of each minor version and variant.
fn newest_per_minor(rows: &mut Vec<Available>) {
    let mut seen = HashSet::new();
    rows.retain(|r| {
        let minor = PythonVersion::parse(&r.version).map(|v| (v.major(), v.minor()));
        seen.insert((minor, r.variant))
    });
}

fn show_installed(out: Output, rows: &[Installed]) -> anyhow::Result<Outcome> {
    if out.json {
        return Outcome::of(&rows);
    }
    if rows.is_empty() {
        out.say("nothing installed yet");
        return Ok(Outcome::none());
    }
    let mut t = Table::new([
        Column::left("VERSION").min(20),
        Column::right("SIZE").min(10).gap(" "),
        Column::right("ALONE").min(10).gap(" "),
        Column::left("STATUS").min(10).gap(" "),
        Column::left("GENERATIONS").min(12).gap(" ").elide(),
        Column::left("ENTRY").gap(" ").elide().droppable(),
    ]);
    for r in rows {
        let gens = if r.generations.is_empty() {
            "-".to_owned()
        } else {
            r.generations.join(" ")
        };
        let state = match status(r.current, true, r.staged) {
            "installed" if r.generations.is_empty() && r.processes > 0 => "running",
            "installed" if r.generations.is_empty() => "unused",
            other => other,
        };
        t.row([
            label(&r.version, r.variant.name(), r.build.as_deref()),
            human_bytes(r.bytes),
            human_bytes(r.alone_bytes),
            state.to_owned(),
            gens,
            r.name.clone(),
        ]);
    }
    out.data(&t.render())?;
    Ok(Outcome::none())
}

fn available_table(rows: &[Available]) -> String {
    let mut t = Table::new([
        Column::left("KEY"),
        Column::left("BUILD").min(8),
        Column::left("STATUS"),
    ]);
    for r in rows {
        t.row([
            r.key.as_str(),
            r.build.as_deref().unwrap_or("-"),
            status(r.current, r.installed, r.staged),
        ]);
    }
    t.render()
}

/// Installed runtimes (those the catalogue no longer lists too) and what can be installed, in
/// one table and one order.
fn both_table(installed: &[Installed], available: &[Available]) -> String {
    let mut rows: Vec<(_, String, String, &'static str)> = installed
        .iter()
        .map(|i| {
            (
                order(&i.version, i.variant, i.build.as_deref()),
                crate::storage::store::key_of(&i.name).to_owned(),
                label(&i.version, i.variant.name(), i.build.as_deref()),
                status(i.current, true, i.staged),
            )
        })
        .collect();
    rows.extend(available.iter().filter(|a| !a.installed).map(|a| {
        (
            order(&a.version, a.variant, a.build.as_deref()),
            a.key.clone(),
            label(&a.version, a.variant.name(), a.build.as_deref()),
            "",
        )
    }));
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let mut t = Table::new([
        Column::left("KEY"),
        Column::left("VERSION").min(20),
        Column::left("STATUS"),
    ]);
    for (_, key, version, state) in rows {
        t.row([key, version, state.to_owned()]);
    }
    t.render()
}

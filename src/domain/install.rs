//! Admission of a catalogue entry into the store: take the archive from the download cache
//! (re-verified) or fetch it (sha256 while streaming, resumable, retried), unpack it safely into
//! staging (blake3 while writing), add the recipe's files (the standard library's bytecode, the
//! PEP 668 marker: `bytecode`), validate, publish, register. Shared by `switch`, `install`
//! and `mirror`'s verification. Idempotent and crash-safe: if the archive is already registered
//! and its directory present, nothing is downloaded.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::catalogue::{self, Entry};
use crate::domain::archive::{self, Limits, Unpacked};
use crate::domain::bytecode::{self, Recipe};
use crate::domain::validate;
use crate::domain::validate::Phase;
use crate::ground::version::{PythonVersion, Variant};
use crate::ground::{crash, tree};
use crate::network::cache::DownloadCache;
use crate::network::fetch::{
    DownloadSpec, Downloaded, FetchError, Fetcher, Progress, file_url_path,
};
use crate::storage::db::{Db, EntryRow, ValidationRow};
use crate::storage::home::Home;
use crate::storage::lock::{self, Mode};
use crate::storage::objects::Objects;
use crate::storage::store::{self, Staging, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub(crate) enum InstallError {
    #[error(
        "offline: {key} is neither in the store nor in the download cache (it would come from {url})"
    )]
    NotOffline { key: String, url: String },
    #[error("cannot restore store entry {name}: {why}")]
    Unrestorable { name: String, why: String },
    #[error("cannot register store entry {name}: {why}")]
    Unrecoverable { name: String, why: String },
    #[error("catalogue entry `{0}` has no sha256")]
    NoDigest(String),
    #[error("{failed} of {total} runtimes could not be installed (first: {first})")]
    Some {
        failed: usize,
        total: usize,
        first: String,
    },
}

crate::ground::exit::register!(InstallError);
impl crate::ground::exit::Reason for InstallError {
    fn status(&self) -> crate::ground::exit::ExitStatus {
        crate::ground::exit::ExitStatus::Failure
    }

    fn help(&self) -> Option<std::borrow::Cow<'static, str>> {
        Some(match self {
            Self::NotOffline { .. } => "run it without --offline, or pre-stage it with `pyswap install` while online",
            Self::Some { .. } => "the runtimes that installed are in the store; run the command again for the others",
            Self::NoDigest(_) => "choose another catalogue entry",
            Self::Unrestorable { .. } => "remove it with `pyswap gc` once no generation uses it, or switch to another build",
            Self::Unrecoverable { .. } => "`pyswap verify --repair` deletes it once no profile or process uses it",
        }.into())
    }
}

/// Where the bytes of a fresh entry came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Already in the store: nothing read.
    Store,
    /// The download cache (re-verified).
    Cache,
    /// A `file://` URL.
    File,
    /// The network: bytes transferred, and bytes reused from an interrupted try.
    Network { transferred: u64, resumed_from: u64 },
}

impl Installed {
    /// How `install` and `switch` both say what happened to `key`, with the time it took:
    /// `cpython-3.12.4-linux-x86_64-gnu: downloaded and installed in 1.2 s`.
    pub(crate) fn said(&self, key: &str, took: Duration) -> String {
        let how = match self.origin {
            Origin::Store => return format!("{key}: already in the store"),
            Origin::Cache => "installed from the download cache",
            Origin::File => "installed",
            Origin::Network { .. } => "downloaded and installed",
        };
        format!("{key}: {how} in {:.1} s", took.as_secs_f64())
    }
}

/// An entry in the store, and whether this call put it there.
pub(crate) struct Installed {
    pub(crate) row: EntryRow,
    pub(crate) path: PathBuf,
    pub(crate) fresh: bool,
    pub(crate) origin: Origin,
}

pub(crate) struct Options<'a> {
    pub(crate) lock_wait: Duration,
    pub(crate) validation: &'a validate::Plan,
    /// What a new entry gets besides the archive (bytecode, PEP 668 marker).
    pub(crate) recipe: Recipe,
    /// How many processes compile bytecode at once (`None`: the CPUs available).
    pub(crate) compile_workers: Option<usize>,
    /// Replaces the upstream release prefix of archive URLs.
    pub(crate) mirror: Option<&'a str>,
    pub(crate) cache: &'a DownloadCache,
}

/// Returns the store entry for `entry`, fetching and unpacking it if needed. `say` receives
/// notes for the user (waiting on a lock, a cached file that no longer verified).
pub(crate) fn ensure(
    home: &Home,
    db: &mut Db,
    fetcher: &Fetcher,
    entry: &Entry,
    opts: &Options,
    progress: impl FnOnce() -> Arc<dyn Progress>,
    say: &dyn Fn(&str),
) -> anyhow::Result<Installed> {
    let store = Store::new(home.store());
    let sha256 = entry
        .sha256
        .as_deref()
        .ok_or_else(|| InstallError::NoDigest(entry.key.clone()))?;
    let recipe = opts.recipe.id();
    if let Some(found) = registered(db, &store, sha256, &entry.key, &recipe)? {
        return Ok(found);
    }
    // Refused before anything is downloaded when root's sandbox user could not reach the
    // staging directory it would compile and validate in.
    if opts.validation.enabled || opts.recipe.bytecode() {
        opts.validation.sandbox.check_reach(&home.store())?;
    }
    let _entry_lock = entry_lock(home, sha256, &entry.key, opts, say)?;
    if let Some(found) = registered(db, &store, sha256, &entry.key, &recipe)? {
        return Ok(found);
    }
    // Kept to the end: it shows each phase after the download on a terminal, and clears it.
    let progress = progress();
    let ((mut staging, mut unpacked), origin) = match obtain(
        &store, fetcher, entry, sha256, opts, &progress, say,
    ) {
        Ok(got) => got,
        Err(e) => {
            // Offline with the archive gone, an entry made by another recipe (an older
            // pyswap's, without bytecode) still runs: better than none.
            if let Some(InstallError::NotOffline { .. }) = e.downcast_ref::<InstallError>()
                && let Some(found) = made_otherwise(db, &store, sha256, &entry.key)?
            {
                say(&format!(
                    "warning: offline: using {}, installed without this pyswap's bytecode; switch again online to install it with its bytecode",
                    found.row.name
                ));
                return Ok(found);
            }
            return Err(e);
        }
    };
    crash::point("install:unpacked");
    let objects = Objects::new(home.objects());
    let compiler = {
        let indexes = |compiler: &str| earlier_trees(db, compiler, &recipe);
        let prior = bytecode::Prior {
            objects: &objects,
            indexes: &indexes,
        };
        seal(
            &staging,
            &mut unpacked,
            opts,
            opts.recipe,
            &prior,
            &progress,
            say,
        )?
    };
    share_files(home, staging.path(), &unpacked.nodes, say)?;
    crash::point("install:shared");
    // The flush to disk runs while the interpreter is validated; publishing waits for it. It
    // covers the links sharing made too (one filesystem).
    staging.start_flush();
    let (digest, index) = tree::digest_and_index(&mut unpacked.nodes);
    crash::timing("install:digested");
    let totals = tree::totals(&unpacked.nodes);
    let expected = validate::Expected::of(entry).with_digest(&digest);
    let (report, report_json) = validate_staged(staging.path(), &expected, opts, &progress)?;
    let name = store::entry_name(&digest, &entry.key);
    let path = store.publish(staging, &name)?;
    crash::point("install:published");
    let row = db.insert_entry(
        &EntryRow {
            name,
            tree_digest: digest,
            files: totals.files,
            bytes: totals.bytes,
            validation: report_json.clone(),
            recipe,
            compiler,
            ..entry_row(entry, sha256)
        },
        &index,
    )?;
    crash::point("install:entry-committed");
    if let Some(report) = report {
        db.record_validation(&ValidationRow {
            entry_id: row.id,
            profile: None,
            generation: None,
            phase: Phase::Install.as_str().into(),
            policy: report.policy,
            ok: true,
            report: report_json,
            created: row.created,
        })?;
    }
    crash::point("install:committed");
    Ok(Installed {
        row,
        path,
        fresh: true,
        origin,
    })
}

/// Makes each regular file of the sealed tree at `root` share its object (`storage::objects`):
/// a link to an object a runtime installed before holds, or itself adopted as one. A file that
/// cannot be linked stays the entry's own; said once.
fn share_files(
    home: &Home,
    root: &Path,
    nodes: &[tree::Node],
    say: &dyn Fn(&str),
) -> anyhow::Result<()> {
    let files = crate::storage::objects::tree_files(nodes);
    let done = Objects::new(home.objects()).share_tree(
        root,
        &files,
        crate::storage::objects::Check::Trusted,
    )?;
    if let Some((path, code)) = done.first_private {
        say(&format!(
            "note: some files of this runtime (first: {path}) are kept as its own copies, not shared with other runtimes ({})",
            std::io::Error::from_raw_os_error(code)
        ));
    }
    Ok(())
}

/// Validates the unpacked runtime at `staging` under the policy, when it is on: the report, and
/// the text the entry's row keeps of it (without validation the row says so, not a report: a
/// later switch under a policy that validates runs it first).
fn validate_staged(
    staging: &Path,
    expected: &validate::Expected,
    opts: &Options,
    progress: &Arc<dyn Progress>,
) -> anyhow::Result<(Option<validate::Report>, String)> {
    if !opts.validation.enabled {
        return Ok((None, NOT_VALIDATED.to_owned()));
    }
    progress.phase("validating the interpreter");
    let r = validate::validate(staging, expected, opts.validation, Phase::Install).into_result()?;
    crash::timing("install:validated");
    let json = serde_json::to_string(&r)?;
    Ok((Some(r), json))
}

/// The row of an entry installed from catalogue `entry` (archive `sha256`), before its tree is
/// known: name, digest, totals, validation and recipe are the caller's.
fn entry_row(entry: &Entry, sha256: &str) -> EntryRow {
    EntryRow {
        id: 0,
        name: String::new(),
        tree_digest: String::new(),
        catalogue_key: entry.key.clone(),
        version: entry.version.clone(),
        platform: entry.platform(),
        variant: entry.variant,
        build: entry.build.clone(),
        // Never the credentials: a repair re-fetches through the mirror or catalogue in force.
        archive_url: crate::ground::secret::strip(&entry.url),
        archive_sha256: sha256.to_owned(),
        files: 0,
        bytes: 0,
        validation: String::new(),
        created: crate::ground::clock::now_unix(),
        recipe: String::new(),
        compiler: None,
    }
}

/// The archive unpacked into staging: from the download cache when a copy there still
/// verifies, else from its URL (through the mirror, resumable, kept in the cache after).
/// The lock held while an archive is fetched, unpacked and published (one writer per archive).
fn entry_lock(
    home: &Home,
    sha256: &str,
    key: &str,
    opts: &Options,
    say: &dyn Fn(&str),
) -> Result<lock::Lock, lock::LockError> {
    lock::acquire(
        &home.locks().join(format!("entry-{sha256}.lock")),
        Mode::Exclusive,
        opts.lock_wait,
        &|| {
            say(&format!(
                "waiting for another pyswap command installing {key}…"
            ));
        },
    )
}

/// The catalogue entry a store entry was installed from (for re-fetching or resolving offline).
pub(crate) fn entry_of(row: &EntryRow) -> Option<Entry> {
    let mut platform = row.platform.splitn(3, '-');
    let (os, arch, libc) = (platform.next()?, platform.next()?, platform.next()?);
    Some(Entry {
        implementation: row.catalogue_key.split('-').next()?.to_owned(),
        version: Some(row.version.clone())?,
        variant: Some(row.variant)?,
        os: os.to_owned(),
        arch: arch.to_owned(),
        libc: libc.to_owned(),
        key: row.catalogue_key.clone(),
        url: row.archive_url.clone(),
        sha256: Some(row.archive_sha256.clone()),
        build: row.build.clone(),
        size: None,
    })
}

/// What a row installed under `[validation] enabled = false` says in place of its report.
const NOT_VALIDATED: &str = r#"{"skipped": "installed with validation.enabled = false"}"#;

/// What a recovered row says in place of an install-time validation report. It does not parse
/// as a report, so the next `switch` to the entry validates it first.
pub(crate) const RECOVERED: &str =
    r#"{"recovered": "registered by verify --repair from its directory; never validated since"}"#;

/// Registers an entry directory that has no row (`verify --repair` after a database was restored
/// from a backup or lost): its name must be one pyswap makes and its tree must have the digest
/// the name starts with; version, variant and platform come from the catalogue key in the name.
/// Where it was downloaded from is not known (`archive_url` and `archive_sha256` are empty), so
/// a later damage cannot be repaired from the archive.
pub(crate) fn recover(home: &Home, db: &mut Db, name: &str) -> Result<EntryRow, anyhow::Error> {
    let fail = |why: String| InstallError::Unrecoverable {
        name: name.to_owned(),
        why,
    };
    if !store::is_entry_name(name) {
        return Err(fail("not a store entry name".into()).into());
    }
    let (digest, key) = (&name[..64], &name[65..]);
    let (implementation, rest) = key
        .split_once('-')
        .ok_or_else(|| fail("no catalogue key in the name".into()))?;
    let mut parts = rest.rsplitn(4, '-');
    let (libc, arch, os, release) = (parts.next(), parts.next(), parts.next(), parts.next());
    let (Some(libc), Some(arch), Some(os), Some(release)) = (libc, arch, os, release) else {
        return Err(fail(format!("`{key}` is not a catalogue key")).into());
    };
    let (version, variant) = release.split_once('+').unwrap_or((release, ""));
    let (Some(version), Some(variant), "cpython") = (
        PythonVersion::parse(version),
        Variant::from_row(variant),
        implementation,
    ) else {
        return Err(fail(format!("`{key}` is not a catalogue key")).into());
    };
    let path = Store::new(home.store()).path(name);
    let mut nodes = tree::scan(&path).map_err(|e| fail(format!("cannot read its tree: {e}")))?;
    let totals = tree::totals(&nodes);
    let (found, index) = tree::digest_and_index(&mut nodes);
    if found != digest {
        return Err(fail(format!(
            "its tree digest is {}, not the {} its name records",
            &found[..16],
            &digest[..16]
        ))
        .into());
    }
    Ok(db.insert_entry(
        &EntryRow {
            id: 0,
            name: name.to_owned(),
            tree_digest: found,
            catalogue_key: key.to_owned(),
            version,
            platform: format!("{os}-{arch}-{libc}"),
            variant,
            build: None,
            archive_url: String::new(),
            archive_sha256: String::new(),
            files: totals.files,
            bytes: totals.bytes,
            validation: RECOVERED.to_owned(),
            created: crate::ground::clock::now_unix(),
            // What was added to the archive is not known (nor the archive): never reused.
            recipe: String::new(),
            compiler: None,
        },
        &index,
    )?)
}

/// Re-fetches the archive a registered entry came from (cache, mirror or network, sha256
/// checked), unpacks it and, if its tree digest is the recorded one, swaps it in place of the
/// damaged or missing tree (`verify --repair`). The row is unchanged: the content is the same.
/// Returns the restored tree's file index (`tree::index`), for a row that has none.
pub(crate) fn restore(
    home: &Home,
    fetcher: &Fetcher,
    row: &EntryRow,
    opts: &Options,
    progress: &Arc<dyn Progress>,
    say: &dyn Fn(&str),
) -> anyhow::Result<Vec<u8>> {
    let store = Store::new(home.store());
    let entry = entry_of(row).ok_or_else(|| InstallError::Unrestorable {
        name: row.name.clone(),
        why: "its row does not describe a catalogue entry".into(),
    })?;
    let recipe = Recipe::parse(&row.recipe).ok_or_else(|| InstallError::Unrestorable {
        name: row.name.clone(),
        why: format!(
            "it was made by recipe `{}`, which this pyswap does not know",
            row.recipe
        ),
    })?;
    let _entry_lock = entry_lock(home, &row.archive_sha256, &entry.key, opts, say)?;
    let ((staging, mut unpacked), _) = obtain(
        &store,
        fetcher,
        &entry,
        &row.archive_sha256,
        opts,
        progress,
        say,
    )?;
    let objects = Objects::new(home.objects());
    let none = |_: &str| Ok(Vec::new());
    let prior = bytecode::Prior {
        objects: &objects,
        indexes: &none,
    };
    seal(&staging, &mut unpacked, opts, recipe, &prior, progress, say)?;
    let (digest, index) = tree::digest_and_index(&mut unpacked.nodes);
    if digest != row.tree_digest {
        return Err(InstallError::Unrestorable {
            name: row.name.clone(),
            why: format!("the archive unpacks to tree digest {digest}, not the recorded one"),
        }
        .into());
    }
    // Its files become the objects of their content again (a damaged object takes the
    // restored file's), so other entries that shared a damaged file heal from them.
    share_files(home, staging.path(), &unpacked.nodes, say)?;
    store.replace(staging, &row.name)?;
    Ok(index)
}

fn obtain(
    store: &Store,
    fetcher: &Fetcher,
    entry: &Entry,
    sha256: &str,
    opts: &Options,
    progress: &Arc<dyn Progress>,
    say: &dyn Fn(&str),
) -> anyhow::Result<((Staging, Unpacked), Origin)> {
    let url = catalogue::mirrored(&entry.url, opts.mirror)?;
    let mut spec = DownloadSpec {
        url: url.clone(),
        sha256: sha256.to_owned(),
        size: entry.size,
        partial: None,
        local: None,
    };
    if let Some(cached) = opts.cache.lookup(sha256) {
        spec.local = Some(cached.clone());
        match fetch_and_unpack(store, fetcher, &spec, progress) {
            Ok((got, _)) => {
                crate::network::cache::DownloadCache::touch(&cached);
                return Ok((got, Origin::Cache));
            }
            Err(e) if is_mismatch(&e) => {
                say(&format!(
                    "cached archive {} no longer matches its sha256; deleted it",
                    cached.display()
                ));
                opts.cache.evict(sha256);
            }
            // Pruned by another command between the lookup and the read: fetch it instead.
            Err(e)
                if matches!(
                    e.downcast_ref::<FetchError>(),
                    Some(FetchError::File { .. })
                ) => {}
            Err(e) => return Err(e),
        }
        spec.local = None;
    }
    if file_url_path(&url).is_some() {
        let (got, _) = fetch_and_unpack(store, fetcher, &spec, progress)?;
        return Ok((got, Origin::File));
    }
    spec.partial = Some(opts.cache.partial(sha256)?);
    let (got, done) = fetch_and_unpack(store, fetcher, &spec, progress).map_err(|e| {
        if matches!(
            e.downcast_ref::<FetchError>(),
            Some(FetchError::Offline { .. })
        ) {
            InstallError::NotOffline {
                key: entry.key.clone(),
                url: url.clone(),
            }
            .into()
        } else {
            e
        }
    })?;
    if let Err(e) = opts.cache.admit(sha256) {
        say(&format!(
            "warning: could not keep the download in the cache: {e}"
        ));
    }
    let origin = Origin::Network {
        transferred: done.transferred,
        resumed_from: done.resumed_from,
    };
    Ok((got, origin))
}

fn is_mismatch(e: &anyhow::Error) -> bool {
    matches!(
        e.downcast_ref::<FetchError>(),
        Some(FetchError::DigestMismatch { .. })
    )
}

/// Streams `spec` into a fresh staging directory per try; the archive verified.
fn fetch_and_unpack(
    store: &Store,
    fetcher: &Fetcher,
    spec: &DownloadSpec,
    progress: &Arc<dyn Progress>,
) -> anyhow::Result<((Staging, Unpacked), Downloaded)> {
    let (tried, done) = fetcher.download(spec, progress, |body| {
        let staging = store.stage()?;
        let unpacked = archive::unpack(body, staging.path(), Limits::default());
        Ok::<_, StoreError>((staging, unpacked))
    })?;
    let (staging, unpacked) = tried?;
    let unpacked = unpacked.with_context(|| format!("cannot unpack {}", spec.url))?;
    Ok(((staging, unpacked), done))
}

/// Adds what `recipe` adds to the verified archive's staged tree (its bytecode, compiled by
/// its own interpreter on every core, as `sandbox`'s user; the PEP 668 marker), before the
/// digest and the flush.
fn seal(
    staging: &Staging,
    unpacked: &mut Unpacked,
    opts: &Options,
    recipe: Recipe,
    prior: &bytecode::Prior,
    progress: &Arc<dyn Progress>,
    say: &dyn Fn(&str),
) -> anyhow::Result<Option<String>> {
    let sandbox = &opts.validation.sandbox;
    let files = unpacked.nodes.len();
    progress.phase(&format!("unpacked {files} files"));
    if *sandbox == crate::ground::spawn::Sandbox::Root {
        say(
            "warning: [install] sandbox_user is root: this archive's interpreter compiles its bytecode and is validated as root",
        );
    }
    let jobs = opts
        .compile_workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get));
    let compiling = |n: usize| {
        if n > 0 {
            progress.phase(&format!(
                "unpacked {files} files; compiling {}",
                crate::ground::text::count(n as u64, "source", "sources")
            ));
        }
    };
    let added = bytecode::apply(
        staging.path(),
        &mut unpacked.nodes,
        recipe,
        jobs,
        sandbox,
        prior,
        &compiling,
    )?;
    if added.sources > 0 {
        tracing::info!(
            compiled = added.compiled,
            reused = added.reused,
            sources = added.sources,
            workers = added.workers,
            ms = added.elapsed.as_millis() as u64,
            "compiled the standard library's bytecode"
        );
    }
    crash::point("install:compiled");
    Ok(added.compiler)
}

/// How many earlier entries an install looks through for bytecode to reuse: the newest builds
/// of the same version hold what a rebuild shares.
const PRIOR_ENTRIES: u32 = 4;

/// The file indexes of the newest entries made by `recipe` whose bytecode `compiler` compiled
/// (an index that does not hash to its entry's digest is left out): the `.pyc` files an install
/// may link rather than compile.
fn earlier_trees(db: &Db, compiler: &str, recipe: &str) -> anyhow::Result<Vec<Vec<tree::Node>>> {
    Ok(db
        .trees_compiled_by(compiler, recipe, PRIOR_ENTRIES)?
        .into_iter()
        .filter_map(|(digest, blob)| tree::read_index(&blob, &digest))
        .collect())
}

/// The newest registered entry of the archive made by any recipe, whose directory is present.
fn made_otherwise(
    db: &Db,
    store: &Store,
    sha256: &str,
    key: &str,
) -> anyhow::Result<Option<Installed>> {
    for recipe in [Recipe::new(true), Recipe::new(false), Recipe::Legacy] {
        if let Some(found) = registered(db, store, sha256, key, &recipe.id())? {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// A registered entry, made by `recipe`, whose directory is present.
fn registered(
    db: &Db,
    store: &Store,
    sha256: &str,
    key: &str,
    recipe: &str,
) -> anyhow::Result<Option<Installed>> {
    Ok(db.entry_by_archive(sha256, key, recipe)?.and_then(|row| {
        let path = store.path(&row.name);
        path.join("bin/python3")
            .symlink_metadata()
            .is_ok()
            .then_some(Installed {
                row,
                path,
                fresh: false,
                origin: Origin::Store,
            })
    }))
}

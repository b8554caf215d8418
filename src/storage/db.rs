//! The `SQLite` index of the store and of every profile's generations. The only module that uses
//! rusqlite. Schema and invariants are documented in `store-layout.md`.
//!
//! The database is opened in WAL mode with `synchronous=FULL` and a busy timeout; every write is
//! a `BEGIN IMMEDIATE` transaction. A store entry's row is committed only after its directory is
//! complete and renamed into place; a generation's row is committed only after its link exists.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::storage::home::Home;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

pub(crate) const SCHEMA_VERSION: i64 = 10;
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Maps a rusqlite error to [`DbError::Sql`] naming the database file.
fn sql_err(path: &Path) -> impl Fn(rusqlite::Error) -> DbError + Copy + '_ {
    move |error| DbError::Sql {
        path: path.to_owned(),
        error,
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database {}: {error}", path.display())]
    Sql {
        path: PathBuf,
        error: rusqlite::Error,
    },
    #[error("database {} has schema version {found}, newer than this pyswap understands ({SCHEMA_VERSION})", path.display())]
    TooNew { path: PathBuf, found: i64 },
    #[error("{0}")]
    Hook(String),
    #[error("database {} has schema version {found}; a command run by its owner upgrades it first", path.display())]
    TooOld { path: PathBuf, found: i64 },
}

crate::exit::register!(DbError);
impl crate::exit::Reason for DbError {
    fn status(&self) -> crate::exit::ExitStatus {
        match self {
            Self::TooOld { .. } => crate::exit::ExitStatus::Failure,
            _ => crate::exit::ExitStatus::Error,
        }
    }
}

const SCHEMA: &str = "
CREATE TABLE entries (
    id             INTEGER PRIMARY KEY,
    name           TEXT    NOT NULL UNIQUE,
    tree_digest    TEXT    NOT NULL,
    catalogue_key  TEXT    NOT NULL,
    version        TEXT    NOT NULL,
    platform       TEXT    NOT NULL,
    variant        TEXT    NOT NULL,
    build          TEXT,
    archive_url    TEXT    NOT NULL,
    archive_sha256 TEXT    NOT NULL,
    files          INTEGER NOT NULL,
    bytes          INTEGER NOT NULL,
    validation     TEXT    NOT NULL,
    created        INTEGER NOT NULL
);
CREATE INDEX entries_by_archive ON entries (archive_sha256);
CREATE TABLE profiles (
    name            TEXT    PRIMARY KEY,
    next_generation INTEGER NOT NULL
);
CREATE TABLE generations (
    profile  TEXT    NOT NULL REFERENCES profiles (name),
    number   INTEGER NOT NULL,
    entry_id INTEGER NOT NULL REFERENCES entries (id),
    version  TEXT    NOT NULL,
    request  TEXT    NOT NULL,
    command  TEXT    NOT NULL,
    created  INTEGER NOT NULL,
    PRIMARY KEY (profile, number)
);
CREATE INDEX generations_by_entry ON generations (entry_id);
";

/// Version 2: entries pre-staged by `install`, which gc keeps until a generation uses them.
const SCHEMA_V2: &str = "
CREATE TABLE staged (
    entry_id INTEGER PRIMARY KEY REFERENCES entries (id),
    created  INTEGER NOT NULL
);
";

/// Version 3: every validation run (install, activation, health check, `pyswap check`) with its
/// full report, tied to the entry and, once there is one, the generation.
const SCHEMA_V3: &str = "
CREATE TABLE validations (
    id         INTEGER PRIMARY KEY,
    entry_id   INTEGER NOT NULL REFERENCES entries (id),
    profile    TEXT,
    generation INTEGER,
    phase      TEXT    NOT NULL,
    policy     TEXT    NOT NULL,
    ok         INTEGER NOT NULL,
    report     TEXT    NOT NULL,
    created    INTEGER NOT NULL
);
CREATE INDEX validations_by_entry ON validations (entry_id, policy);
CREATE INDEX validations_by_generation ON validations (profile, generation);
";

/// Version 4: every attempt of `switch`, `upgrade` or `rollback` to change a profile, for the
/// fleet metrics (`pyswap metrics`): when, which command, whether it succeeded, and the
/// generation current after it.
const SCHEMA_V4: &str = "
CREATE TABLE changes (
    id         INTEGER PRIMARY KEY,
    profile    TEXT    NOT NULL,
    command    TEXT    NOT NULL,
    ok         INTEGER NOT NULL,
    generation INTEGER,
    created    INTEGER NOT NULL
);
CREATE INDEX changes_by_profile ON changes (profile, id);
";

/// Version 5: the newest validation of each generation is read from an index that holds every
/// column but the report (`generations` with 10,000 generations would otherwise read every
/// report); it replaces `validations_by_generation`, its prefix.
const SCHEMA_V5: &str = "
CREATE INDEX validations_latest
    ON validations (profile, generation, id, entry_id, phase, policy, ok, created);
DROP INDEX validations_by_generation;
";

/// Version 6: what pyswap added to an entry's tree besides the archive (its bytecode and PEP 668
/// marker, see `bytecode::Recipe`); rows from before have `''`, an entry made from the archive
/// alone. An entry is reused only for the recipe in force.
const SCHEMA_V6: &str = "
ALTER TABLE entries ADD COLUMN recipe TEXT NOT NULL DEFAULT '';
";

/// Version 8: an attempt refused for what it asked (an unknown version, a policy or window
/// refusal, no such generation) is marked `refused`, so that the metrics tell a typo from a
/// rollout that failed on its way (`pyswap_last_request_valid` against
/// `pyswap_last_switch_success`).
const SCHEMA_V8: &str = "
ALTER TABLE changes ADD COLUMN refused INTEGER NOT NULL DEFAULT 0;
";

/// Version 9: signed catalogues (`[trust] keys`): per signing key and catalogue name, the
/// highest signature version this home accepted (a lower one is a rollback and refused), with
/// the newest accepted signature's expiry and catalogue for the metrics. The same version is
/// also in the signature kept beside the cached catalogue, so a restored database reopens no
/// rollback.
const SCHEMA_V9: &str = "
CREATE TABLE trust_seen (
    key_id    TEXT    NOT NULL,
    name      TEXT    NOT NULL,
    version   INTEGER NOT NULL,
    expires   INTEGER NOT NULL,
    catalogue TEXT    NOT NULL,
    accepted  INTEGER NOT NULL,
    PRIMARY KEY (key_id, name)
);
";

/// Version 10: each entry's file index (`tree::index`): its `tree-v1` serialization,
/// zstd-compressed, whose blake3 decompressed is `tree_digest`. `verify` names the files that
/// changed by it; `NULL` for entries installed before (`verify --repair` records it).
const SCHEMA_V10: &str = "
ALTER TABLE entries ADD COLUMN tree BLOB;
";

/// Version 7: venvs registered with `pyswap venv` (see `venv`): each runs one store entry, named
/// by its directory name (entry names are content addresses, never reused for other content),
/// and follows its profile's minor version. `venv_runs` holds every entry a venv has run on (a
/// return to one needs no check); `venv_moves` is the journal of a move under way.
const SCHEMA_V7: &str = "
CREATE TABLE venvs (
    path    TEXT    PRIMARY KEY,
    profile TEXT    NOT NULL,
    minor   TEXT    NOT NULL,
    entry   TEXT    NOT NULL,
    dev     INTEGER NOT NULL,
    ino     INTEGER NOT NULL,
    uid     INTEGER NOT NULL,
    created INTEGER NOT NULL,
    held    TEXT
);
CREATE TABLE venv_runs (
    path  TEXT NOT NULL,
    entry TEXT NOT NULL,
    PRIMARY KEY (path, entry)
);
CREATE TABLE venv_moves (
    path       TEXT    PRIMARY KEY,
    from_entry TEXT    NOT NULL,
    to_entry   TEXT    NOT NULL,
    version    TEXT    NOT NULL,
    started    INTEGER NOT NULL
);
";

/// A registered venv (`venvs` table).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VenvRow {
    /// Absolute, without symlinks, as registered.
    pub path: String,
    pub profile: String,
    /// `3.11`, `3.13t` (see [`crate::storage::profile::minor_tag`]).
    pub minor: String,
    /// The store entry (directory name) its `pyvenv.cfg` and links name.
    pub entry: String,
    /// Device and inode of its directory when registered: a path that now names another
    /// directory is not this venv.
    pub dev: u64,
    pub ino: u64,
    /// Its owner (who the checks run as).
    pub uid: u32,
    pub created: i64,
    /// Why the last move was refused (the entry it was held from, and the check's failure).
    pub held: Option<String>,
}

/// A move under way (`venv_moves`): the venv is being pointed from `from` to `to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct VenvMove {
    pub(crate) path: String,
    pub(crate) from: String,
    pub(crate) to: String,
    /// The version of `to`, written into `pyvenv.cfg`.
    pub(crate) version: String,
}

fn venv_from(r: &Row<'_>) -> rusqlite::Result<VenvRow> {
    Ok(VenvRow {
        path: r.get(0)?,
        profile: r.get(1)?,
        minor: r.get(2)?,
        entry: r.get(3)?,
        dev: r.get(4)?,
        ino: r.get(5)?,
        uid: r.get(6)?,
        created: r.get(7)?,
        held: r.get(8)?,
    })
}

const VENV_COLS: &str = "path, profile, minor, entry, dev, ino, uid, created, held";

/// An accepted catalogue signature (`trust_seen` table).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TrustRow {
    pub(crate) key_id: String,
    pub(crate) name: String,
    pub(crate) version: u64,
    pub(crate) expires: i64,
    /// The catalogue it signed (URL without credentials, or path).
    pub(crate) catalogue: String,
    pub(crate) accepted: i64,
}

/// One attempt to change a profile (`changes` table).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ChangeRow {
    pub(crate) profile: String,
    pub(crate) command: String,
    pub(crate) ok: bool,
    /// It failed for what it asked (the request, not the host, was at fault).
    pub(crate) refused: bool,
    /// The generation current after it, when it succeeded.
    pub(crate) generation: Option<u64>,
    pub(crate) created: i64,
}

fn validation_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<ValidationRow> {
    Ok(ValidationRow {
        entry_id: r.get(0)?,
        profile: r.get(1)?,
        generation: r.get(2)?,
        phase: r.get(3)?,
        policy: r.get(4)?,
        ok: r.get(5)?,
        report: r.get(6)?,
        created: r.get(7)?,
    })
}

/// One stored validation run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ValidationRow {
    pub(crate) entry_id: i64,
    pub(crate) profile: Option<String>,
    pub(crate) generation: Option<u64>,
    pub(crate) phase: String,
    pub(crate) policy: String,
    pub(crate) ok: bool,
    /// The report, as JSON (see `validate::Report`).
    pub(crate) report: String,
    pub(crate) created: i64,
}

/// A store entry's row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryRow {
    pub(crate) id: i64,
    pub name: String,
    pub tree_digest: String,
    pub(crate) catalogue_key: String,
    pub(crate) version: String,
    pub(crate) platform: String,
    pub(crate) variant: String,
    pub(crate) build: Option<String>,
    pub(crate) archive_url: String,
    pub(crate) archive_sha256: String,
    pub(crate) files: u64,
    pub(crate) bytes: u64,
    pub(crate) validation: String,
    pub(crate) created: i64,
    /// What pyswap added to the archive's tree (`bytecode::Recipe::id`); `''` before schema 6.
    pub(crate) recipe: String,
}

impl EntryRow {
    /// `3.11.7+20240107`: the version, variant and build, as human output shows a runtime.
    pub(crate) fn label(&self) -> String {
        crate::version::label(&self.version, &self.variant, self.build.as_deref())
    }

    /// Whether this installed runtime is one `request` asks for (its key, or its version,
    /// variant and build).
    pub(crate) fn fits(&self, request: &crate::version::Request) -> bool {
        let fits = request.key().map_or_else(
            || {
                let variant = crate::version::Variant::from_row(&self.variant);
                crate::version::PythonVersion::parse(&self.version)
                    .is_some_and(|v| request.matches(&v))
                    && variant == Some(request.variant())
            },
            |key| self.catalogue_key == key,
        );
        fits && request.admits_build(self.build.as_deref())
    }
}

/// A new entry, before it has an id.
pub(crate) type NewEntry = EntryRow;

/// A generation's row, with its entry's directory name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenerationRow {
    pub(crate) profile: String,
    pub(crate) number: u64,
    pub(crate) entry_id: i64,
    pub entry_name: String,
    pub(crate) version: String,
    pub(crate) request: String,
    pub(crate) command: String,
    pub(crate) created: i64,
    /// The entry's variant (`''`, `freethreaded`, ...) and build tag.
    pub(crate) variant: String,
    pub(crate) build: Option<String>,
}

impl GenerationRow {
    /// The catalogue key of its entry (the entry name after the digest).
    pub(crate) fn key(&self) -> &str {
        crate::storage::store::key_of(&self.entry_name)
    }

    /// `3.11.7+20240107`: the version, variant and build, as human output shows a runtime.
    pub(crate) fn label(&self) -> String {
        crate::version::label(&self.version, &self.variant, self.build.as_deref())
    }

    /// `3.11`, `3.13t`: the minor version and variant (see [`crate::storage::profile::minor_tag`]).
    pub(crate) fn minor(&self) -> Option<String> {
        crate::storage::profile::minor_tag(&self.version, &self.variant)
    }
}

pub struct Db {
    conn: Connection,
    path: PathBuf,
}

fn entry_from(r: &Row<'_>) -> rusqlite::Result<EntryRow> {
    Ok(EntryRow {
        id: r.get(0)?,
        name: r.get(1)?,
        tree_digest: r.get(2)?,
        catalogue_key: r.get(3)?,
        version: r.get(4)?,
        platform: r.get(5)?,
        variant: r.get(6)?,
        build: r.get(7)?,
        archive_url: r.get(8)?,
        archive_sha256: r.get(9)?,
        files: r.get(10)?,
        bytes: r.get(11)?,
        validation: r.get(12)?,
        created: r.get(13)?,
        recipe: r.get(14)?,
    })
}

const ENTRY_COLS: &str = "id, name, tree_digest, catalogue_key, version, platform, variant, build, archive_url, archive_sha256, files, bytes, validation, created, recipe";

fn generation_from(r: &Row<'_>) -> rusqlite::Result<GenerationRow> {
    Ok(GenerationRow {
        profile: r.get(0)?,
        number: r.get(1)?,
        entry_id: r.get(2)?,
        entry_name: r.get(3)?,
        version: r.get(4)?,
        request: r.get(5)?,
        command: r.get(6)?,
        created: r.get(7)?,
        variant: r.get(8)?,
        build: r.get(9)?,
    })
}

const GENERATION_SELECT: &str = "SELECT g.profile, g.number, g.entry_id, e.name, g.version, g.request, g.command, g.created, e.variant, e.build FROM generations g JOIN entries e ON e.id = g.entry_id";

impl Db {
    /// Opens the home's database for a command that writes: the home's directories created,
    /// the database created and migrated. A new database is readable by whoever may enter the
    /// home ([`Home::shared_mode`]; SQLite gives `-wal` and `-shm` the same mode); a mode the
    /// operator set is never changed.
    pub(crate) fn open_home(home: &Home) -> anyhow::Result<Self> {
        home.create()?;
        Self::open_created(home)
    }

    /// [`Db::open_home`] for a command that only prunes or changes what is there: a home that
    /// does not exist is an error naming it, never created as a side effect.
    pub(crate) fn open_existing_home(home: &Home) -> anyhow::Result<Self> {
        home.require()?;
        Self::open_home(home)
    }

    fn open_created(home: &Home) -> anyhow::Result<Self> {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let mode = std::fs::metadata(home.db()).ok().map(|m| m.mode() & 0o777);
        let db = Self::open_home_db(home)?;
        // New, or at pyswap's old default (0600): readable as the home is, so that the users who
        // may read the home can run the read commands (an operator keeps it private by making
        // the home 0700); any other mode is the operator's and stays.
        if mode.is_none_or(|m| m == 0o600) {
            let shared = home.shared_mode();
            for name in ["pyswap.db", "pyswap.db-wal", "pyswap.db-shm"] {
                let _ = std::fs::set_permissions(
                    home.root().join(name),
                    std::fs::Permissions::from_mode(shared),
                );
            }
        }
        Ok(db)
    }

    /// Opens the home's database to read it; `None` when nothing was ever installed. A user
    /// who may read the home but not write it can use it; a database of an older schema is
    /// upgraded first when this user may write it.
    pub(crate) fn open_home_read(home: &Home) -> anyhow::Result<Option<Self>> {
        home.readable()?;
        if !home.exists() {
            return Ok(None);
        }
        match Self::open_read_only(&home.db()) {
            Err(DbError::TooOld { .. }) if home.writable() => Self::open_home_db(home).map(Some),
            r => Ok(Some(r?)),
        }
    }

    /// The database, or, when it cannot be opened because the home is read-only or full, that.
    fn open_home_db(home: &Home) -> anyhow::Result<Self> {
        Self::open(&home.db()).map_err(|e| match home.unusable() {
            Some(why) => anyhow::Error::new(why),
            None => e.into(),
        })
    }

    /// Opens (creating and migrating if needed) the database at `path`.
    ///
    /// Switching a new database to WAL needs it to itself, and SQLite does not always wait for
    /// that through the busy handler; so when several commands create the database at once, the
    /// set-up is retried while SQLite answers "busy" or "locked", up to the busy timeout.
    pub fn open(path: &Path) -> Result<Self, DbError> {
        let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
        loop {
            match Self::try_open(path) {
                Err(DbError::Sql { error, .. })
                    if is_busy(&error) && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(10));
                }
                other => return other,
            }
        }
    }

    /// Opens the database only to read it, for a user who may not write the home (`current`,
    /// `generations`, `list`, `verify`): nothing is written, not even the WAL index. First as a
    /// read-only connection (which still uses the `-shm` index when it can); when SQLite cannot
    /// set that up without writing (another user's home, with no `-wal` left after its last
    /// writer closed, which checkpoints), as an immutable file, which is then exactly what it
    /// holds. The schema must be the current one: only a writer migrates.
    pub(crate) fn open_read_only(path: &Path) -> Result<Self, DbError> {
        use rusqlite::OpenFlags;
        let err = sql_err(path);
        let base = url::Url::from_file_path(path).map_err(|()| DbError::Sql {
            path: path.to_owned(),
            error: rusqlite::Error::InvalidPath(path.to_owned()),
        })?;
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut last = None;
        for query in ["mode=ro", "immutable=1"] {
            let uri = format!("{base}?{query}");
            let attempt = Connection::open_with_flags(&uri, flags).and_then(|conn| {
                conn.busy_timeout(BUSY_TIMEOUT)?;
                let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
                Ok((conn, found))
            });
            match attempt {
                Ok((conn, found)) => {
                    if found > SCHEMA_VERSION {
                        return Err(DbError::TooNew {
                            path: path.to_owned(),
                            found,
                        });
                    }
                    if found < SCHEMA_VERSION {
                        return Err(DbError::TooOld {
                            path: path.to_owned(),
                            found,
                        });
                    }
                    return Ok(Self {
                        conn,
                        path: path.to_owned(),
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(err(last.unwrap_or(rusqlite::Error::InvalidQuery)))
    }

    fn try_open(path: &Path) -> Result<Self, DbError> {
        let err = sql_err(path);
        let conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(err)?;
        let mut db = Self {
            conn,
            path: path.to_owned(),
        };
        db.migrate()?;
        Ok(db)
    }

    fn migrate(&mut self) -> Result<(), DbError> {
        let found: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(sql_err(&self.path))?;
        if found > SCHEMA_VERSION {
            return Err(DbError::TooNew {
                path: self.path.clone(),
                found,
            });
        }
        if found == SCHEMA_VERSION {
            return Ok(());
        }
        let err = sql_err(&self.path);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        // Re-read under the write lock: another process may have migrated meanwhile.
        let now: i64 = tx
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(err)?;
        if now < 1 {
            tx.execute_batch(SCHEMA).map_err(err)?;
        }
        if now < 2 {
            tx.execute_batch(SCHEMA_V2).map_err(err)?;
        }
        if now < 3 {
            tx.execute_batch(SCHEMA_V3).map_err(err)?;
        }
        if now < 4 {
            tx.execute_batch(SCHEMA_V4).map_err(err)?;
        }
        if now < 5 {
            tx.execute_batch(SCHEMA_V5).map_err(err)?;
        }
        if now < 6 {
            tx.execute_batch(SCHEMA_V6).map_err(err)?;
        }
        if now < 7 {
            tx.execute_batch(SCHEMA_V7).map_err(err)?;
        }
        if now < 8 {
            tx.execute_batch(SCHEMA_V8).map_err(err)?;
        }
        if now < 9 {
            tx.execute_batch(SCHEMA_V9).map_err(err)?;
        }
        if now < 10 {
            tx.execute_batch(SCHEMA_V10).map_err(err)?;
        }
        if now < SCHEMA_VERSION {
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)
                .map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    /// The entry made from the archive with this sha256 for this catalogue key by `recipe`, if any.
    pub(crate) fn entry_by_archive(
        &self,
        sha256: &str,
        key: &str,
        recipe: &str,
    ) -> Result<Option<EntryRow>, DbError> {
        self.conn
            .query_row(&format!("SELECT {ENTRY_COLS} FROM entries WHERE archive_sha256 = ?1 AND catalogue_key = ?2 AND recipe = ?3 ORDER BY id DESC LIMIT 1"), params![sha256, key, recipe], entry_from)
            .optional()
            .map_err(sql_err(&self.path))
    }

    /// How human output names the runtime of store entry `name`: its label (`3.11.7+20260201`),
    /// or the name itself for an entry without a row.
    pub(crate) fn runtime_label(&self, name: &str) -> String {
        self.entry_by_name(name)
            .ok()
            .flatten()
            .map_or_else(|| name.to_owned(), |e| e.label())
    }

    pub fn entry_by_name(&self, name: &str) -> Result<Option<EntryRow>, DbError> {
        self.conn
            .query_row(
                &format!("SELECT {ENTRY_COLS} FROM entries WHERE name = ?1"),
                params![name],
                entry_from,
            )
            .optional()
            .map_err(sql_err(&self.path))
    }

    /// Entry `name`'s file index (`tree::index`), if it has one.
    pub(crate) fn entry_tree(&self, name: &str) -> Result<Option<Vec<u8>>, DbError> {
        self.conn
            .query_row(
                "SELECT tree FROM entries WHERE name = ?1",
                params![name],
                |r| r.get::<_, Option<Vec<u8>>>(0),
            )
            .optional()
            .map(Option::flatten)
            .map_err(sql_err(&self.path))
    }

    /// Gives entry `name` the file index of its tree as found or restored intact (digest
    /// checked by the caller), in place of none or of one that did not hash to its digest.
    pub(crate) fn record_tree(&mut self, name: &str, tree: &[u8]) -> Result<(), DbError> {
        self.conn
            .execute(
                "UPDATE entries SET tree = ?2 WHERE name = ?1",
                params![name, tree],
            )
            .map(drop)
            .map_err(sql_err(&self.path))
    }

    pub fn entries(&self) -> Result<Vec<EntryRow>, DbError> {
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT {ENTRY_COLS} FROM entries ORDER BY version, name"
            ))
            .map_err(sql_err(&self.path))?;
        st.query_map([], entry_from)
            .and_then(Iterator::collect)
            .map_err(sql_err(&self.path))
    }

    /// Records a published entry with its file index (`tree::index`); if a row with its name
    /// exists (same content), returns that (given the index if it had none).
    pub(crate) fn insert_entry(&mut self, e: &NewEntry, tree: &[u8]) -> Result<EntryRow, DbError> {
        let err = sql_err(&self.path);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        tx.execute(
            "INSERT INTO entries (name, tree_digest, catalogue_key, version, platform, variant, build, archive_url, archive_sha256, files, bytes, validation, created, recipe, tree)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) ON CONFLICT (name) DO UPDATE SET tree = excluded.tree WHERE entries.tree IS NULL AND entries.tree_digest = excluded.tree_digest",
            params![e.name, e.tree_digest, e.catalogue_key, e.version, e.platform, e.variant, e.build, e.archive_url, e.archive_sha256, e.files, e.bytes, e.validation, e.created, e.recipe, tree],
        )
        .map_err(err)?;
        let row = tx
            .query_row(
                &format!("SELECT {ENTRY_COLS} FROM entries WHERE name = ?1"),
                params![e.name],
                entry_from,
            )
            .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(row)
    }

    pub(crate) fn generations(&self, profile: &str) -> Result<Vec<GenerationRow>, DbError> {
        let mut st = self
            .conn
            .prepare(&format!(
                "{GENERATION_SELECT} WHERE g.profile = ?1 ORDER BY g.number"
            ))
            .map_err(sql_err(&self.path))?;
        st.query_map(params![profile], generation_from)
            .and_then(Iterator::collect)
            .map_err(sql_err(&self.path))
    }

    pub fn all_generations(&self) -> Result<Vec<GenerationRow>, DbError> {
        let mut st = self
            .conn
            .prepare(&format!("{GENERATION_SELECT} ORDER BY g.profile, g.number"))
            .map_err(sql_err(&self.path))?;
        st.query_map([], generation_from)
            .and_then(Iterator::collect)
            .map_err(sql_err(&self.path))
    }

    /// How many generations `profile` has.
    pub(crate) fn generation_count(&self, profile: &str) -> Result<u64, DbError> {
        self.conn
            .query_row(
                "SELECT COUNT(*) FROM generations WHERE profile = ?1",
                params![profile],
                |r| r.get(0),
            )
            .map_err(sql_err(&self.path))
    }

    /// The newest generation of `profile` older than `number`, if any.
    pub(crate) fn generation_before(
        &self,
        profile: &str,
        number: u64,
    ) -> Result<Option<GenerationRow>, DbError> {
        self.one_generation(
            "g.number < ?2 ORDER BY g.number DESC LIMIT 1",
            profile,
            number,
        )
    }

    pub fn generation(&self, profile: &str, number: u64) -> Result<Option<GenerationRow>, DbError> {
        self.one_generation("g.number = ?2", profile, number)
    }

    /// The generation of `profile` that `condition` (on `?2` = `number`) picks, if any.
    fn one_generation(
        &self,
        condition: &str,
        profile: &str,
        number: u64,
    ) -> Result<Option<GenerationRow>, DbError> {
        self.conn
            .query_row(
                &format!("{GENERATION_SELECT} WHERE g.profile = ?1 AND {condition}"),
                params![profile, number],
                generation_from,
            )
            .optional()
            .map_err(sql_err(&self.path))
    }

    /// Records an attempt to change a profile (kept: the newest 100 per profile).
    pub(crate) fn record_change(&mut self, c: &ChangeRow) -> Result<(), DbError> {
        let err = sql_err(&self.path);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        tx.execute(
            "INSERT INTO changes (profile, command, ok, generation, created, refused) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![c.profile, c.command, c.ok, c.generation, c.created, c.refused],
        )
        .map_err(err)?;
        tx.execute(
            "DELETE FROM changes WHERE profile = ?1 AND id NOT IN (SELECT id FROM changes WHERE profile = ?1 ORDER BY id DESC LIMIT 100)",
            params![c.profile],
        )
        .map_err(err)?;
        tx.commit().map_err(err)
    }

    /// The newest attempt to change each profile; with `valid`, the newest that was not refused
    /// for what it asked.
    pub(crate) fn last_changes(&self, valid: bool) -> Result<Vec<ChangeRow>, DbError> {
        let err = sql_err(&self.path);
        let filter = if valid { "WHERE refused = 0" } else { "" };
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT profile, command, ok, generation, created, refused FROM changes WHERE id IN (SELECT MAX(id) FROM changes {filter} GROUP BY profile) ORDER BY profile",
            ))
            .map_err(err)?;
        st.query_map([], |r| {
            Ok(ChangeRow {
                profile: r.get(0)?,
                command: r.get(1)?,
                ok: r.get(2)?,
                generation: r.get(3)?,
                created: r.get(4)?,
                refused: r.get(5)?,
            })
        })
        .and_then(Iterator::collect)
        .map_err(err)
    }

    /// The highest catalogue signature version accepted for catalogue line `name`, by any key:
    /// the floor of that line (a key rotation does not reopen a rollback).
    pub(crate) fn trust_floor(&self, name: &str) -> Result<Option<u64>, DbError> {
        self.conn
            .query_row(
                "SELECT MAX(version) FROM trust_seen WHERE name = ?1",
                params![name],
                |r| r.get(0),
            )
            .map_err(sql_err(&self.path))
    }

    /// Records an accepted catalogue signature: its version becomes the floor (never lowered).
    pub(crate) fn record_trust(&mut self, t: &TrustRow) -> Result<(), DbError> {
        self.conn
            .execute(
                "INSERT INTO trust_seen (key_id, name, version, expires, catalogue, accepted) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (key_id, name) DO UPDATE SET
                   version = MAX(version, excluded.version),
                   expires = CASE WHEN excluded.version >= version THEN excluded.expires ELSE expires END,
                   catalogue = excluded.catalogue, accepted = excluded.accepted",
                params![t.key_id, t.name, t.version, t.expires, t.catalogue, t.accepted],
            )
            .map(|_| ())
            .map_err(sql_err(&self.path))
    }

    /// Every accepted signature line (for the metrics).
    pub(crate) fn trust_rows(&self) -> Result<Vec<TrustRow>, DbError> {
        let err = sql_err(&self.path);
        let mut st = self
            .conn
            .prepare("SELECT key_id, name, version, expires, catalogue, accepted FROM trust_seen ORDER BY key_id, name")
            .map_err(err)?;
        st.query_map([], |r| {
            Ok(TrustRow {
                key_id: r.get(0)?,
                name: r.get(1)?,
                version: r.get(2)?,
                expires: r.get(3)?,
                catalogue: r.get(4)?,
                accepted: r.get(5)?,
            })
        })
        .and_then(Iterator::collect)
        .map_err(err)
    }

    /// The number the profile's next generation will get.
    pub(crate) fn next_generation(&self, profile: &str) -> Result<u64, DbError> {
        self.conn
            .query_row(
                "SELECT next_generation FROM profiles WHERE name = ?1",
                params![profile],
                |r| r.get(0),
            )
            .optional()
            .map(|n| n.unwrap_or(1))
            .map_err(sql_err(&self.path))
    }

    /// Allocates the profile's next generation number (never reused), inserts its row, and runs
    /// `materialise(n)` (which creates the generation's link) before committing. If
    /// `materialise` fails, nothing is recorded.
    pub(crate) fn add_generation(
        &mut self,
        g: &GenerationRow,
        materialise: impl FnOnce(u64) -> Result<(), String>,
    ) -> Result<u64, DbError> {
        let err = sql_err(&self.path);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        tx.execute("INSERT INTO profiles (name, next_generation) VALUES (?1, 1) ON CONFLICT (name) DO NOTHING", params![g.profile]).map_err(err)?;
        let n: u64 = tx
            .query_row(
                "SELECT next_generation FROM profiles WHERE name = ?1",
                params![g.profile],
                |r| r.get(0),
            )
            .map_err(err)?;
        tx.execute(
            "INSERT INTO generations (profile, number, entry_id, version, request, command, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![g.profile, n, g.entry_id, g.version, g.request, g.command, g.created],
        )
        .map_err(err)?;
        tx.execute(
            "UPDATE profiles SET next_generation = ?2 WHERE name = ?1",
            params![g.profile, n + 1],
        )
        .map_err(err)?;
        materialise(n).map_err(DbError::Hook)?;
        crate::crash::point("generation:before-commit");
        tx.commit().map_err(err)?;
        Ok(n)
    }

    /// Inserts the row of generation `n` of `profile`, found on disk without one (`verify
    /// --repair`), and raises the profile's `next_generation` past it.
    pub(crate) fn insert_recovered_generation(
        &mut self,
        profile: &str,
        n: u64,
        entry: &EntryRow,
        created: i64,
    ) -> Result<(), DbError> {
        let err = sql_err(&self.path);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        tx.execute(
            "INSERT INTO profiles (name, next_generation) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET next_generation = max(next_generation, ?2)",
            params![profile, n + 1],
        )
        .map_err(err)?;
        tx.execute(
            "INSERT INTO generations (profile, number, entry_id, version, request, command, created) VALUES (?1, ?2, ?3, ?4, '(recovered)', 'recover', ?5) ON CONFLICT DO NOTHING",
            params![profile, n, entry.id, entry.version, created],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(())
    }

    /// Deletes generation rows (links are the caller's to remove afterwards).
    pub(crate) fn delete_generations(&mut self, gens: &[(String, u64)]) -> Result<(), DbError> {
        let err = sql_err(&self.path);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        for (profile, n) in gens {
            tx.execute(
                "DELETE FROM validations WHERE profile = ?1 AND generation = ?2",
                params![profile, n],
            )
            .map_err(err)?;
            tx.execute(
                "DELETE FROM generations WHERE profile = ?1 AND number = ?2",
                params![profile, n],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    /// Marks an entry as pre-staged: gc keeps it until a generation uses it.
    pub(crate) fn mark_staged(&mut self, entry_id: i64, now: i64) -> Result<(), DbError> {
        self.conn
            .execute(
                "INSERT INTO staged (entry_id, created) VALUES (?1, ?2) ON CONFLICT (entry_id) DO NOTHING",
                params![entry_id, now],
            )
            .map(drop)
            .map_err(sql_err(&self.path))
    }

    /// Clears the pre-staged mark (a generation now uses the entry).
    pub(crate) fn unstage(&mut self, entry_id: i64) -> Result<(), DbError> {
        self.conn
            .execute("DELETE FROM staged WHERE entry_id = ?1", params![entry_id])
            .map(drop)
            .map_err(sql_err(&self.path))
    }

    /// Names of the entries pre-staged by `install`.
    pub(crate) fn staged_names(&self) -> Result<Vec<String>, DbError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT e.name FROM staged s JOIN entries e ON e.id = s.entry_id ORDER BY e.name",
            )
            .map_err(sql_err(&self.path))?;
        st.query_map([], |r| r.get(0))
            .and_then(Iterator::collect)
            .map_err(sql_err(&self.path))
    }

    /// Deletes entry rows that no generation references (and their staged marks); returns the
    /// rows deleted. Entries named in `keep` stay.
    pub(crate) fn delete_unreferenced_entries(
        &mut self,
        keep: &[String],
    ) -> Result<Vec<EntryRow>, DbError> {
        let err = sql_err(&self.path);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let doomed: Vec<EntryRow> = {
            let mut st = tx.prepare(&format!("SELECT {ENTRY_COLS} FROM entries WHERE id NOT IN (SELECT entry_id FROM generations)")).map_err(err)?;
            st.query_map([], entry_from)
                .and_then(Iterator::collect)
                .map_err(err)?
        };
        let doomed: Vec<EntryRow> = doomed
            .into_iter()
            .filter(|e| !keep.contains(&e.name))
            .collect();
        for e in &doomed {
            tx.execute("DELETE FROM staged WHERE entry_id = ?1", params![e.id])
                .map_err(err)?;
            tx.execute("DELETE FROM validations WHERE entry_id = ?1", params![e.id])
                .map_err(err)?;
            tx.execute("DELETE FROM entries WHERE id = ?1", params![e.id])
                .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(doomed)
    }

    /// Stores one validation run.
    pub(crate) fn record_validation(&mut self, v: &ValidationRow) -> Result<(), DbError> {
        self.conn
            .execute(
                "INSERT INTO validations (entry_id, profile, generation, phase, policy, ok, report, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![v.entry_id, v.profile, v.generation, v.phase, v.policy, v.ok, v.report, v.created],
            )
            .map(drop)
            .map_err(sql_err(&self.path))
    }

    /// The report of the entry's newest pre-activation validation under policy fingerprint
    /// `policy`, if that run passed.
    pub(crate) fn validated(&self, entry_id: i64, policy: &str) -> Result<Option<String>, DbError> {
        self.conn
            .query_row(
                "SELECT ok, report FROM validations WHERE entry_id = ?1 AND policy = ?2 AND phase IN ('install', 'activate', 'check') ORDER BY id DESC LIMIT 1",
                params![entry_id, policy],
                |r| Ok((r.get::<_, bool>(0)?, r.get::<_, String>(1)?)),
            )
            .optional()
            .map(|found| found.and_then(|(ok, report)| ok.then_some(report)))
            .map_err(sql_err(&self.path))
    }

    /// The newest validation run recorded for each of the profile's generations.
    /// The newest validation of every generation of `profile`, by generation number. The
    /// `report` of each is left empty (the verdicts are what callers list; a report is several
    /// KiB, and a profile can have thousands of generations).
    pub(crate) fn latest_validations(
        &self,
        profile: &str,
    ) -> Result<std::collections::HashMap<u64, ValidationRow>, DbError> {
        let mut st = self
            .conn
            .prepare(
                // One pass over `validations_latest` (no report read); the last row of each
                // generation is its newest.
                "SELECT entry_id, profile, generation, phase, policy, ok, '', created FROM validations
                 WHERE profile = ?1 AND generation IS NOT NULL ORDER BY generation, id",
            )
            .map_err(sql_err(&self.path))?;
        st.query_map(params![profile], validation_from)
            .and_then(|rows| {
                rows.map(|row| row.map(|v| (v.generation.unwrap_or(0), v)))
                    .collect()
            })
            .map_err(sql_err(&self.path))
    }

    /// The newest validation of generation `n` of `profile`, report included.
    pub(crate) fn latest_validation(
        &self,
        profile: &str,
        n: u64,
    ) -> Result<Option<ValidationRow>, DbError> {
        self.conn
            .query_row(
                "SELECT entry_id, profile, generation, phase, policy, ok, report, created FROM validations
                 WHERE profile = ?1 AND generation = ?2 ORDER BY id DESC LIMIT 1",
                params![profile, n],
                validation_from,
            )
            .optional()
            .map_err(sql_err(&self.path))
    }

    pub(crate) fn profiles(&self) -> Result<Vec<String>, DbError> {
        let mut st = self
            .conn
            .prepare("SELECT name FROM profiles ORDER BY name")
            .map_err(sql_err(&self.path))?;
        st.query_map([], |r| r.get(0))
            .and_then(Iterator::collect)
            .map_err(sql_err(&self.path))
    }
    /// Every registered venv, by path.
    pub(crate) fn venvs(&self) -> Result<Vec<VenvRow>, DbError> {
        let err = sql_err(&self.path);
        let mut st = self
            .conn
            .prepare(&format!("SELECT {VENV_COLS} FROM venvs ORDER BY path"))
            .map_err(err)?;
        st.query_map([], venv_from)
            .and_then(Iterator::collect)
            .map_err(err)
    }

    /// The venv registered at `path`.
    pub(crate) fn venv(&self, path: &str) -> Result<Option<VenvRow>, DbError> {
        self.conn
            .query_row(
                &format!("SELECT {VENV_COLS} FROM venvs WHERE path = ?1"),
                params![path],
                venv_from,
            )
            .optional()
            .map_err(sql_err(&self.path))
    }

    /// Registers (or re-registers) a venv; the entry it runs is recorded as run on.
    pub fn put_venv(&mut self, v: &VenvRow) -> Result<(), DbError> {
        let err = sql_err(&self.path);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        tx.execute(
            "INSERT OR REPLACE INTO venvs (path, profile, minor, entry, dev, ino, uid, created, held) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![v.path, v.profile, v.minor, v.entry, v.dev, v.ino, v.uid, v.created, v.held],
        )
        .map_err(err)?;
        tx.execute(
            "INSERT OR IGNORE INTO venv_runs (path, entry) VALUES (?1, ?2)",
            params![v.path, v.entry],
        )
        .map_err(err)?;
        tx.commit().map_err(err)
    }

    /// Forgets a venv (its row, what it ran on, an unfinished move).
    pub(crate) fn forget_venv(&mut self, path: &str) -> Result<(), DbError> {
        let err = sql_err(&self.path);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        for table in ["venvs", "venv_runs", "venv_moves"] {
            tx.execute(
                &format!("DELETE FROM {table} WHERE path = ?1"),
                params![path],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    /// Whether the venv at `path` has run on `entry` before.
    pub(crate) fn venv_ran_on(&self, path: &str, entry: &str) -> Result<bool, DbError> {
        self.conn
            .query_row(
                "SELECT 1 FROM venv_runs WHERE path = ?1 AND entry = ?2",
                params![path, entry],
                |_| Ok(()),
            )
            .optional()
            .map(|r| r.is_some())
            .map_err(sql_err(&self.path))
    }

    /// Records why a venv was not moved (`None` clears it).
    pub(crate) fn set_venv_held(&mut self, path: &str, held: Option<&str>) -> Result<(), DbError> {
        self.conn
            .execute(
                "UPDATE venvs SET held = ?2 WHERE path = ?1",
                params![path, held],
            )
            .map(drop)
            .map_err(sql_err(&self.path))
    }

    /// Journals a move before its first rename.
    pub(crate) fn begin_venv_move(&mut self, m: &VenvMove, now: i64) -> Result<(), DbError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO venv_moves (path, from_entry, to_entry, version, started) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![m.path, m.from, m.to, m.version, now],
            )
            .map(drop)
            .map_err(sql_err(&self.path))
    }

    /// Moves journaled and not finished (a command was killed during them).
    pub(crate) fn venv_moves(&self) -> Result<Vec<VenvMove>, DbError> {
        let err = sql_err(&self.path);
        let mut st = self
            .conn
            .prepare("SELECT path, from_entry, to_entry, version FROM venv_moves ORDER BY path")
            .map_err(err)?;
        st.query_map([], |r| {
            Ok(VenvMove {
                path: r.get(0)?,
                from: r.get(1)?,
                to: r.get(2)?,
                version: r.get(3)?,
            })
        })
        .and_then(Iterator::collect)
        .map_err(err)
    }

    /// Ends a move: the venv runs `to` (or, when it was undone, `from`), the journal row goes.
    pub(crate) fn end_venv_move(&mut self, m: &VenvMove, now_on: &str) -> Result<(), DbError> {
        let err = sql_err(&self.path);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        tx.execute(
            "UPDATE venvs SET entry = ?2, held = NULL WHERE path = ?1",
            params![m.path, now_on],
        )
        .map_err(err)?;
        tx.execute(
            "INSERT OR IGNORE INTO venv_runs (path, entry) VALUES (?1, ?2)",
            params![m.path, now_on],
        )
        .map_err(err)?;
        tx.execute("DELETE FROM venv_moves WHERE path = ?1", params![m.path])
            .map_err(err)?;
        tx.commit().map_err(err)
    }

    /// Entry names that registered venvs and unfinished moves use (gc roots).
    pub(crate) fn venv_entries(&self) -> Result<Vec<String>, DbError> {
        let err = sql_err(&self.path);
        let mut st = self
            .conn
            .prepare("SELECT entry FROM venvs UNION SELECT from_entry FROM venv_moves UNION SELECT to_entry FROM venv_moves")
            .map_err(err)?;
        st.query_map([], |r| r.get(0))
            .and_then(Iterator::collect)
            .map_err(err)
    }

    /// Runs `SQLite`'s own consistency checks (used by tests and future `verify`).
    pub fn integrity_ok(&self) -> Result<bool, DbError> {
        let ok: String = self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(sql_err(&self.path))?;
        let fk: Option<String> = self
            .conn
            .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
            .optional()
            .map_err(sql_err(&self.path))?;
        Ok(ok == "ok" && fk.is_none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_1_database_is_migrated_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pyswap.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(SCHEMA).unwrap();
            conn.execute(
                "INSERT INTO entries (name, tree_digest, catalogue_key, version, platform, variant, archive_url, archive_sha256, files, bytes, validation, created) VALUES ('n', 'd', 'k', '3.12.4', 'p', '', 'u', 's', 1, 2, '{}', 0)",
                [],
            )
            .unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
        }
        let mut db = Db::open(&path).unwrap();
        let id = db.entries().unwrap()[0].id;
        db.mark_staged(id, 5).unwrap();
        db.mark_staged(id, 6).unwrap();
        assert_eq!(db.staged_names().unwrap(), vec!["n".to_owned()]);
        assert!(
            db.delete_unreferenced_entries(&["n".into()])
                .unwrap()
                .is_empty()
        );
        assert_eq!(db.delete_unreferenced_entries(&[]).unwrap().len(), 1);
        assert!(db.staged_names().unwrap().is_empty());
        assert!(db.integrity_ok().unwrap());
    }

    #[test]
    fn a_version_5_database_gains_recipes_and_its_entries_are_made_by_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pyswap.db");
        {
            let conn = Connection::open(&path).unwrap();
            for schema in [SCHEMA, SCHEMA_V2, SCHEMA_V3, SCHEMA_V4, SCHEMA_V5] {
                conn.execute_batch(schema).unwrap();
            }
            conn.execute(
                "INSERT INTO entries (name, tree_digest, catalogue_key, version, platform, variant, archive_url, archive_sha256, files, bytes, validation, created) VALUES ('n', 'd', 'k', '3.12.4', 'p', '', 'u', 's', 1, 2, '{}', 0)",
                [],
            )
            .unwrap();
            conn.pragma_update(None, "user_version", 5).unwrap();
        }
        let db = Db::open(&path).unwrap();
        let row = db.entries().unwrap().remove(0);
        assert_eq!(row.recipe, "");
        assert_eq!(db.entry_by_archive("s", "k", "").unwrap(), Some(row));
        assert_eq!(db.entry_by_archive("s", "k", "pyc1").unwrap(), None);
        assert!(db.integrity_ok().unwrap());
    }

    #[test]
    fn a_version_2_database_gains_validations_and_gc_removes_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pyswap.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(SCHEMA).unwrap();
            conn.execute_batch(SCHEMA_V2).unwrap();
            conn.execute(
                "INSERT INTO entries (name, tree_digest, catalogue_key, version, platform, variant, archive_url, archive_sha256, files, bytes, validation, created) VALUES ('n', 'd', 'k', '3.12.4', 'p', '', 'u', 's', 1, 2, '{}', 0)",
                [],
            )
            .unwrap();
            conn.pragma_update(None, "user_version", 2).unwrap();
        }
        let mut db = Db::open(&path).unwrap();
        let id = db.entries().unwrap()[0].id;
        let run = |phase: &str, ok: bool, generation: Option<u64>| ValidationRow {
            entry_id: id,
            profile: generation.map(|_| "default".to_owned()),
            generation,
            phase: phase.into(),
            policy: "p1".into(),
            ok,
            report: "{}".into(),
            created: 1,
        };
        assert_eq!(db.validated(id, "p1").unwrap(), None);
        db.record_validation(&run("install", true, None)).unwrap();
        assert_eq!(db.validated(id, "p1").unwrap().as_deref(), Some("{}"));
        assert_eq!(db.validated(id, "p2").unwrap(), None);
        db.record_validation(&run("check", false, None)).unwrap();
        assert_eq!(
            db.validated(id, "p1").unwrap(),
            None,
            "a newer failure revokes it"
        );
        db.record_validation(&run("health", true, Some(1))).unwrap();
        db.record_validation(&run("health", false, Some(1)))
            .unwrap();
        assert!(!db.latest_validations("default").unwrap()[&1].ok);
        assert_eq!(db.delete_unreferenced_entries(&[]).unwrap().len(), 1);
        assert!(
            db.integrity_ok().unwrap(),
            "validations went with their entry"
        );
    }
}

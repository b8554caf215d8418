//! The database's schema: the tables of version 1 and each migration since, applied in order by
//! [`Db::migrate`] when a writer opens an older database (store-layout.md says what each holds).

use super::{Db, DbError, SCHEMA_VERSION, sql_err};
use rusqlite::TransactionBehavior;

pub(super) const SCHEMA: &str = "
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
pub(super) const SCHEMA_V2: &str = "
CREATE TABLE staged (
    entry_id INTEGER PRIMARY KEY REFERENCES entries (id),
    created  INTEGER NOT NULL
);
";

/// Version 3: every validation run (install, activation, health check, `pyswap check`) with its
/// full report, tied to the entry and, once there is one, the generation.
pub(super) const SCHEMA_V3: &str = "
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
pub(super) const SCHEMA_V4: &str = "
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
pub(super) const SCHEMA_V5: &str = "
CREATE INDEX validations_latest
    ON validations (profile, generation, id, entry_id, phase, policy, ok, created);
DROP INDEX validations_by_generation;
";

/// Version 6: what pyswap added to an entry's tree besides the archive (its bytecode and PEP 668
/// marker, see `bytecode::Recipe`); rows from before have `''`, an entry made from the archive
/// alone. An entry is reused only for the recipe in force.
pub(super) const SCHEMA_V6: &str = "
ALTER TABLE entries ADD COLUMN recipe TEXT NOT NULL DEFAULT '';
";

/// Version 8: an attempt refused for what it asked (an unknown version, a policy or window
/// refusal, no such generation) is marked `refused`, so that the metrics tell a typo from a
/// rollout that failed on its way (`pyswap_last_request_valid` against
/// `pyswap_last_switch_success`).
pub(super) const SCHEMA_V8: &str = "
ALTER TABLE changes ADD COLUMN refused INTEGER NOT NULL DEFAULT 0;
";

/// Version 9: signed catalogues (`[trust] keys`): per signing key and catalogue name, the
/// highest signature version this home accepted (a lower one is a rollback and refused), with
/// the newest accepted signature's expiry and catalogue for the metrics. The same version is
/// also in the signature kept beside the cached catalogue, so a restored database reopens no
/// rollback.
pub(super) const SCHEMA_V9: &str = "
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
pub(super) const SCHEMA_V10: &str = "
ALTER TABLE entries ADD COLUMN tree BLOB;
";

/// Version 11: which interpreter compiled an entry's bytecode (`bytecode::Compiler::id`: magic
/// number, `sys.hexversion`, cache tag), `NULL` for an entry without bytecode or made before.
/// A later install compiled by the same one links the `.pyc` of each source it shares with the
/// entry instead of compiling it (issue 40). And `doomed`: the entries whose rows gc deleted
/// and whose directories it has not removed yet (written in the transaction that deletes the
/// rows, emptied once the directories are gone), so a gc killed in between finishes the removal
/// on its next run instead of leaving directories without rows.
pub(super) const SCHEMA_V11: &str = "
ALTER TABLE entries ADD COLUMN compiler TEXT;
CREATE INDEX entries_by_compiler ON entries (compiler, recipe);
CREATE TABLE doomed (
    name TEXT PRIMARY KEY
);
";

/// Version 7: venvs registered with `pyswap venv` (see `venv`): each runs one store entry, named
/// by its directory name (entry names are content addresses, never reused for other content),
/// and follows its profile's minor version. `venv_runs` holds every entry a venv has run on (a
/// return to one needs no check); `venv_moves` is the journal of a move under way.
pub(super) const SCHEMA_V7: &str = "
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

impl Db {
    pub(super) fn migrate(&mut self) -> Result<(), DbError> {
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
        if now < 11 {
            tx.execute_batch(SCHEMA_V11).map_err(err)?;
        }
        if now < SCHEMA_VERSION {
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)
                .map_err(err)?;
        }
        tx.commit().map_err(err)
    }
}

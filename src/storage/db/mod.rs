//! The `SQLite` index of the store and of every profile's generations. The only module that uses
//! rusqlite. Schema and invariants are documented in `store-layout.md`.
//!
//! The database is opened in WAL mode with `synchronous=FULL` and a busy timeout; every write is
//! a `BEGIN IMMEDIATE` transaction. A store entry's row is committed only after its directory is
//! complete and renamed into place; a generation's row is committed only after its link exists.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::ground::version::{PythonVersion, Variant};
use crate::storage::home::Home;
use rusqlite::{Connection, OptionalExtension};

mod entries;
mod generations;
mod history;
mod schema;
mod validations;
mod venvs;

pub use entries::EntryRow;
pub use generations::GenerationRow;
pub(crate) use history::{ChangeRow, TrustRow};
pub(crate) use validations::ValidationRow;
pub(crate) use venvs::VenvMove;
pub use venvs::VenvRow;

pub(crate) const SCHEMA_VERSION: i64 = 11;

const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Maps a rusqlite error to [`DbError::Sql`] naming the database file.
fn sql_err(path: &Path) -> impl Fn(rusqlite::Error) -> DbError + Copy + '_ {
    move |error| DbError::Sql {
        path: path.to_owned(),
        error,
    }
}

/// Column `i` of `r`, a version as pyswap wrote it (`3.12.4`, `3.15.0rc1`): a row whose text
/// is not one is an error naming the column, never a guess.
fn version_at(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<PythonVersion> {
    let text: String = r.get(i)?;
    PythonVersion::parse(&text).ok_or_else(|| not_a(i, &text, "a CPython version"))
}

/// Column `i` of `r`, a variant as rows spell it (`''`, `freethreaded`, `debug`,
/// `freethreaded+debug`).
fn variant_at(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Variant> {
    let text: String = r.get(i)?;
    Variant::from_row(&text).ok_or_else(|| not_a(i, &text, "a build variant"))
}

fn not_a(i: usize, text: &str, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        i,
        rusqlite::types::Type::Text,
        format!("`{}` is not {what}", crate::ground::text::printable(text)).into(),
    )
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

crate::ground::exit::register!(DbError);

impl crate::ground::exit::Reason for DbError {
    fn status(&self) -> crate::ground::exit::ExitStatus {
        match self {
            Self::TooOld { .. } => crate::ground::exit::ExitStatus::Failure,
            _ => crate::ground::exit::ExitStatus::Error,
        }
    }
}

pub struct Db {
    conn: Connection,
    path: PathBuf,
}

impl Db {
    /// Every row `sql` returns for `params`, each made by `row`: how the tables are read.
    fn rows<T, P: rusqlite::Params>(
        &self,
        sql: &str,
        params: P,
        row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, DbError> {
        let err = sql_err(&self.path);
        let mut st = self.conn.prepare(sql).map_err(err)?;
        st.query_map(params, row)
            .and_then(Iterator::collect)
            .map_err(err)
    }

    /// The one row `sql` returns for `params`, if any.
    fn optional_row<T, P: rusqlite::Params>(
        &self,
        sql: &str,
        params: P,
        row: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Option<T>, DbError> {
        self.conn
            .query_row(sql, params, row)
            .optional()
            .map_err(sql_err(&self.path))
    }

    /// The row `sql` returns for `params` (an aggregate, a count: there always is one).
    fn one_row<T, P: rusqlite::Params>(
        &self,
        sql: &str,
        params: P,
        row: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, DbError> {
        self.conn
            .query_row(sql, params, row)
            .map_err(sql_err(&self.path))
    }

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

    /// Runs `SQLite`'s own consistency checks (used by tests and future `verify`).
    pub fn integrity_ok(&self) -> Result<bool, DbError> {
        let ok: String = self.one_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        let fk: Option<String> = self.optional_row("PRAGMA foreign_key_check", [], |r| r.get(0))?;
        Ok(ok == "ok" && fk.is_none())
    }
}

#[cfg(test)]
mod tests {
    use super::schema::{SCHEMA, SCHEMA_V2, SCHEMA_V3, SCHEMA_V4, SCHEMA_V5};
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

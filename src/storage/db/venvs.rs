//! The `venvs`, `venv_runs` and `venv_moves` tables: registered venvs, the entries each ran on,
//! and the journal of moves in progress.

use super::{Db, DbError, sql_err};
use rusqlite::{OptionalExtension, Row, TransactionBehavior, params};

/// A registered venv (`venvs` table).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VenvRow {
    /// Absolute, without symlinks, as registered.
    pub path: String,
    pub profile: String,
    /// `3.11`, `3.13t` (see [`crate::ground::version::minor_tag`]).
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

pub(super) fn venv_from(r: &Row<'_>) -> rusqlite::Result<VenvRow> {
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

pub(super) const VENV_COLS: &str = "path, profile, minor, entry, dev, ino, uid, created, held";

impl Db {
    /// Every registered venv, by path.
    pub(crate) fn venvs(&self) -> Result<Vec<VenvRow>, DbError> {
        self.rows(
            &format!("SELECT {VENV_COLS} FROM venvs ORDER BY path"),
            [],
            venv_from,
        )
    }

    /// The venv registered at `path`.
    pub(crate) fn venv(&self, path: &str) -> Result<Option<VenvRow>, DbError> {
        self.optional_row(
            &format!("SELECT {VENV_COLS} FROM venvs WHERE path = ?1"),
            params![path],
            venv_from,
        )
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
        self.rows(
            "SELECT path, from_entry, to_entry, version FROM venv_moves ORDER BY path",
            [],
            |r| {
                Ok(VenvMove {
                    path: r.get(0)?,
                    from: r.get(1)?,
                    to: r.get(2)?,
                    version: r.get(3)?,
                })
            },
        )
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
        self.rows("SELECT entry FROM venvs UNION SELECT from_entry FROM venv_moves UNION SELECT to_entry FROM venv_moves", [], |r| r.get(0))
    }
}

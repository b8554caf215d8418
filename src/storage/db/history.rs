//! The `changes` and `trust` tables: the attempts of switch, upgrade and rollback (for the
//! metrics), and the signed catalogue versions each line has accepted.

use super::{Db, DbError, sql_err};
use rusqlite::{TransactionBehavior, params};

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

impl Db {
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
        let filter = if valid { "WHERE refused = 0" } else { "" };
        self.rows(&format!(
                "SELECT profile, command, ok, generation, created, refused FROM changes WHERE id IN (SELECT MAX(id) FROM changes {filter} GROUP BY profile) ORDER BY profile",
            ), [], |r| {
            Ok(ChangeRow {
                profile: r.get(0)?,
                command: r.get(1)?,
                ok: r.get(2)?,
                generation: r.get(3)?,
                created: r.get(4)?,
                refused: r.get(5)?,
            })
        })
    }

    /// The highest catalogue signature version accepted for catalogue line `name`, by any key:
    /// the floor of that line (a key rotation does not reopen a rollback).
    pub(crate) fn trust_floor(&self, name: &str) -> Result<Option<u64>, DbError> {
        self.one_row(
            "SELECT MAX(version) FROM trust_seen WHERE name = ?1",
            params![name],
            |r| r.get(0),
        )
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
        self.rows("SELECT key_id, name, version, expires, catalogue, accepted FROM trust_seen ORDER BY key_id, name", [], |r| {
            Ok(TrustRow {
                key_id: r.get(0)?,
                name: r.get(1)?,
                version: r.get(2)?,
                expires: r.get(3)?,
                catalogue: r.get(4)?,
                accepted: r.get(5)?,
            })
        })
    }
}

//! The `generations` table: each profile's numbered generations and the entry each runs.

use super::entries::EntryRow;
use super::{Db, DbError, sql_err};
use rusqlite::{OptionalExtension, Row, TransactionBehavior, params};

use crate::ground::version::{PythonVersion, Variant};

/// A generation's row, with its entry's directory name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenerationRow {
    pub(crate) profile: String,
    pub(crate) number: u64,
    pub(crate) entry_id: i64,
    pub entry_name: String,
    pub(crate) version: PythonVersion,
    pub(crate) request: String,
    pub(crate) command: String,
    pub(crate) created: i64,
    /// The entry's variant (`''`, `freethreaded`, ...) and build tag.
    pub(crate) variant: Variant,
    pub(crate) build: Option<String>,
}

impl GenerationRow {
    /// The catalogue key of its entry (the entry name after the digest).
    pub(crate) fn key(&self) -> &str {
        crate::storage::store::key_of(&self.entry_name)
    }

    /// `3.11.7+20240107`: the version, variant and build, as human output shows a runtime.
    pub(crate) fn label(&self) -> String {
        crate::ground::version::label(
            &self.version.to_string(),
            self.variant.name(),
            self.build.as_deref(),
        )
    }

    /// `3.11`, `3.13t`: the minor version and variant (see [`crate::ground::version::minor_tag`]).
    pub(crate) fn minor(&self) -> Option<String> {
        crate::ground::version::minor_tag(&self.version.to_string(), self.variant.name())
    }
}

pub(super) fn generation_from(r: &Row<'_>) -> rusqlite::Result<GenerationRow> {
    Ok(GenerationRow {
        profile: r.get(0)?,
        number: r.get(1)?,
        entry_id: r.get(2)?,
        entry_name: r.get(3)?,
        version: super::version_at(r, 4)?,
        request: r.get(5)?,
        command: r.get(6)?,
        created: r.get(7)?,
        variant: super::variant_at(r, 8)?,
        build: r.get(9)?,
    })
}

pub(super) const GENERATION_SELECT: &str = "SELECT g.profile, g.number, g.entry_id, e.name, g.version, g.request, g.command, g.created, e.variant, e.build FROM generations g JOIN entries e ON e.id = g.entry_id";

impl Db {
    pub(crate) fn generations(&self, profile: &str) -> Result<Vec<GenerationRow>, DbError> {
        self.rows(
            &format!("{GENERATION_SELECT} WHERE g.profile = ?1 ORDER BY g.number"),
            params![profile],
            generation_from,
        )
    }

    pub fn all_generations(&self) -> Result<Vec<GenerationRow>, DbError> {
        self.rows(
            &format!("{GENERATION_SELECT} ORDER BY g.profile, g.number"),
            [],
            generation_from,
        )
    }

    /// How many generations `profile` has.
    pub(crate) fn generation_count(&self, profile: &str) -> Result<u64, DbError> {
        self.one_row(
            "SELECT COUNT(*) FROM generations WHERE profile = ?1",
            params![profile],
            |r| r.get(0),
        )
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
    pub(super) fn one_generation(
        &self,
        condition: &str,
        profile: &str,
        number: u64,
    ) -> Result<Option<GenerationRow>, DbError> {
        self.optional_row(
            &format!("{GENERATION_SELECT} WHERE g.profile = ?1 AND {condition}"),
            params![profile, number],
            generation_from,
        )
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
            params![g.profile, n, g.entry_id, g.version.to_string(), g.request, g.command, g.created],
        )
        .map_err(err)?;
        tx.execute(
            "UPDATE profiles SET next_generation = ?2 WHERE name = ?1",
            params![g.profile, n + 1],
        )
        .map_err(err)?;
        materialise(n).map_err(DbError::Hook)?;
        crate::ground::crash::point("generation:before-commit");
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
            params![profile, n, entry.id, entry.version.to_string(), created],
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

    pub(crate) fn profiles(&self) -> Result<Vec<String>, DbError> {
        self.rows("SELECT name FROM profiles ORDER BY name", [], |r| r.get(0))
    }
}

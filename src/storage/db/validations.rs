//! The `validations` table: each validation of an entry or a generation, newest last.

use super::{Db, DbError, sql_err};
use rusqlite::{OptionalExtension, params};

pub(super) fn validation_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<ValidationRow> {
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

impl Db {
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
        self.conn.query_row(
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
        self.optional_row("SELECT entry_id, profile, generation, phase, policy, ok, report, created FROM validations
                 WHERE profile = ?1 AND generation = ?2 ORDER BY id DESC LIMIT 1", params![profile, n], validation_from)
    }
}

//! The `entries` table: one row per store entry, and the staging marks of entries being made.

use super::{Db, DbError, sql_err};
use rusqlite::{OptionalExtension, Row, TransactionBehavior, params};

use crate::ground::version::{PythonVersion, Variant};

/// A store entry's row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryRow {
    pub(crate) id: i64,
    pub name: String,
    pub tree_digest: String,
    pub(crate) catalogue_key: String,
    pub(crate) version: PythonVersion,
    pub(crate) platform: String,
    pub(crate) variant: Variant,
    pub(crate) build: Option<String>,
    pub(crate) archive_url: String,
    pub(crate) archive_sha256: String,
    pub(crate) files: u64,
    pub(crate) bytes: u64,
    pub(crate) validation: String,
    pub(crate) created: i64,
    /// What pyswap added to the archive's tree (`bytecode::Recipe::id`); `''` before schema 6.
    pub(crate) recipe: String,
    /// Which interpreter compiled its bytecode (`bytecode::Compiler::id`); `None` for an entry
    /// without any or made before schema 11.
    pub(crate) compiler: Option<String>,
}

impl EntryRow {
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

    /// Whether this installed runtime is one `request` asks for (its key, or its version,
    /// variant and build).
    pub(crate) fn fits(&self, request: &crate::ground::version::Request) -> bool {
        let fits = request.key().map_or_else(
            || request.matches(&self.version) && self.variant == request.variant(),
            |key| self.catalogue_key == key,
        );
        fits && request.admits_build(self.build.as_deref())
    }
}

/// A new entry, before it has an id.
pub(crate) type NewEntry = EntryRow;

pub(super) fn entry_from(r: &Row<'_>) -> rusqlite::Result<EntryRow> {
    Ok(EntryRow {
        id: r.get(0)?,
        name: r.get(1)?,
        tree_digest: r.get(2)?,
        catalogue_key: r.get(3)?,
        version: super::version_at(r, 4)?,
        platform: r.get(5)?,
        variant: super::variant_at(r, 6)?,
        build: r.get(7)?,
        archive_url: r.get(8)?,
        archive_sha256: r.get(9)?,
        files: r.get(10)?,
        bytes: r.get(11)?,
        validation: r.get(12)?,
        created: r.get(13)?,
        recipe: r.get(14)?,
        compiler: r.get(15)?,
    })
}

pub(super) const ENTRY_COLS: &str = "id, name, tree_digest, catalogue_key, version, platform, variant, build, archive_url, archive_sha256, files, bytes, validation, created, recipe, compiler";

impl Db {
    /// The entry made from the archive with this sha256 for this catalogue key by `recipe`, if any.
    pub(crate) fn entry_by_archive(
        &self,
        sha256: &str,
        key: &str,
        recipe: &str,
    ) -> Result<Option<EntryRow>, DbError> {
        self.optional_row(&format!("SELECT {ENTRY_COLS} FROM entries WHERE archive_sha256 = ?1 AND catalogue_key = ?2 AND recipe = ?3 ORDER BY id DESC LIMIT 1"), params![sha256, key, recipe], entry_from)
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
        self.optional_row(
            &format!("SELECT {ENTRY_COLS} FROM entries WHERE name = ?1"),
            params![name],
            entry_from,
        )
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

    /// The file indexes (`tree::index`, with the digest each must hash to) of the newest `limit`
    /// entries made by `recipe` whose bytecode `compiler` compiled: what an install compiled by
    /// the same interpreter may link instead of compiling.
    pub(crate) fn trees_compiled_by(
        &self,
        compiler: &str,
        recipe: &str,
        limit: u32,
    ) -> Result<Vec<(String, Vec<u8>)>, DbError> {
        self.rows(
            "SELECT tree_digest, tree FROM entries WHERE compiler = ?1 AND recipe = ?2 AND tree IS NOT NULL ORDER BY id DESC LIMIT ?3",
            params![compiler, recipe, i64::from(limit)],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
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
        self.rows(
            &format!("SELECT {ENTRY_COLS} FROM entries ORDER BY version, name"),
            [],
            entry_from,
        )
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
            "INSERT INTO entries (name, tree_digest, catalogue_key, version, platform, variant, build, archive_url, archive_sha256, files, bytes, validation, created, recipe, tree, compiler)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16) ON CONFLICT (name) DO UPDATE SET tree = excluded.tree WHERE entries.tree IS NULL AND entries.tree_digest = excluded.tree_digest",
            params![e.name, e.tree_digest, e.catalogue_key, e.version.to_string(), e.platform, e.variant.name(), e.build, e.archive_url, e.archive_sha256, e.files, e.bytes, e.validation, e.created, e.recipe, tree, e.compiler],
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
        self.rows(
            "SELECT e.name FROM staged s JOIN entries e ON e.id = s.entry_id ORDER BY e.name",
            [],
            |r| r.get(0),
        )
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
            tx.execute(
                "INSERT INTO doomed (name) VALUES (?1) ON CONFLICT (name) DO NOTHING",
                params![e.name],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(doomed)
    }

    /// The entries whose rows gc deleted and whose directories it may not have removed yet
    /// (it was killed in between), that have no row again since.
    pub(crate) fn doomed(&self) -> Result<Vec<String>, DbError> {
        self.rows(
            "SELECT name FROM doomed WHERE name NOT IN (SELECT name FROM entries) ORDER BY name",
            [],
            |r| r.get(0),
        )
    }

    /// Empties the list of [`Db::doomed`] entries: their directories are gone.
    pub(crate) fn forget_doomed(&mut self) -> Result<(), DbError> {
        self.conn
            .execute("DELETE FROM doomed", [])
            .map(drop)
            .map_err(sql_err(&self.path))
    }
}

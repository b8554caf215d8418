//! Metrics for fleet dashboards, in the Prometheus text exposition format (0.0.4): what each
//! profile runs, its generation count, the newest attempt to change it and its result, the
//! newest validation of its current generation, its registered venvs (and how many a check
//! held back), and the store's size. `pyswap metrics` prints
//! them; with `metrics.textfile` in the manifest every command that changes state writes them
//! to that file (for `node_exporter`'s textfile collector), atomically: a temporary file in the
//! same directory, renamed over the old one.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use crate::interface::settings::Settings;
use crate::storage::db::Db;
use crate::storage::profile::Profiles;

/// One sample: its labels and value.
type Sample = (Vec<(&'static str, String)>, f64);

/// The exposition text being written.
#[derive(Default)]
struct Text(String);

impl Text {
    /// A gauge family: its help, its type and its samples.
    fn family(&mut self, name: &str, help: &str, samples: &[Sample]) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} gauge");
        for (labels, value) in samples {
            let labels: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            let labels = if labels.is_empty() {
                String::new()
            } else {
                format!("{{{}}}", labels.join(","))
            };
            let _ = writeln!(self.0, "{name}{labels} {value}");
        }
    }
}

/// Per profile: its runtime, its generation count, its newest validation and when.
#[derive(Default)]
struct ProfileSamples {
    info: Vec<Sample>,
    healthy: Vec<Sample>,
    counts: Vec<Sample>,
    validations: Vec<Sample>,
    validation_times: Vec<Sample>,
}

fn per_profile(s: &Settings, db: &Db) -> anyhow::Result<ProfileSamples> {
    let profiles = Profiles::new(s.home.profiles());
    let mut out = ProfileSamples::default();
    for name in db.profiles()? {
        let count = db.generation_count(&name)?;
        out.counts
            .push((vec![("profile", name.clone())], count as f64));
        let healthy = |ok: bool| (vec![("profile", name.clone())], f64::from(u8::from(ok)));
        let Some(n) = profiles.current(&name).ok().flatten() else {
            out.healthy.push(healthy(false));
            continue;
        };
        let Some(g) = db.generation(&name, n)? else {
            out.healthy.push(healthy(false));
            continue;
        };
        let present = profiles.generation_entry(&name, n).as_deref() == Some(g.entry_name.as_str())
            && crate::storage::store::Store::new(s.home.store())
                .path(&g.entry_name)
                .join("bin/python3")
                .exists();
        let passed = db.latest_validation(&name, n)?.is_none_or(|v| v.ok);
        out.healthy.push(healthy(present && passed));
        out.info.push((
            vec![
                ("profile", name.clone()),
                ("version", g.version.to_string()),
                ("build", g.build.clone().unwrap_or_default()),
                ("generation", n.to_string()),
                ("key", g.key().to_owned()),
            ],
            1.0,
        ));
        if let Some(v) = db.latest_validation(&name, n)? {
            let labels = vec![("profile", name.clone()), ("phase", v.phase.clone())];
            out.validations
                .push((labels.clone(), f64::from(u8::from(v.ok))));
            out.validation_times.push((labels, v.created as f64));
        }
    }
    Ok(out)
}

/// The metrics of the home `s` names; `db` is `None` when nothing was ever installed.
pub(crate) fn render(s: &Settings, db: Option<&Db>) -> anyhow::Result<String> {
    let mut t = Text::default();
    let store_help = "Bytes the runtimes of the store take on disk, each file counted once (a file entries share, once).";
    let Some(db) = db else {
        t.family("pyswap_store_bytes", store_help, &[(vec![], 0.0)]);
        return Ok(t.0);
    };
    let p = per_profile(s, db)?;
    t.family(
        "pyswap_runtime_info",
        "The runtime of each profile's current generation (always 1).",
        &p.info,
    );
    t.family(
        "pyswap_generations",
        "Generations each profile has.",
        &p.counts,
    );
    let labels = |c: &crate::storage::db::ChangeRow| {
        vec![
            ("profile", c.profile.clone()),
            ("command", c.command.clone()),
        ]
    };
    // A request refused for what it asked (a typo, a policy refusal) changes nothing on the
    // host: the switch metrics are those of the last valid request, and the refusal has its own.
    let of = |rows: &[crate::storage::db::ChangeRow],
              value: fn(&crate::storage::db::ChangeRow) -> f64| {
        rows.iter()
            .map(|c| (labels(c), value(c)))
            .collect::<Vec<_>>()
    };
    let valid = db.last_changes(true)?;
    t.family(
        "pyswap_last_switch_timestamp_seconds",
        "When switch, upgrade or rollback last tried to change the profile (requests refused for what they asked are not counted).",
        &of(&valid, |c| c.created as f64),
    );
    t.family(
        "pyswap_last_switch_success",
        "Whether that attempt succeeded (1) or failed on its way (0: a download, a validation, a health check; the profile kept its runtime).",
        &of(&valid, |c| f64::from(u8::from(c.ok))),
    );
    let last = db.last_changes(false)?;
    t.family(
        "pyswap_last_request_valid",
        "Whether the last switch, upgrade or rollback asked for something that could be done (0: an unknown version, a policy or window refusal, no such generation; nothing changed).",
        &of(&last, |c| f64::from(u8::from(!c.refused))),
    );
    t.family(
        "pyswap_last_request_timestamp_seconds",
        "When that request was made.",
        &of(&last, |c| c.created as f64),
    );
    t.family(
        "pyswap_runtime_healthy",
        "Whether the profile runs a runtime that is in the store and whose newest validation passed (1), or not (0): the one to page on.",
        &p.healthy,
    );
    t.family(
        "pyswap_last_validation_success",
        "Whether the newest validation of the current generation passed.",
        &p.validations,
    );
    t.family(
        "pyswap_last_validation_timestamp_seconds",
        "When the current generation was last validated.",
        &p.validation_times,
    );
    t.family(
        "pyswap_processes_on_old_runtime",
        "Running processes on a build the profile moved away from (restart them: `pyswap ps --units`); as of this scrape, and only the processes this user may inspect.",
        &old_runtime_processes(s, db)?,
    );
    let (venvs, held) = venv_counts(db)?;
    t.family(
        "pyswap_venvs",
        "Venvs registered with `pyswap venv`, by profile.",
        &venvs,
    );
    t.family(
        "pyswap_venvs_held",
        "Registered venvs whose check refused their last move (they stay on their runtime).",
        &held,
    );
    t.family(
        "pyswap_catalogue_expires_timestamp_seconds",
        "When the newest accepted signature of each signed catalogue line expires (`[trust] keys`): alert well before it.",
        &signed_catalogues(db)?,
    );
    let entries = db.entries()?;
    let bytes = crate::storage::objects::Usage::of_home(&s.home, &entries)?.bytes() as f64;
    t.family("pyswap_store_bytes", store_help, &[(vec![], bytes)]);
    t.family(
        "pyswap_store_entries",
        "Runtimes in the store.",
        &[(vec![], entries.len() as f64)],
    );
    Ok(t.0)
}

/// Per profile: the processes that run an entry the profile moved away from
/// (`Profiles::old_entries`), as `ps` marks `old_runtime`.
fn old_runtime_processes(s: &Settings, db: &Db) -> anyhow::Result<Vec<Sample>> {
    let profiles = Profiles::new(s.home.profiles());
    let scan = crate::ground::inuse::scan(&s.home.store(), crate::ground::inuse::Uses::Runs, None);
    let mut out = Vec::new();
    for name in db.profiles()? {
        let old = profiles.old_entries(&name, &db.generations(&name)?);
        let n = scan
            .processes
            .iter()
            .filter(|p| p.entries.iter().any(|e| old.contains(e)))
            .count();
        out.push((vec![("profile", name)], n as f64));
    }
    Ok(out)
}

/// Per signing key and catalogue name: when the newest accepted signature expires.
fn signed_catalogues(db: &Db) -> anyhow::Result<Vec<Sample>> {
    Ok(db
        .trust_rows()?
        .into_iter()
        .map(|r| {
            (
                vec![
                    ("key_id", r.key_id),
                    ("name", r.name),
                    ("catalogue", r.catalogue),
                ],
                r.expires as f64,
            )
        })
        .collect())
}

/// Per profile with venvs: how many are registered, and how many of them are held.
fn venv_counts(db: &Db) -> anyhow::Result<(Vec<Sample>, Vec<Sample>)> {
    let mut by_profile: std::collections::BTreeMap<String, (u64, u64)> =
        std::collections::BTreeMap::new();
    for v in db.venvs()? {
        let c = by_profile.entry(v.profile).or_default();
        c.0 += 1;
        c.1 += u64::from(v.held.is_some());
    }
    let sample = |p: &str, n: u64| (vec![("profile", p.to_owned())], n as f64);
    Ok((
        by_profile.iter().map(|(p, c)| sample(p, c.0)).collect(),
        by_profile.iter().map(|(p, c)| sample(p, c.1)).collect(),
    ))
}

/// A label value as the text format wants it: `\`, `"` and newlines escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Writes `text` to `path` atomically (readable by the collector: 0644). Only a regular file is
/// replaced: a symlink, a device or anything else at `path` is refused (the rename would
/// replace whatever is there).
pub(crate) fn write_textfile(path: &Path, text: &str) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if !m.file_type().is_file() => {
            return Err(std::io::Error::other(
                "it is not a regular file (a symlink, a device, a directory…); pyswap replaces only a regular file there",
            ));
        }
        _ => {}
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".pyswap-metrics-")
        .tempfile_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Records an attempt to change the profile (for `pyswap_last_switch_*`); only in a home that
/// is pyswap's already, and never failing the command (a warning in the log).
pub(crate) fn record_attempt(s: &Settings, command: &str, ok: bool, refused: bool) {
    if !s.home.is_marked() {
        return;
    }
    let generation = Profiles::new(s.home.profiles())
        .current(&s.profile)
        .ok()
        .flatten();
    let recorded = Db::open(&s.home.db()).and_then(|mut db| {
        db.record_change(&crate::storage::db::ChangeRow {
            profile: s.profile.clone(),
            command: command.to_owned(),
            ok,
            refused,
            generation,
            created: s.now,
        })
    });
    if let Err(e) = recorded {
        tracing::warn!("cannot record the {command} for the metrics: {e}");
    }
}

/// Rewrites the textfile (`metrics.textfile`) after a command that changed state; the error,
/// as one line naming the file, when it could not be written.
pub(crate) fn refresh_textfile(s: &Settings) -> Result<(), String> {
    let Some(path) = &s.metrics_textfile else {
        return Ok(());
    };
    Db::open_home_read(&s.home)
        .and_then(|db| render(s, db.as_ref()))
        .and_then(|text| Ok(write_textfile(path, &text)?))
        .map_err(|e| format!("cannot write the metrics to {}: {e:#}", path.display()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn label_values_are_escaped() {
        assert_eq!(super::escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}

//! The configuration manifest: a TOML file that sets, for a host or a fleet, what flags and
//! environment variables set per command, plus what only a manifest sets (version policy,
//! maintenance windows, validation checks, gc defaults).
//!
//! Which file: `--config PATH` / `PYSWAP_CONFIG` (must exist and not be a directory; `/dev/null`
//! is an empty manifest), else `$PYSWAP_HOME/config.toml`, else `/etc/pyswap/config.toml`; the
//! first found is the only one read (files are not merged, so what applies is always one file,
//! named by `pyswap config show`). Precedence per value: flag > environment > file > default
//! (in `settings`).
//!
//! This module reads the file and checks every value against the setting definitions
//! (`settings::defs`): unknown keys and bad values are errors naming the key and the line. Each
//! value keeps its line, so `pyswap config show` can say where it came from.

use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};

use super::defs;
use super::value::Item;

pub(crate) const SYSTEM_CONFIG: &str = "/etc/pyswap/config.toml";

#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    #[error("config file {} does not exist", .0.display())]
    NotFound(PathBuf),
    #[error("config file {} is a directory", .0.display())]
    Directory(PathBuf),
    #[error("cannot read config file {}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("config file {} line {line}{near}: {message}", path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        /// ` (near `key = value`)`, or empty.
        near: String,
        message: String,
    },
    #[error("config file {} line {line}: `{key}`: {why}", path.display())]
    Value {
        path: PathBuf,
        line: usize,
        key: String,
        why: String,
    },
    /// Every problem of a file at once (`config check`), each as `line N: `key`: why`.
    #[error("config file {} has {} problems: {}", path.display(), problems.len(), problems.join("; "))]
    Several {
        path: PathBuf,
        problems: Vec<String>,
    },
}

crate::ground::exit::register!(ConfigError);
impl crate::ground::exit::Reason for ConfigError {
    fn status(&self) -> crate::ground::exit::ExitStatus {
        crate::ground::exit::ExitStatus::Failure
    }
}

/// Where an effective value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    Flag(String),
    Env(String),
    File { path: PathBuf, line: usize },
    Default,
}

impl Source {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Flag(_) => "flag",
            Self::Env(_) => "env",
            Self::File { .. } => "file",
            Self::Default => "default",
        }
    }

    /// The flag, variable or `path:line`; `None` for a default.
    pub(crate) fn origin(&self) -> Option<String> {
        match self {
            Self::Flag(f) => Some(f.clone()),
            Self::Env(v) => Some(v.clone()),
            Self::File { path, line } => Some(format!("{}:{line}", path.display())),
            Self::Default => None,
        }
    }
}

/// One effective setting, for `pyswap config show`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Shown {
    /// The manifest key, e.g. `network.proxy`.
    pub(crate) key: String,
    pub(crate) value: serde_json::Value,
    pub(crate) source: Source,
}

/// The checked values of one manifest (none when there is no file).
#[derive(Clone, Debug, Default)]
pub(crate) struct Manifest {
    pub(crate) path: Option<PathBuf>,
    /// Every value the file sets, by manifest key, each already checked.
    items: Vec<(String, Item)>,
}

impl Manifest {
    /// How many values the file sets.
    pub(crate) fn count(&self) -> usize {
        self.items.len()
    }

    pub(crate) fn get(&self, key: &str) -> Option<&Item> {
        self.items.iter().find(|(k, _)| k == key).map(|(_, i)| i)
    }

    /// `path line N`, for messages that name where a rule was set.
    pub(crate) fn origin(&self, line: usize) -> String {
        match &self.path {
            Some(p) => format!("{} line {line}", p.display()),
            None => format!("line {line}"),
        }
    }
}

/// The manifest that applies: the explicit one, else the home's, else the system's, else none.
pub(crate) fn locate(explicit: Option<&Path>, home: &Path) -> Result<Option<PathBuf>, ConfigError> {
    if let Some(p) = explicit {
        return match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => Err(ConfigError::Directory(p.to_owned())),
            Ok(_) => Ok(Some(p.to_owned())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(ConfigError::NotFound(p.to_owned()))
            }
            Err(error) => Err(ConfigError::Read {
                path: p.to_owned(),
                error,
            }),
        };
    }
    Ok([home.join("config.toml"), PathBuf::from(SYSTEM_CONFIG)]
        .into_iter()
        .find(|p| p.is_file()))
}

/// Reads and checks the manifest at `path`.
pub(crate) fn load(path: &Path) -> Result<Manifest, ConfigError> {
    load_all(path).map_err(|mut errors| errors.remove(0))
}

/// [`load`], with every problem of the file in one error: what `config check` reports.
pub(crate) fn check(path: &Path) -> Result<Manifest, ConfigError> {
    load_all(path).map_err(|mut errors| {
        if errors.len() == 1 {
            return errors.remove(0);
        }
        let problems = errors
            .into_iter()
            .map(|e| match e {
                ConfigError::Value { line, key, why, .. } => format!("line {line}: `{key}`: {why}"),
                other => other.to_string(),
            })
            .collect();
        ConfigError::Several {
            path: path.to_owned(),
            problems,
        }
    })
}

/// [`load`], with every problem of the file (at least one) when it has any.
fn load_all(path: &Path) -> Result<Manifest, Vec<ConfigError>> {
    if path.is_dir() {
        return Err(vec![ConfigError::Directory(path.to_owned())]);
    }
    let text = std::fs::read_to_string(path).map_err(|error| {
        vec![match error.kind() {
            std::io::ErrorKind::NotFound => ConfigError::NotFound(path.to_owned()),
            _ => ConfigError::Read {
                path: path.to_owned(),
                error,
            },
        }]
    })?;
    parse_all(&text, path)
}

/// Checks manifest `text` (read from `path`, named in errors): its first problem.
#[cfg(test)]
pub(crate) fn parse(text: &str, path: &Path) -> Result<Manifest, ConfigError> {
    parse_all(text, path).map_err(|mut errors| errors.remove(0))
}

/// Checks manifest `text`: every problem, in the order of the file (a syntax error is the only
/// one, since nothing after it can be read).
fn parse_all(text: &str, path: &Path) -> Result<Manifest, Vec<ConfigError>> {
    let table = DeTable::parse(text).map_err(|e| vec![syntax(text, path, &e)])?;
    let mut leaves = Vec::new();
    flatten("", table.get_ref(), &mut leaves);
    leaves.sort_by_key(|(_, v)| v.span().start);
    let mut items = Vec::new();
    let mut errors = Vec::new();
    for (key, value) in leaves {
        match item_of(text, path, &key, &value) {
            Ok(item) => items.push((key, item)),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Manifest {
        path: Some(path.to_owned()),
        items,
    })
}

/// The line of byte `offset` of `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// A TOML error in `text` as pyswap says it: the line, the text near it, the message.
fn syntax(text: &str, path: &Path, e: &toml::de::Error) -> ConfigError {
    let line = e.span().map_or(1, |s| line_of(text, s.start));
    let near = text
        .lines()
        .nth(line - 1)
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let short: String = l.chars().take(60).collect();
            format!(" (near `{short}`)")
        })
        .unwrap_or_default();
    ConfigError::Parse {
        path: path.to_owned(),
        line,
        near,
        message: e.message().trim().replace('\n', " "),
    }
}

/// The checked setting `key` of `text`, or what is wrong with it.
fn item_of(
    text: &str,
    path: &Path,
    key: &str,
    value: &toml::Spanned<DeValue<'_>>,
) -> Result<Item, ConfigError> {
    let line = line_of(text, value.span().start);
    let bad = |why: String| ConfigError::Value {
        path: path.to_owned(),
        line,
        key: key.to_owned(),
        why,
    };
    let def = defs::find(key)
        .filter(|d| d.meta().file)
        .ok_or_else(|| bad(unknown_setting(key)))?;
    let lines = match value.get_ref() {
        DeValue::Array(a) => a.iter().map(|v| line_of(text, v.span().start)).collect(),
        _ => Vec::new(),
    };
    let fields = match value.get_ref() {
        DeValue::Array(a) => a
            .iter()
            .map(|v| match v.get_ref() {
                DeValue::Table(t) => t
                    .iter()
                    .map(|(k, v)| (k.get_ref().to_string(), line_of(text, v.span().start)))
                    .collect(),
                _ => Vec::new(),
            })
            .collect(),
        _ => Vec::new(),
    };
    let owned = <toml::Value as serde::Deserialize>::deserialize(
        toml::de::ValueDeserializer::from(value.clone()),
    )
    .map_err(|e| syntax(text, path, &e))?;
    let item = Item {
        value: owned,
        line,
        lines,
        fields,
    };
    def.check(&item).map_err(|b| ConfigError::Value {
        path: path.to_owned(),
        line: b.line,
        key: key.to_owned(),
        why: b.why,
    })?;
    Ok(item)
}

type Leaf<'i> = (String, toml::Spanned<DeValue<'i>>);

/// Every non-table value under `table` with its dotted key (an array of tables is one value).
fn flatten<'i>(prefix: &str, table: &DeTable<'i>, out: &mut Vec<Leaf<'i>>) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.get_ref().to_string()
        } else {
            format!("{prefix}.{}", k.get_ref())
        };
        match v.get_ref() {
            DeValue::Table(t) => flatten(&key, t, out),
            _ => out.push((key, v.clone())),
        }
    }
}

/// "unknown setting", with a "did you mean" when a manifest key is close to `key`
/// (`policy.max_minr` finds `policy.max_minor`).
fn unknown_setting(key: &str) -> String {
    // Two edits at most (a letter missed, doubled or swapped): further is another setting.
    let closest = defs::ALL
        .iter()
        .map(|d| d.meta())
        .filter(|m| m.file)
        .map(|m| (strsim::damerau_levenshtein(key, m.key), m.key))
        .filter(|(edits, _)| *edits <= 2)
        .min_by_key(|(edits, _)| *edits);
    // A key of a table written at the top level (`retries` for `network.retries`).
    let same_name = || {
        defs::ALL
            .iter()
            .map(|d| d.meta())
            .filter(|m| m.file)
            .find(|m| m.key.rsplit('.').next() == Some(key) && m.key != key)
            .map(|m| m.key)
    };
    match closest.map(|(_, k)| k).or_else(same_name) {
        Some(k) => format!("unknown setting; did you mean `{k}`?"),
        None => "unknown setting".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interface::settings::{Flags, Sources};

    fn err(text: &str) -> String {
        parse(text, Path::new("c.toml")).unwrap_err().to_string()
    }

    // Issue 37, item 12.
    #[test]
    fn a_top_level_key_of_a_table_is_pointed_to_and_check_reports_every_problem() {
        assert!(
            err("retries = 5\n").contains("did you mean `network.retries`?"),
            "{}",
            err("retries = 5\n")
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        std::fs::write(&file, "retries = 5\n[gc]\nkeep = \"x\"\nkep = 3\n").unwrap();
        let all = check(&file).unwrap_err().to_string();
        for part in [
            "has 3 problems",
            "line 1: `retries`",
            "line 3: `gc.keep`",
            "line 4: `gc.kep`: unknown setting; did you mean `gc.keep`?",
        ] {
            assert!(all.contains(part), "{part}: {all}");
        }
        assert!(!all.contains('\n'), "one line: {all}");
        assert!(
            load(&file)
                .unwrap_err()
                .to_string()
                .contains("line 1: `retries`")
        );
    }

    #[test]
    fn a_full_manifest_parses_with_lines() {
        let text = r#"
catalogue = "https://example.org/download-metadata.json"
lock_timeout = 30

[network]
allowed_hosts = ["mirror.corp", "*.corp"]
proxy = "http://proxy.corp:3128"
cache_max = "500MB"
catalogue_ttl = "2h"

[policy]
allowed = ">=3.10,<3.13"
max_minor = 12
prereleases = false
build = "20250612"

[maintenance]
windows = ["Sat 02:00-04:00 UTC", "Wed 22:00-23:00 +01:00"]

[validation]
timeout = 20
modules = ["ssl", "_decimal", "xml.etree.ElementTree"]
health_check = true

[[validation.checks]]
name = "imports"
run = ["{python}", "-c", "import json"]
timeout = 5
when = "both"

[gc]
keep = 5
older_than = "30d"
"#;
        let f = parse(text, Path::new("/etc/pyswap/config.toml")).unwrap();
        assert_eq!(f.get("lock_timeout").map(|i| i.line), Some(3));
        assert_eq!(f.get("gc.keep").map(|i| i.line), Some(32));
        let flags = Flags::default();
        let env = |_: &str| None;
        let mut l = Sources::new(&flags, &env, &f);
        assert_eq!(l.get(&defs::CACHE_MAX).unwrap().0, 500_000_000);
        assert_eq!(
            l.get(&defs::CATALOGUE_TTL).unwrap(),
            std::time::Duration::from_secs(7200)
        );
        assert_eq!(l.get(&defs::POLICY_MAX_MINOR).unwrap(), 12);
        assert_eq!(l.get(&defs::WINDOWS).unwrap().0.len(), 2);
        assert_eq!(l.get(&defs::VALIDATE_MODULES).unwrap().0.len(), 3);
        let checks = l.get(&defs::CHECKS).unwrap().0;
        assert_eq!(
            (checks[0].when, checks[0].timeout),
            (
                crate::domain::validate::When::Both,
                std::time::Duration::from_secs(5)
            )
        );
        assert_eq!(f.count(), 17);
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key_and_line() {
        let e = err("lock_timeout = 3\nflavour = \"mint\"\n");
        assert!(e.contains("line 2") && e.contains("flavour"), "{e}");
        let e = err("[network]\nretries = \"three\"\n");
        assert!(e.contains("line 2") && e.contains("retries"), "{e}");
        let e = err("[policy]\n\nallowed = \">=3.x\"\n");
        assert!(
            e.contains("line 3") && e.contains("`policy.allowed`"),
            "{e}"
        );
        let e = err(
            "[maintenance]\nwindows = [\n  \"Sat 02:00-04:00\",\n  \"Caturday 01:00-02:00\",\n]\n",
        );
        assert!(e.contains("line 4") && e.contains("Caturday"), "{e}");
        let e = err("[validation]\nmodules = [\"ssl\", \"not a module\"]\n");
        assert!(e.contains("line 2") && e.contains("not a module"), "{e}");
        let e = err("[gc]\nolder_than = \"a fortnight\"\n");
        assert!(e.contains("`gc.older_than`"), "{e}");
        let e = err("[policy]\nbuild = \"latest\"\n");
        assert!(e.contains("release date"), "{e}");
        let e = err("[[validation.checks]]\nname = \"x\"\nrun = []\n");
        assert!(e.contains("empty `run`"), "{e}");
        let e =
            err("[[validation.checks]]\nname = \"x\"\nrun = [\"true\"]\nwhen = \"sometimes\"\n");
        assert!(e.contains("line 4") && e.contains("sometimes"), "{e}");
        let e = err("mirror = \"ftp://old\"\n");
        assert!(e.contains("line 1") && e.contains("`mirror`"), "{e}");
        let e = err("[network\n");
        assert!(e.contains("line 1"), "{e}");
        assert!(!e.contains('\n'), "one line: {e}");
    }

    #[test]
    fn the_explicit_file_must_exist_and_otherwise_home_wins() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            locate(Some(&dir.path().join("nope.toml")), dir.path()),
            Err(ConfigError::NotFound(_))
        ));
        assert!(matches!(
            locate(Some(dir.path()), dir.path()),
            Err(ConfigError::Directory(_))
        ));
        assert_eq!(
            locate(Some(Path::new("/dev/null")), dir.path()).unwrap(),
            Some(PathBuf::from("/dev/null"))
        );
        assert_eq!(load(Path::new("/dev/null")).unwrap().count(), 0);
        std::fs::write(dir.path().join("config.toml"), "").unwrap();
        assert_eq!(
            locate(None, dir.path()).unwrap(),
            Some(dir.path().join("config.toml"))
        );
    }
}

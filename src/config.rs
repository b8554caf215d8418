//! The configuration manifest: a TOML file that sets, for a host or a fleet, what flags and
//! environment variables set per command, plus what only a manifest sets (version policy,
//! maintenance windows, validation checks, gc defaults).
//!
//! Which file: `--config PATH` / `PYSWAP_CONFIG` (must exist), else `$PYSWAP_HOME/config.toml`,
//! else `/etc/pyswap/config.toml`; the first found is the only one read (files are not merged,
//! so what applies is always one file, named by `pyswap config show`). Precedence per value:
//! flag > environment > file > default (the merge is in `cli`, which sees the flags).
//!
//! This module parses and checks: unknown keys and bad values are errors naming the key and the
//! line. Each checked value keeps its line, so `pyswap config show` can say where it came from.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::platform::Platform;
use crate::policy::{Rule, VersionPolicy};
use crate::validate::{UserCheck, When};
use crate::version::Request;
use crate::window::{Schedule, Window};

pub const SYSTEM_CONFIG: &str = "/etc/pyswap/config.toml";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {} does not exist", .0.display())]
    NotFound(PathBuf),
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
}

/// Where an effective value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Flag(String),
    Env(String),
    File { path: PathBuf, line: usize },
    Default,
}

impl Source {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Flag(_) => "flag",
            Self::Env(_) => "env",
            Self::File { .. } => "file",
            Self::Default => "default",
        }
    }

    /// The flag, variable or `path:line`; `None` for a default.
    pub fn origin(&self) -> Option<String> {
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
pub struct Shown {
    /// The manifest key, e.g. `network.proxy`.
    pub key: String,
    pub value: serde_json::Value,
    pub source: Source,
}

/// A checked value from the file and its line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct At<T> {
    pub value: T,
    pub line: usize,
}

type Opt<T> = Option<At<T>>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    catalogue: Option<Spanned<String>>,
    mirror: Option<Spanned<String>>,
    platform: Option<Spanned<String>>,
    lock_timeout: Option<Spanned<u64>>,
    #[serde(default)]
    network: RawNetwork,
    #[serde(default)]
    policy: RawPolicy,
    #[serde(default)]
    maintenance: RawMaintenance,
    #[serde(default)]
    validation: RawValidation,
    #[serde(default)]
    gc: RawGc,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNetwork {
    offline: Option<Spanned<bool>>,
    allowed_hosts: Option<Spanned<Vec<String>>>,
    insecure_hosts: Option<Spanned<Vec<String>>>,
    proxy: Option<Spanned<String>>,
    no_proxy: Option<Spanned<bool>>,
    connect_timeout: Option<Spanned<u64>>,
    http_timeout: Option<Spanned<u64>>,
    download_timeout: Option<Spanned<u64>>,
    retries: Option<Spanned<u32>>,
    retry_backoff: Option<Spanned<String>>,
    cache_max: Option<Spanned<String>>,
    catalogue_ttl: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    allowed: Option<Spanned<String>>,
    max_minor: Option<Spanned<u64>>,
    prereleases: Option<Spanned<bool>>,
    build: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMaintenance {
    windows: Option<Spanned<Vec<Spanned<String>>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawValidation {
    timeout: Option<Spanned<u64>>,
    modules: Option<Spanned<Vec<Spanned<String>>>>,
    health_check: Option<Spanned<bool>>,
    checks: Option<Spanned<Vec<Spanned<RawCheck>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    name: String,
    run: Vec<String>,
    #[serde(default = "default_check_timeout")]
    timeout: u64,
    #[serde(default)]
    when: When,
}

fn default_check_timeout() -> u64 {
    60
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGc {
    keep: Option<Spanned<u64>>,
    older_than: Option<Spanned<String>>,
}

/// The checked content of one manifest (everything `None` when there is no file).
#[derive(Clone, Debug, Default)]
pub struct FileConfig {
    pub path: Option<PathBuf>,
    pub catalogue: Opt<String>,
    pub mirror: Opt<String>,
    pub platform: Opt<Platform>,
    pub lock_timeout: Opt<u64>,
    pub offline: Opt<bool>,
    pub allowed_hosts: Opt<Vec<String>>,
    pub insecure_hosts: Opt<Vec<String>>,
    pub proxy: Opt<String>,
    pub no_proxy: Opt<bool>,
    pub connect_timeout: Opt<u64>,
    pub http_timeout: Opt<u64>,
    pub download_timeout: Opt<u64>,
    pub retries: Opt<u32>,
    pub retry_backoff: Opt<Duration>,
    pub cache_max: Opt<u64>,
    pub catalogue_ttl: Opt<Duration>,
    pub policy: VersionPolicy,
    /// Lines of the `policy.*` keys set, for `config show`.
    pub policy_lines: Vec<(String, serde_json::Value, usize)>,
    pub windows: Opt<Schedule>,
    pub validate_timeout: Opt<u64>,
    pub modules: Opt<Vec<String>>,
    pub health_check: Opt<bool>,
    pub checks: Opt<Vec<UserCheck>>,
    pub gc_keep: Opt<u64>,
    pub gc_older_than: Opt<Duration>,
}

impl FileConfig {
    /// How many values the file sets.
    pub fn count(&self) -> usize {
        [
            self.catalogue.is_some(),
            self.mirror.is_some(),
            self.platform.is_some(),
            self.lock_timeout.is_some(),
            self.offline.is_some(),
            self.allowed_hosts.is_some(),
            self.insecure_hosts.is_some(),
            self.proxy.is_some(),
            self.no_proxy.is_some(),
            self.connect_timeout.is_some(),
            self.http_timeout.is_some(),
            self.download_timeout.is_some(),
            self.retries.is_some(),
            self.retry_backoff.is_some(),
            self.cache_max.is_some(),
            self.catalogue_ttl.is_some(),
            self.windows.is_some(),
            self.validate_timeout.is_some(),
            self.modules.is_some(),
            self.health_check.is_some(),
            self.checks.is_some(),
            self.gc_keep.is_some(),
            self.gc_older_than.is_some(),
        ]
        .iter()
        .filter(|&&b| b)
        .count()
            + self.policy_lines.len()
    }

    /// `path line N`, for messages that name where a rule was set.
    pub fn origin(&self, line: usize) -> String {
        match &self.path {
            Some(p) => format!("{} line {line}", p.display()),
            None => format!("line {line}"),
        }
    }
}

/// The manifest that applies: the explicit one, else the home's, else the system's, else none.
pub fn locate(explicit: Option<&Path>, home: &Path) -> Result<Option<PathBuf>, ConfigError> {
    if let Some(p) = explicit {
        return if p.is_file() {
            Ok(Some(p.to_owned()))
        } else {
            Err(ConfigError::NotFound(p.to_owned()))
        };
    }
    Ok([home.join("config.toml"), PathBuf::from(SYSTEM_CONFIG)]
        .into_iter()
        .find(|p| p.is_file()))
}

/// Reads and checks the manifest at `path`.
pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
        path: path.to_owned(),
        error,
    })?;
    parse(&text, path)
}

/// Checks manifest `text` (read from `path`, named in errors).
pub fn parse(text: &str, path: &Path) -> Result<FileConfig, ConfigError> {
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let raw: Raw = toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(1, |s| line_of(s.start));
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
    })?;
    let chk = Checker {
        path,
        line_of: &line_of,
    };
    let mut out = FileConfig {
        path: Some(path.to_owned()),
        ..FileConfig::default()
    };
    out.catalogue = chk.plain(raw.catalogue);
    out.mirror = chk.check(raw.mirror, "mirror", |m| {
        if m.starts_with("https://") || m.starts_with("http://") || m.starts_with("file://") {
            Ok(m)
        } else {
            Err(format!("`{m}` is not an http(s):// or file:// URL"))
        }
    })?;
    out.platform = chk.check(raw.platform, "platform", |p| {
        Platform::parse(&p).map_err(|e| e.to_string())
    })?;
    out.lock_timeout = chk.plain(raw.lock_timeout);
    check_network(&chk, raw.network, &mut out)?;
    check_policy(&chk, raw.policy, &mut out)?;
    if let Some(ws) = raw.maintenance.windows {
        let line = line_of(ws.span().start);
        let windows = ws
            .into_inner()
            .into_iter()
            .map(|w| {
                let line = line_of(w.span().start);
                Window::parse(w.get_ref())
                    .map_err(|e| chk.bad(line, "maintenance.windows", e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.windows = Some(At {
            value: Schedule(windows),
            line,
        });
    }

    check_validation(&chk, raw.validation, &mut out)?;
    out.gc_keep = chk.plain(raw.gc.keep);
    out.gc_older_than = chk.check(raw.gc.older_than, "gc.older_than", |s| duration(&s))?;
    Ok(out)
}

/// `2GiB`, `500MB`, `1024`, `0`: a size in bytes (binary and decimal suffixes).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size such as 2GiB or 500MB"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        "t" | "tb" => 1_000_000_000_000,
        "tib" => 1 << 40,
        _ => {
            return Err(format!(
                "`{s}` has an unknown unit (use B, KB, KiB, MB, MiB, GB, GiB)"
            ));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("`{s}` is too large"))
}

fn check_network(c: &Checker, n: RawNetwork, f: &mut FileConfig) -> Result<(), ConfigError> {
    f.offline = c.plain(n.offline);
    f.allowed_hosts = c.plain(n.allowed_hosts);
    f.insecure_hosts = c.plain(n.insecure_hosts);
    f.proxy = c.plain(n.proxy);
    f.no_proxy = c.plain(n.no_proxy);
    f.connect_timeout = c.plain(n.connect_timeout);
    f.http_timeout = c.plain(n.http_timeout);
    f.download_timeout = c.plain(n.download_timeout);
    f.retries = c.plain(n.retries);
    f.retry_backoff = c.check(n.retry_backoff, "network.retry_backoff", |s| duration(&s))?;
    f.cache_max = c.check(n.cache_max, "network.cache_max", |s| parse_size(&s))?;
    f.catalogue_ttl = c.check(n.catalogue_ttl, "network.catalogue_ttl", |s| duration(&s))?;

    Ok(())
}

fn check_policy(c: &Checker, p: RawPolicy, f: &mut FileConfig) -> Result<(), ConfigError> {
    if let Some(a) = c.check(p.allowed, "policy.allowed", |s| {
        let r = Request::parse(&s).map_err(|e| e.to_string())?;
        if matches!(r.spec(), crate::version::Spec::Key(_)) {
            return Err("expected a version range such as \">=3.10,<3.13\"".into());
        }
        Ok(r)
    })? {
        f.policy_lines
            .push(("policy.allowed".into(), a.value.raw().into(), a.line));
        f.policy.allowed = Some(Rule {
            value: a.value,
            origin: f.origin(a.line),
        });
    }
    if let Some(m) = c.plain(p.max_minor) {
        f.policy_lines
            .push(("policy.max_minor".into(), m.value.into(), m.line));
        f.policy.max_minor = Some(Rule {
            value: m.value,
            origin: f.origin(m.line),
        });
    }
    if let Some(m) = c.plain(p.prereleases) {
        f.policy_lines
            .push(("policy.prereleases".into(), m.value.into(), m.line));
        f.policy.prereleases = Some(Rule {
            value: m.value,
            origin: f.origin(m.line),
        });
    }
    if let Some(b) = c.check(p.build, "policy.build", |b| {
        if b.len() == 8 && b.bytes().all(|c| c.is_ascii_digit()) {
            Ok(b)
        } else {
            Err(format!(
                "`{b}` is not a python-build-standalone release date such as 20250612"
            ))
        }
    })? {
        f.policy_lines
            .push(("policy.build".into(), b.value.clone().into(), b.line));
        f.policy.build = Some(Rule {
            value: b.value,
            origin: f.origin(b.line),
        });
    }

    Ok(())
}

fn check_validation(c: &Checker, v: RawValidation, f: &mut FileConfig) -> Result<(), ConfigError> {
    let line_of = c.line_of;
    f.validate_timeout = c.plain(v.timeout);
    if let Some(ms) = v.modules {
        let line = line_of(ms.span().start);
        let modules = ms
            .into_inner()
            .into_iter()
            .map(|m| {
                let ok = !m.get_ref().is_empty()
                    && m.get_ref().split('.').all(|part| {
                        part.chars()
                            .next()
                            .is_some_and(|ch| ch.is_ascii_alphabetic() || ch == '_')
                            && part
                                .chars()
                                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
                    });
                if ok {
                    Ok(m.into_inner())
                } else {
                    Err(c.bad(
                        line_of(m.span().start),
                        "validation.modules",
                        format!("`{}` is not a module name", m.get_ref()),
                    ))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        f.modules = Some(At {
            value: modules,
            line,
        });
    }
    f.health_check = c.plain(v.health_check);
    if let Some(cs) = v.checks {
        let line = line_of(cs.span().start);
        let mut checks: Vec<UserCheck> = Vec::new();
        for ch in cs.into_inner() {
            let at = line_of(ch.span().start);
            let ch = ch.into_inner();
            let bad = |why: String| c.bad(at, "validation.checks", why);
            if ch.name.trim().is_empty() {
                return Err(bad("a check needs a `name`".into()));
            }
            if checks.iter().any(|o| o.name == ch.name) {
                return Err(bad(format!("two checks are named `{}`", ch.name)));
            }
            if ch.run.first().is_none_or(String::is_empty) {
                return Err(bad(format!("check `{}` has an empty `run`", ch.name)));
            }
            if ch.timeout == 0 {
                return Err(bad(format!("check `{}` has a zero timeout", ch.name)));
            }
            checks.push(UserCheck {
                name: ch.name,
                run: ch.run,
                timeout: Duration::from_secs(ch.timeout),
                when: ch.when,
            });
        }
        f.checks = Some(At {
            value: checks,
            line,
        });
    }
    Ok(())
}

fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("`{s}` is not a duration such as 30s, 5m, 12h, 30d ({e})"))
}

struct Checker<'a> {
    path: &'a Path,
    line_of: &'a dyn Fn(usize) -> usize,
}

impl Checker<'_> {
    fn plain<T>(&self, v: Option<Spanned<T>>) -> Opt<T> {
        v.map(|s| At {
            line: (self.line_of)(s.span().start),
            value: s.into_inner(),
        })
    }

    fn check<T, U>(
        &self,
        v: Option<Spanned<T>>,
        key: &str,
        f: impl FnOnce(T) -> Result<U, String>,
    ) -> Result<Opt<U>, ConfigError> {
        let Some(At { value, line }) = self.plain(v) else {
            return Ok(None);
        };
        f(value)
            .map(|value| Some(At { value, line }))
            .map_err(|why| self.bad(line, key, why))
    }

    fn bad(&self, line: usize, key: &str, why: String) -> ConfigError {
        ConfigError::Value {
            path: self.path.to_owned(),
            line,
            key: key.to_owned(),
            why,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse(text, Path::new("c.toml")).unwrap_err().to_string()
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
        assert_eq!(f.lock_timeout, Some(At { value: 30, line: 3 }));
        assert_eq!(f.cache_max.as_ref().unwrap().value, 500_000_000);
        assert_eq!(
            f.catalogue_ttl.as_ref().unwrap().value,
            Duration::from_secs(7200)
        );
        assert_eq!(
            f.policy.allowed.as_ref().unwrap().origin,
            "/etc/pyswap/config.toml line 12"
        );
        assert_eq!(f.policy.max_minor.as_ref().unwrap().value, 12);
        assert_eq!(f.windows.as_ref().unwrap().value.0.len(), 2);
        assert_eq!(f.modules.as_ref().unwrap().value.len(), 3);
        let checks = &f.checks.as_ref().unwrap().value;
        assert_eq!(
            (checks[0].when, checks[0].timeout),
            (When::Both, Duration::from_secs(5))
        );
        assert_eq!(f.gc_keep, Some(At { value: 5, line: 32 }));
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
    fn sizes() {
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("500MB"), Ok(500_000_000));
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("10 kib"), Ok(10 << 10));
        assert!(parse_size("lots").is_err() && parse_size("3 parsecs").is_err());
    }

    #[test]
    fn the_explicit_file_must_exist_and_otherwise_home_wins() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            locate(Some(&dir.path().join("nope.toml")), dir.path()),
            Err(ConfigError::NotFound(_))
        ));
        std::fs::write(dir.path().join("config.toml"), "").unwrap();
        assert_eq!(
            locate(None, dir.path()).unwrap(),
            Some(dir.path().join("config.toml"))
        );
    }
}

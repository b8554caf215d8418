//! How a setting's value is read from a flag or an environment variable (text) and from the
//! manifest (TOML), and how `pyswap config show` displays it. One impl per kind of value; the
//! settings themselves are defined in `defs`.

use std::path::PathBuf;
use std::time::Duration;

use crate::catalogue::Location;
use crate::domain::validate::{UserCheck, When};
use crate::domain::window::{Schedule, Window};
use crate::ground::platform::Platform;
use crate::ground::version::Request;

/// One value of the manifest, with the line it is on and, for an array, each element's line.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Item {
    pub(crate) value: toml::Value,
    pub(crate) line: usize,
    pub(crate) lines: Vec<usize>,
    /// For an array of tables: each element's keys and their lines.
    pub(crate) fields: Vec<Vec<(String, usize)>>,
}

impl Item {
    fn bad(&self, why: impl Into<String>) -> Bad {
        Bad {
            line: self.line,
            why: why.into(),
        }
    }

    fn wrong_type(&self, expected: &str) -> Bad {
        self.bad(format!(
            "expected {expected}, found {}",
            self.value.type_str()
        ))
    }

    /// The elements of an array of strings, each with its line.
    fn strings(&self) -> Result<Vec<(&str, usize)>, Bad> {
        let toml::Value::Array(items) = &self.value else {
            return Err(self.wrong_type("an array of strings"));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let line = self.lines.get(i).copied().unwrap_or(self.line);
                v.as_str().map(|s| (s, line)).ok_or_else(|| Bad {
                    line,
                    why: format!("expected a string, found {}", v.type_str()),
                })
            })
            .collect()
    }

    /// An array of strings, each read by `one`; a bad one is reported on its own line.
    fn each<T>(&self, one: impl Fn(&str) -> Result<T, String>) -> Result<Vec<T>, Bad> {
        self.strings()?
            .into_iter()
            .map(|(s, line)| one(s).map_err(|why| Bad { line, why }))
            .collect()
    }
}

/// A comma-separated value (of a flag or variable), each item read by `one`.
fn each_of<T>(text: &str, one: impl Fn(&str) -> Result<T, String>) -> Result<Vec<T>, String> {
    text.split(',').map(one).collect()
}

/// Why a manifest value was refused, and on which line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Bad {
    pub(crate) line: usize,
    pub(crate) why: String,
}

/// A kind of setting value.
pub(crate) trait Value: Sized {
    /// A flag without a value (`--offline`); its environment variable takes a boolean.
    const SWITCH: bool = false;
    /// A flag that may be repeated; its values are joined with commas.
    const REPEATED: bool = false;

    /// From a flag's or an environment variable's text.
    fn parse(text: &str) -> Result<Self, String>;

    /// From the manifest. By default a TOML string, parsed as text.
    fn from_toml(item: &Item) -> Result<Self, Bad> {
        match &item.value {
            toml::Value::String(s) => Self::parse(s).map_err(|why| item.bad(why)),
            _ => Err(item.wrong_type("a string")),
        }
    }

    /// As `pyswap config show` displays it.
    fn show(&self) -> serde_json::Value;
}

fn whole<T: TryFrom<i64> + std::str::FromStr>(item: &Item) -> Result<T, Bad> {
    match &item.value {
        toml::Value::Integer(i) => {
            T::try_from(*i).map_err(|_| item.bad(format!("{i} is out of range")))
        }
        _ => Err(item.wrong_type("a whole number")),
    }
}

fn parse_whole<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a whole number in range"))
}

/// Whole numbers: digits as text, an integer in the manifest.
macro_rules! whole_number {
    ($($t:ty),*) => {$(
        impl Value for $t {
            fn parse(text: &str) -> Result<Self, String> {
                parse_whole(text)
            }
            fn from_toml(item: &Item) -> Result<Self, Bad> {
                whole(item)
            }
            fn show(&self) -> serde_json::Value {
                (*self).into()
            }
        }
    )*};
}

whole_number!(u64, u32);

impl Value for bool {
    const SWITCH: bool = true;

    fn parse(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => Err(format!(
                "`{text}` is not a boolean (true/false, 1/0, yes/no, on/off)"
            )),
        }
    }
    fn from_toml(item: &Item) -> Result<Self, Bad> {
        item.value
            .as_bool()
            .ok_or_else(|| item.wrong_type("true or false"))
    }
    fn show(&self) -> serde_json::Value {
        (*self).into()
    }
}

/// A boolean whose flag takes a value (`--compile-bytecode false`): for settings that default
/// to on, where a bare flag could only repeat the default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Toggle(pub(crate) bool);

impl Value for Toggle {
    fn parse(text: &str) -> Result<Self, String> {
        bool::parse(text).map(Self)
    }
    fn from_toml(item: &Item) -> Result<Self, Bad> {
        bool::from_toml(item).map(Self)
    }
    fn show(&self) -> serde_json::Value {
        self.0.into()
    }
}

impl Value for Duration {
    fn parse(text: &str) -> Result<Self, String> {
        humantime::parse_duration(text.trim())
            .map_err(|e| format!("`{text}` is not a duration such as 30s, 5m, 12h, 30d ({e})"))
    }
    fn show(&self) -> serde_json::Value {
        humantime::format_duration(*self).to_string().into()
    }
}

/// A size in bytes: `2GiB`, `500MB`, `1024`, `0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Bytes(pub(crate) u64);

const UNITS: [(&str, u64); 8] = [
    ("TiB", 1 << 40),
    ("TB", 1_000_000_000_000),
    ("GiB", 1 << 30),
    ("GB", 1_000_000_000),
    ("MiB", 1 << 20),
    ("MB", 1_000_000),
    ("KiB", 1 << 10),
    ("KB", 1_000),
];

impl Value for Bytes {
    fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: u64 = num
            .parse()
            .map_err(|_| format!("`{text}` is not a size such as 2GiB or 500MB"))?;
        let unit = unit.trim().to_ascii_lowercase();
        let mult = match unit.as_str() {
            "" | "b" => 1,
            "k" | "m" | "g" | "t" => UNITS
                .iter()
                .find(|(u, _)| u.len() == 2 && u[..1].eq_ignore_ascii_case(&unit))
                .map_or(1, |(_, m)| *m),
            _ => UNITS
                .iter()
                .find(|(u, _)| u.eq_ignore_ascii_case(&unit))
                .map(|(_, m)| *m)
                .ok_or_else(|| {
                    format!("`{text}` has an unknown unit (use B, KB, KiB, MB, MiB, GB, GiB)")
                })?,
        };
        n.checked_mul(mult)
            .map(Bytes)
            .ok_or_else(|| format!("`{text}` is too large"))
    }
    fn from_toml(item: &Item) -> Result<Self, Bad> {
        match &item.value {
            toml::Value::Integer(_) => whole(item).map(Bytes),
            toml::Value::String(s) => Self::parse(s).map_err(|why| item.bad(why)),
            _ => Err(item.wrong_type("a size such as \"2GiB\"")),
        }
    }
    /// The largest unit that divides it exactly: `2GiB`, `500MB`, `1234B`.
    fn show(&self) -> serde_json::Value {
        let n = self.0;
        let shown = UNITS
            .iter()
            .find(|(_, m)| n != 0 && n.is_multiple_of(*m))
            .map_or_else(|| format!("{n}B"), |(u, m)| format!("{}{u}", n / m));
        shown.into()
    }
}

/// Host names or `*.domain` patterns, lowercased.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Hosts(pub(crate) Vec<String>);

fn host(h: &str) -> Result<Option<String>, String> {
    let h = h.trim().to_ascii_lowercase();
    if h.is_empty() {
        return Ok(None);
    }
    let bare = h.strip_prefix("*.").unwrap_or(&h);
    if bare.is_empty()
        || !bare
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
    {
        return Err(format!(
            "`{h}` is not a host name, `*.domain` or an IP address"
        ));
    }
    Ok(Some(h))
}

impl Value for Hosts {
    const REPEATED: bool = true;

    fn parse(text: &str) -> Result<Self, String> {
        Ok(Self(each_of(text, host)?.into_iter().flatten().collect()))
    }
    fn from_toml(item: &Item) -> Result<Self, Bad> {
        Ok(Self(item.each(host)?.into_iter().flatten().collect()))
    }
    fn show(&self) -> serde_json::Value {
        serde_json::json!(self.0)
    }
}

/// A URL that may carry credentials: shown redacted.
fn secret(s: &str) -> serde_json::Value {
    crate::ground::secret::redact_text(s).into()
}

/// The mirror: an http(s):// or file:// URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MirrorUrl(pub(crate) String);

impl Value for MirrorUrl {
    fn parse(text: &str) -> Result<Self, String> {
        if ["https://", "http://", "file://"]
            .iter()
            .any(|p| text.starts_with(p))
        {
            Ok(Self(text.to_owned()))
        } else {
            Err(format!("`{text}` is not an http(s):// or file:// URL"))
        }
    }
    fn show(&self) -> serde_json::Value {
        secret(&self.0)
    }
}

/// An http(s) proxy URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ProxyUrl(pub(crate) String);

impl Value for ProxyUrl {
    fn parse(text: &str) -> Result<Self, String> {
        crate::network::fetch::check_proxy_url(text)?;
        Ok(Self(text.to_owned()))
    }
    fn show(&self) -> serde_json::Value {
        secret(&self.0)
    }
}

impl Value for Location {
    fn parse(text: &str) -> Result<Self, String> {
        Ok(if text.is_empty() {
            Self::Embedded
        } else {
            Self::parse(text)
        })
    }
    fn show(&self) -> serde_json::Value {
        match self {
            Self::Embedded => serde_json::Value::Null,
            other => secret(&other.to_string()),
        }
    }
}

impl Value for Platform {
    fn parse(text: &str) -> Result<Self, String> {
        Self::parse(text).map_err(|e| e.to_string())
    }
    fn show(&self) -> serde_json::Value {
        self.to_string().into()
    }
}

impl Value for PathBuf {
    fn parse(text: &str) -> Result<Self, String> {
        Ok(Self::from(text))
    }
    fn show(&self) -> serde_json::Value {
        self.display().to_string().into()
    }
}

/// A user of this host, by name or uid (`[install] sandbox_user`): letters, digits, `_`, `-`,
/// `.`; looked up only when pyswap is root and needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct UserName(pub(crate) String);

impl Value for UserName {
    fn parse(text: &str) -> Result<Self, String> {
        let ok = !text.is_empty()
            && text.len() <= 64
            && !text.starts_with('-')
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(format!("`{text}` is not a user name or uid"))
        }
    }
    fn show(&self) -> serde_json::Value {
        self.0.clone().into()
    }
}

/// A profile name (checked against the grammar of profile directories).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ProfileName(pub(crate) String);

impl Value for ProfileName {
    fn parse(text: &str) -> Result<Self, String> {
        crate::storage::profile::check_name(text).map_err(|e| e.to_string())?;
        Ok(Self(text.to_owned()))
    }
    fn show(&self) -> serde_json::Value {
        self.0.clone().into()
    }
}

impl Value for Schedule {
    fn parse(_: &str) -> Result<Self, String> {
        Err("maintenance windows are set in the manifest only".into())
    }
    fn from_toml(item: &Item) -> Result<Self, Bad> {
        let windows = item
            .strings()?
            .into_iter()
            .map(|(s, line)| {
                Window::parse(s).map_err(|e| Bad {
                    line,
                    why: e.to_string(),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Schedule(windows))
    }
    fn show(&self) -> serde_json::Value {
        serde_json::json!(self.0.iter().map(ToString::to_string).collect::<Vec<_>>())
    }
}

/// Python module names, for the validation imports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Modules(pub(crate) Vec<String>);

impl Value for Modules {
    fn parse(text: &str) -> Result<Self, String> {
        each_of(text, module).map(Self)
    }
    fn from_toml(item: &Item) -> Result<Self, Bad> {
        item.each(module).map(Self)
    }
    fn show(&self) -> serde_json::Value {
        serde_json::json!(self.0)
    }
}

fn module(m: &str) -> Result<String, String> {
    let m = m.trim();
    let ok = !m.is_empty()
        && m.split('.').all(|part| {
            part.chars()
                .next()
                .is_some_and(|ch| ch.is_ascii_alphabetic() || ch == '_')
                && part
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
        });
    if ok {
        Ok(m.to_owned())
    } else {
        Err(format!("`{m}` is not a module name"))
    }
}

/// The minisign public keys a catalogue must be signed by (`[trust] keys`; manifest only).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct TrustKeys(pub(crate) Vec<crate::catalogue::trust::Key>);

impl Value for TrustKeys {
    fn parse(text: &str) -> Result<Self, String> {
        each_of(text, crate::catalogue::trust::Key::parse).map(Self)
    }
    fn from_toml(item: &Item) -> Result<Self, Bad> {
        item.each(crate::catalogue::trust::Key::parse).map(Self)
    }
    fn show(&self) -> serde_json::Value {
        serde_json::json!(
            self.0
                .iter()
                .map(|k| format!("{} (key id {})", k.base64(), k.id()))
                .collect::<Vec<_>>()
        )
    }
}

/// The catalogue lines a catalogue's signature must name (`[trust] names`; manifest only).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TrustNames(pub(crate) Vec<String>);

fn trust_name(s: &str) -> Result<String, String> {
    if crate::catalogue::trust::valid_name(s) {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "`{s}` is not a catalogue name (letters, digits, `-`, `_` and `.`, at most 64)"
        ))
    }
}

impl Value for TrustNames {
    fn parse(text: &str) -> Result<Self, String> {
        each_of(text, trust_name).map(Self)
    }
    fn from_toml(item: &Item) -> Result<Self, Bad> {
        item.each(trust_name).map(Self)
    }
    fn show(&self) -> serde_json::Value {
        serde_json::json!(self.0)
    }
}

/// The operator's own validation commands (`[[validation.checks]]`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Checks(pub(crate) Vec<UserCheck>);

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    name: String,
    run: Vec<String>,
    #[serde(default = "default_check_timeout")]
    timeout: u64,
    /// Parsed here rather than by serde, so a bad one is reported on its own line.
    when: Option<String>,
}

fn default_check_timeout() -> u64 {
    60
}

impl Value for Checks {
    fn parse(_: &str) -> Result<Self, String> {
        Err("validation checks are set in the manifest only".into())
    }
    fn from_toml(item: &Item) -> Result<Self, Bad> {
        let toml::Value::Array(items) = &item.value else {
            return Err(item.wrong_type("an array of tables ([[validation.checks]])"));
        };
        let mut checks: Vec<UserCheck> = Vec::new();
        for (i, v) in items.iter().enumerate() {
            let line = item.lines.get(i).copied().unwrap_or(item.line);
            let line_of = |field: &str| {
                item.fields
                    .get(i)
                    .and_then(|f| f.iter().find(|(k, _)| k == field))
                    .map_or(line, |(_, l)| *l)
            };
            let bad = |why: String| Bad { line, why };
            let ch: RawCheck = v.clone().try_into().map_err(|e: toml::de::Error| {
                let why = e.message().trim().replace('\n', " ");
                // An unknown key is reported on its own line, not the table's.
                let field = why
                    .strip_prefix("unknown field `")
                    .and_then(|rest| rest.split_once('`'))
                    .map(|(field, _)| field);
                Bad {
                    line: field.map_or(line, line_of),
                    why,
                }
            })?;
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
            let when = match ch.when.as_deref() {
                None | Some("before") => When::Before,
                Some("after") => When::After,
                Some("both") => When::Both,
                Some(other) => {
                    return Err(Bad {
                        line: line_of("when"),
                        why: format!(
                            "check `{}`: `when = \"{other}\"` is not before, after or both",
                            ch.name
                        ),
                    });
                }
            };
            checks.push(UserCheck {
                name: ch.name,
                run: ch.run,
                timeout: Duration::from_secs(ch.timeout),
                when,
            });
        }
        Ok(Self(checks))
    }
    fn show(&self) -> serde_json::Value {
        serde_json::json!(
            self.0
                .iter()
                .map(|c| serde_json::json!({
                    "name": c.name, "run": c.run, "timeout": c.timeout.as_secs(), "when": c.when,
                }))
                .collect::<Vec<_>>()
        )
    }
}

/// `policy.allowed`: a version range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Range(pub(crate) Request);

impl Value for Range {
    fn parse(text: &str) -> Result<Self, String> {
        let r = Request::parse(text).map_err(|e| e.to_string())?;
        if matches!(r.spec(), crate::ground::version::Spec::Key(_)) {
            return Err("expected a version range such as \">=3.10,<3.13\"".into());
        }
        Ok(Self(r))
    }
    fn show(&self) -> serde_json::Value {
        self.0.raw().into()
    }
}

/// `policy.build`: a python-build-standalone release date such as `20250612`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BuildDate(pub(crate) String);

impl Value for BuildDate {
    fn parse(text: &str) -> Result<Self, String> {
        if text.len() == 8 && text.bytes().all(|c| c.is_ascii_digit()) {
            Ok(Self(text.to_owned()))
        } else {
            Err(format!(
                "`{text}` is not a python-build-standalone release date such as 20250612"
            ))
        }
    }
    fn show(&self) -> serde_json::Value {
        self.0.clone().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_show_in_the_largest_exact_unit() {
        let b = |s: &str| Bytes::parse(s).map(|b| b.0);
        assert_eq!(b("2GiB"), Ok(2 << 30));
        assert_eq!(b("500MB"), Ok(500_000_000));
        assert_eq!(b("0"), Ok(0));
        assert_eq!(b("10 kib"), Ok(10 << 10));
        assert_eq!(b("3k"), Ok(3000));
        assert!(b("lots").is_err() && b("3 parsecs").is_err());
        assert_eq!(Bytes(2 << 30).show(), "2GiB");
        assert_eq!(Bytes(500_000_000).show(), "500MB");
        assert_eq!(Bytes(1234).show(), "1234B");
        assert_eq!(Bytes(0).show(), "0B");
    }

    #[test]
    fn booleans_and_hosts() {
        assert_eq!(bool::parse("Yes"), Ok(true));
        assert_eq!(bool::parse("0"), Ok(false));
        assert!(bool::parse("maybe").is_err());
        assert_eq!(
            Hosts::parse("A.corp, *.b.corp,,").unwrap().0,
            ["a.corp", "*.b.corp"]
        );
        assert!(Hosts::parse("bad host").is_err());
        assert!(u64::parse("abc").is_err() && u64::parse("18446744073709551616").is_err());
    }
}

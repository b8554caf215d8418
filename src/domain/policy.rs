//! Version policy: which catalogue builds a fleet accepts, set in the configuration manifest.
//!
//! Rules (each optional, all must hold): `allowed`, a PEP 440 range such as `>=3.10,<3.13`;
//! `max_minor`, the highest minor version (`10` admits 3.10.x, refuses 3.11); `prereleases`,
//! whether alpha/beta/rc builds are admitted without `--pre`; `build`, a pinned
//! python-build-standalone release date such as `20250612`. A request is resolved among the
//! builds the policy admits, so `switch 3` is the highest allowed version; a request only
//! refused builds satisfy is refused naming the rule. `prereleases = false` is the default
//! spelled out; `--pre` (a flag) or a request naming a prerelease still asks for one. `rollback` ignores the policy: it is the
//! way back, and the generations it returns to were admitted when they were made.

use std::fmt;

use crate::catalogue::Entry;
use crate::ground::version::Request;

/// A rule and where it was set (for the message that refuses a request).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rule<T> {
    pub(crate) value: T,
    /// e.g. `/etc/pyswap/config.toml line 4`.
    pub(crate) origin: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct VersionPolicy {
    pub(crate) allowed: Option<Rule<Request>>,
    pub(crate) max_minor: Option<Rule<u64>>,
    pub(crate) prereleases: Option<Rule<bool>>,
    pub(crate) build: Option<Rule<String>>,
}

/// The rule that refused a build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) rule: String,
    pub(crate) origin: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.rule, self.origin)
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum PolicyError {
    #[error(
        "`{request}` resolves to CPython {version} ({key}), which the version policy refuses: {refusal}"
    )]
    Refused {
        request: String,
        version: String,
        key: String,
        refusal: Refusal,
    },
}

crate::ground::exit::register!(PolicyError);
impl crate::ground::exit::Reason for PolicyError {
    fn refuses_request(&self) -> bool {
        true
    }

    fn status(&self) -> crate::ground::exit::ExitStatus {
        crate::ground::exit::ExitStatus::Failure
    }

    fn help(&self) -> Option<std::borrow::Cow<'static, str>> {
        Some("`pyswap config show` lists the policy in force; `pyswap list --available` what the catalogue offers".into())
    }
}

impl VersionPolicy {
    /// Whether prereleases are admitted without `--pre`.
    pub(crate) fn prereleases(&self) -> bool {
        self.prereleases.as_ref().is_some_and(|r| r.value)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.allowed.is_none()
            && self.max_minor.is_none()
            && self.prereleases.is_none()
            && self.build.is_none()
    }

    /// The first rule that refuses `entry`, if any. (`prereleases` is not a refusal: it only
    /// makes `--pre` the default, and resolution already leaves prereleases out unless asked.)
    pub(crate) fn refusal(&self, entry: &Entry) -> Option<Refusal> {
        let refuse = |rule: String, origin: &str| {
            Some(Refusal {
                rule,
                origin: origin.to_owned(),
            })
        };
        if let Some(r) = &self.allowed
            && !r.value.matches(&entry.version)
        {
            return refuse(format!("policy.allowed = \"{}\"", r.value), &r.origin);
        }
        if let Some(r) = &self.max_minor
            && entry.version.minor() > r.value
        {
            return refuse(format!("policy.max_minor = {}", r.value), &r.origin);
        }
        if let Some(r) = &self.build
            && entry.build.as_deref() != Some(r.value.as_str())
        {
            return refuse(format!("policy.build = \"{}\"", r.value), &r.origin);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ground::version::{PythonVersion, Variant};

    fn entry(v: &str, build: &str) -> Entry {
        Entry {
            implementation: "cpython".into(),
            version: PythonVersion::parse(v).unwrap(),
            variant: Variant::Default,
            os: "linux".into(),
            arch: "x86_64".into(),
            libc: "gnu".into(),
            key: format!("cpython-{v}-linux-x86_64-gnu"),
            url: String::new(),
            sha256: None,
            build: Some(build.into()),
            size: None,
        }
    }

    fn rule<T>(value: T) -> Rule<T> {
        Rule {
            value,
            origin: "config.toml line 1".into(),
        }
    }

    #[test]
    fn each_rule_refuses_naming_itself() {
        let p = VersionPolicy {
            allowed: Some(rule(Request::parse(">=3.10,<3.13").unwrap())),
            max_minor: Some(rule(11)),
            prereleases: Some(rule(false)),
            build: Some(rule("20250612".into())),
        };
        assert_eq!(p.refusal(&entry("3.11.9", "20250612")), None);
        assert_eq!(p.refusal(&entry("3.11.0rc1", "20250612")), None);
        let why = |v: &str, b: &str| p.refusal(&entry(v, b)).unwrap().rule;
        assert_eq!(
            why("3.9.20", "20250612"),
            "policy.allowed = \">=3.10,<3.13\""
        );
        assert_eq!(
            why("3.13.0", "20250612"),
            "policy.allowed = \">=3.10,<3.13\""
        );
        assert_eq!(why("3.12.1", "20250612"), "policy.max_minor = 11");
        assert_eq!(why("3.11.9", "20250101"), "policy.build = \"20250612\"");
    }
}

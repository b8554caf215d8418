//! Python versions and the requests users write for them.
//!
//! A [`PythonVersion`] wraps `semver::Version` so that ordering is semver's (a prerelease sorts
//! below its release; `a` < `b` < `rc`), while display and parsing use Python's spelling
//! (`3.15.0rc1`). A [`Request`] is what `pyswap switch` takes: `3`, `3.12`, `3.12.4`,
//! `3.15.0rc1`, a PEP 440 range such as `>=3.10,<3.12`, or a full catalogue key, each
//! optionally followed by `+freethreaded`, `+debug` (or `t` for free-threaded, as in `3.13t`)
//! and by `+BUILD`, the python-build-standalone release (`3.12.1+20260101`,
//! `3.13.1+freethreaded+20260101`): what [`label`] prints for a runtime parses back as a request
//! for exactly it.
//! Ranges are PEP 440 version specifiers, parsed and matched by `pep440_rs` (as uv's are);
//! the rest of the grammar (prefixes, variants, keys) is pyswap's own.

use std::cmp::Ordering;
use std::fmt;

use pep440_rs::{PrereleaseKind, VersionSpecifiers};
use semver::{Prerelease, Version};

/// Why a version or request string was refused.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("invalid version request `{request}`: {reason}")]
    Invalid { request: String, reason: String },
}

crate::ground::exit::register!(RequestError);
impl crate::ground::exit::Reason for RequestError {
    fn refuses_request(&self) -> bool {
        true
    }

    fn status(&self) -> crate::ground::exit::ExitStatus {
        crate::ground::exit::ExitStatus::Failure
    }
}

impl RequestError {
    fn invalid(request: &str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            request: request.to_owned(),
            reason: reason.into(),
        }
    }
}

/// A `CPython` version such as `3.12.4` or `3.15.0rc1`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct PythonVersion(Version);

impl PythonVersion {
    /// Builds a version from catalogue fields; `pre` is `""` or `a1`, `b2`, `rc1`.
    pub(crate) fn from_parts(major: u64, minor: u64, patch: u64, pre: &str) -> Option<Self> {
        let mut v = Version::new(major, minor, patch);
        if !pre.is_empty() {
            let (kind, number) = split_pre(pre)?;
            v.pre = Prerelease::new(&format!("{kind}.{number}")).ok()?;
        }
        Some(Self(v))
    }

    /// Parses `3.12.4` or `3.15.0rc1` (all three components required).
    pub(crate) fn parse(s: &str) -> Option<Self> {
        let p = Partial::parse(s)?;
        match (p.minor, p.patch) {
            (Some(minor), Some(patch)) => {
                Self::from_parts(p.major, minor, patch, p.pre.as_deref().unwrap_or(""))
            }
            _ => None,
        }
    }

    pub(crate) fn major(&self) -> u64 {
        self.0.major
    }
    pub(crate) fn minor(&self) -> u64 {
        self.0.minor
    }
    pub(crate) fn patch(&self) -> u64 {
        self.0.patch
    }
    pub(crate) fn is_prerelease(&self) -> bool {
        !self.0.pre.is_empty()
    }
    /// The same version in PEP 440's terms (for specifiers).
    pub(crate) fn pep440(&self) -> pep440_rs::Version {
        let pre = split_pre(&self.0.pre.as_str().replace('.', "")).map(|(kind, number)| {
            let kind = match kind {
                "a" => PrereleaseKind::Alpha,
                "b" => PrereleaseKind::Beta,
                _ => PrereleaseKind::Rc,
            };
            pep440_rs::Prerelease { kind, number }
        });
        pep440_rs::Version::new([self.0.major, self.0.minor, self.0.patch]).with_pre(pre)
    }

    /// The release triple without any prerelease tag.
    pub(crate) fn release(&self) -> (u64, u64, u64) {
        (self.0.major, self.0.minor, self.0.patch)
    }
}

impl fmt::Display for PythonVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0.major, self.0.minor, self.0.patch)?;
        if !self.0.pre.is_empty() {
            f.write_str(&self.0.pre.as_str().replace('.', ""))?;
        }
        Ok(())
    }
}

/// `rc1` -> (`rc`, 1). Only Python's `a`, `b` and `rc` tags are prereleases.
fn split_pre(pre: &str) -> Option<(&'static str, u64)> {
    for kind in ["rc", "a", "b"] {
        if let Some(n) = pre.strip_prefix(kind)
            && !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit())
        {
            return Some((kind, n.parse().ok()?));
        }
    }
    None
}

/// A possibly partial version as written in a request: `3`, `3.12`, `3.12.4`, `3.15.0rc1`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Partial {
    major: u64,
    minor: Option<u64>,
    patch: Option<u64>,
    pre: Option<String>,
}

impl Partial {
    fn parse(s: &str) -> Option<Self> {
        let (numbers, pre) = match s.find(|c: char| c.is_ascii_alphabetic()) {
            Some(i) => (&s[..i], Some(&s[i..])),
            None => (s, None),
        };
        let mut parts = numbers.split('.');
        let num = |p: Option<&str>| -> Option<Option<u64>> {
            match p {
                None => Some(None),
                Some(p)
                    if !p.is_empty() && p.len() <= 6 && p.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    p.parse().ok().map(Some)
                }
                Some(_) => None,
            }
        };
        let major = num(parts.next())??;
        let minor = num(parts.next())?;
        let patch = num(parts.next())?;
        if parts.next().is_some() || (minor.is_none() && patch.is_some()) {
            return None;
        }
        if let Some(pre) = pre {
            // A prerelease tag needs the full release it belongs to.
            if patch.is_none() || split_pre(pre).is_none() {
                return None;
            }
        }
        Some(Self {
            major,
            minor,
            patch,
            pre: pre.map(str::to_owned),
        })
    }

    /// Pads missing components with zeros, as PEP 440 does for comparisons.
    fn padded(&self) -> PythonVersion {
        PythonVersion::from_parts(
            self.major,
            self.minor.unwrap_or(0),
            self.patch.unwrap_or(0),
            self.pre.as_deref().unwrap_or(""),
        )
        .unwrap_or_else(|| PythonVersion(Version::new(self.major, 0, 0)))
    }

    /// True when `v` starts with the components given (`3.12` matches every `3.12.x`).
    fn prefix_matches(&self, v: &PythonVersion) -> bool {
        if v.major() != self.major
            || self.minor.is_some_and(|m| m != v.minor())
            || self.patch.is_some_and(|p| p != v.patch())
        {
            return false;
        }
        match &self.pre {
            Some(_) => *v == self.padded(),
            None => true,
        }
    }
}

/// The build flavour asked for; matches the catalogue's `variant` field.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Variant {
    #[default]
    Default,
    Freethreaded,
    Debug,
    FreethreadedDebug,
}

/// How builds of one version rank: by their number (`20260301` above `20260101`), then as
/// text; no build ranks lowest. One ranking for resolve, `list` and `find`.
pub(crate) fn build_rank(build: Option<&str>) -> (u64, &str) {
    let b = build.unwrap_or("");
    (b.parse().unwrap_or(0), b)
}

impl Variant {
    /// Parses the catalogue's `variant` field (`null` is the default build).
    pub(crate) fn from_catalogue(s: Option<&str>) -> Option<Self> {
        match s {
            None => Some(Self::Default),
            Some("freethreaded") => Some(Self::Freethreaded),
            Some("debug") => Some(Self::Debug),
            Some("freethreaded+debug") => Some(Self::FreethreadedDebug),
            Some(_) => None,
        }
    }

    /// Parses what [`Variant::name`] wrote into an entry row (`""` is the default build).
    pub(crate) fn from_row(s: &str) -> Option<Self> {
        Self::from_catalogue(Some(s).filter(|v| !v.is_empty()))
    }

    /// As an entry row records it: `""`, `freethreaded`, `debug`, `freethreaded+debug`.
    pub(crate) fn name(self) -> &'static str {
        self.key_suffix().trim_start_matches('+')
    }

    /// The suffix used in catalogue keys: `""`, `+freethreaded`, `+debug`, `+freethreaded+debug`.
    pub(crate) fn key_suffix(self) -> &'static str {
        match self {
            Self::Default => "",
            Self::Freethreaded => "+freethreaded",
            Self::Debug => "+debug",
            Self::FreethreadedDebug => "+freethreaded+debug",
        }
    }
}

/// What a request asks for, before the platform and catalogue are known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Spec {
    /// `3`, `3.12`, `3.12.4`, `3.15.0rc1`.
    Prefix(Partial),
    /// `>=3.10,<3.12`: PEP 440 specifiers, every one must hold.
    Range(VersionSpecifiers),
    /// A full catalogue key such as `cpython-3.12.4-linux-x86_64-gnu`.
    Key(String),
}

/// A parsed version request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    raw: String,
    spec: Spec,
    variant: Variant,
    /// `+20260101`: only this python-build-standalone build.
    build: Option<String>,
}

impl Request {
    pub fn parse(raw: &str) -> Result<Self, RequestError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(RequestError::invalid(raw, "it is empty"));
        }
        if s.len() > 200 {
            return Err(RequestError::invalid(
                &s[..40],
                "it is longer than 200 characters",
            ));
        }
        let s = without_implementation(raw, s)?;
        if s.starts_with(|c: char| c.is_ascii_alphabetic()) && s.contains('-') {
            return Self::from_key(raw, s);
        }
        let mut parts = s.split('+');
        let mut head = parts.next().unwrap_or_default().trim();
        let (mut freethreaded, debug, build) = suffixes(raw, parts)?;
        if let Some(h) = head.strip_suffix('t')
            && h.ends_with(|c: char| c.is_ascii_digit())
            && !freethreaded
        {
            freethreaded = true;
            head = h;
        }
        let variant = match (freethreaded, debug) {
            (false, false) => Variant::Default,
            (true, false) => Variant::Freethreaded,
            (false, true) => Variant::Debug,
            (true, true) => Variant::FreethreadedDebug,
        };
        Ok(Self {
            raw: raw.trim().to_owned(),
            spec: spec(raw, head)?,
            variant,
            build,
        })
    }

    /// A catalogue key, perhaps printed with its build (`cpython-3.12.4-linux-x86_64-gnu+20260101`).
    fn from_key(raw: &str, s: &str) -> Result<Self, RequestError> {
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-._".contains(&b))
        {
            return Err(RequestError::invalid(
                raw,
                "a catalogue key has only letters, digits and `+-._`",
            ));
        }
        let (key, build) = match s.rsplit_once('+') {
            Some((key, b)) if is_build(b) => (key, Some(b.to_owned())),
            _ => (s, None),
        };
        Ok(Self {
            raw: raw.trim().to_owned(),
            spec: Spec::Key(key.to_owned()),
            variant: Variant::Default,
            build,
        })
    }

    pub(crate) fn raw(&self) -> &str {
        &self.raw
    }
    pub(crate) fn spec(&self) -> &Spec {
        &self.spec
    }
    pub(crate) fn variant(&self) -> Variant {
        self.variant
    }
    /// The python-build-standalone build asked for (`20260101`), if one was.
    pub(crate) fn build(&self) -> Option<&str> {
        self.build.as_deref()
    }

    /// Whether a runtime of `build` can satisfy the request: any, unless it names one.
    pub(crate) fn admits_build(&self, build: Option<&str>) -> bool {
        self.build.is_none() || self.build.as_deref() == build
    }

    /// The full catalogue key, when the request is one.
    pub(crate) fn key(&self) -> Option<&str> {
        match &self.spec {
            Spec::Key(k) => Some(k),
            _ => None,
        }
    }

    /// Does `v` satisfy the version part of the request (ignoring prerelease policy)?
    pub(crate) fn matches(&self, v: &PythonVersion) -> bool {
        match &self.spec {
            Spec::Prefix(p) => p.prefix_matches(v),
            Spec::Range(specifiers) => specifiers.contains(&v.pep440()),
            Spec::Key(_) => false,
        }
    }

    /// A request that names a prerelease itself admits prereleases without `--pre`.
    pub(crate) fn names_prerelease(&self) -> bool {
        match &self.spec {
            Spec::Prefix(p) => p.pre.is_some(),
            Spec::Range(specifiers) => specifiers.iter().any(|s| s.version().any_prerelease()),
            Spec::Key(_) => true,
        }
    }

    /// The version this request is "about", used to rank the nearest alternatives.
    /// The major and minor version of a request typed as exactly those two (`3.1`), which may
    /// be the start of a longer minor (`3.10`-`3.14`).
    pub(crate) fn typed_minor(&self) -> Option<(u64, u64)> {
        match &self.spec {
            Spec::Prefix(p) if p.patch.is_none() && p.pre.is_none() => Some((p.major, p.minor?)),
            _ => None,
        }
    }

    pub(crate) fn anchor(&self) -> Option<PythonVersion> {
        match &self.spec {
            Spec::Prefix(p) => Some(p.padded()),
            Spec::Range(specifiers) => specifiers.first().and_then(|s| {
                let v = s.version();
                let r = v.release();
                let pre = v.pre().map(|p| p.to_string()).unwrap_or_default();
                PythonVersion::from_parts(
                    r.first().copied().unwrap_or(0),
                    r.get(1).copied().unwrap_or(0),
                    r.get(2).copied().unwrap_or(0),
                    &pre,
                )
            }),
            Spec::Key(_) => None,
        }
    }
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// The minor tag of a runtime: `3.11`, `3.13t` (free-threaded), `3.13d` (debug), `3.13td`.
pub(crate) fn minor_tag(version: &str, variant: &str) -> Option<String> {
    let mut parts = version.split('.');
    let major: u32 = parts.next()?.parse().ok()?;
    let minor: String = parts
        .next()?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    if minor.is_empty() {
        return None;
    }
    let flags = match variant {
        "" => "",
        "freethreaded" => "t",
        "debug" => "d",
        "freethreaded+debug" => "td",
        _ => return None,
    };
    Some(format!("{major}.{minor}{flags}"))
}

/// `3.11.7+20240107`, `3.13.1+freethreaded+20240107`: a version, its variant (`variant` as an
/// entry row records it, `""` for the default build) and the python-build-standalone build it
/// comes from, as human output shows a runtime (two builds of one version are different
/// runtimes). It parses back as a [`Request`] for exactly that runtime.
pub(crate) fn label(version: &str, variant: &str, build: Option<&str>) -> String {
    let mut s = version.to_owned();
    for part in [Some(variant), build] {
        if let Some(p) = part.filter(|p| !p.is_empty()) {
            s.push('+');
            s.push_str(p);
        }
    }
    s
}

/// `s` without uv's spellings of a `CPython` request: `cpython@3.12`, `cpython-3.12`,
/// `cpython3.12`, `python3.12` (the name of the interpreter it asks for).
fn without_implementation<'a>(raw: &str, s: &'a str) -> Result<&'a str, RequestError> {
    let lower = s.to_ascii_lowercase();
    if let Some(i) = lower.find('@') {
        if &lower[..i] != "cpython" {
            return Err(RequestError::invalid(
                raw,
                format!("pyswap installs CPython only, not `{}`", &s[..i]),
            ));
        }
        return Ok(&s[i + 1..]);
    }
    let rest = lower
        .strip_prefix("cpython-")
        .filter(|r| !r.contains('-'))
        .or_else(|| {
            lower
                .strip_prefix("cpython")
                .or_else(|| lower.strip_prefix("python"))
                .filter(|r| r.starts_with(|c: char| c.is_ascii_digit()))
        });
    Ok(rest.map_or(s, |rest| &s[s.len() - rest.len()..]))
}

/// The version part of a request: a range (`>=3.10,<3.12`) or a version prefix (`3.12`).
fn spec(raw: &str, head: &str) -> Result<Spec, RequestError> {
    if head.contains(['<', '>', '=', '!', '~', ',']) {
        if !head.contains(['<', '>', '=', '!', '~']) {
            return Err(RequestError::invalid(
                raw,
                "`,` separates the clauses of a range such as >=3.10,<3.12; a version is written with dots: 3.12",
            ));
        }
        // pep440_rs's own words name its parser's states: say what a range is instead.
        let specifiers = head.parse::<VersionSpecifiers>().map_err(|_| {
            RequestError::invalid(
                raw,
                "not a range of versions: clauses such as >=3.10,<3.12, each an operator (>=, <=, >, <, ==, !=, ~=) and a version, separated by `,`",
            )
        })?;
        if specifiers.is_empty() {
            return Err(RequestError::invalid(raw, "the range is empty"));
        }
        return Ok(Spec::Range(specifiers));
    }
    let partial = Partial::parse(head).ok_or_else(|| {
        RequestError::invalid(raw, "expected a version like 3, 3.12, 3.12.4 or 3.15.0rc1, a range like >=3.10,<3.12, or a catalogue key")
    })?;
    Ok(Spec::Prefix(partial))
}

/// The `+` words after a version: free-threaded, debug, and the build, each at most once.
fn suffixes<'a>(
    raw: &str,
    words: impl Iterator<Item = &'a str>,
) -> Result<(bool, bool, Option<String>), RequestError> {
    let (mut freethreaded, mut debug, mut build) = (false, false, None);
    for word in words {
        match word.trim() {
            "freethreaded" if !freethreaded => freethreaded = true,
            "debug" if !debug => debug = true,
            b if is_build(b) && build.is_none() => build = Some(b.to_owned()),
            other => {
                return Err(RequestError::invalid(
                    raw,
                    format!(
                        "unknown variant `+{other}` (expected +freethreaded, +debug or a build such as +20260101)"
                    ),
                ));
            }
        }
    }
    Ok((freethreaded, debug, build))
}

/// A build tag as python-build-standalone writes them: its release date, `20260101`.
fn is_build(s: &str) -> bool {
    (1..=14).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// Distance used to rank "nearest versions" in error messages: same minor first, then by minor.
pub(crate) fn distance(a: &PythonVersion, b: &PythonVersion) -> (u64, u64, u64, Ordering) {
    (
        a.major().abs_diff(b.major()),
        a.minor().abs_diff(b.minor()),
        a.patch().abs_diff(b.patch()),
        b.cmp(a),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn minor_tags_name_the_minor_and_the_variant() {
        use super::minor_tag;
        assert_eq!(minor_tag("3.11.7", "").as_deref(), Some("3.11"));
        assert_eq!(
            minor_tag("3.13.1", "freethreaded").as_deref(),
            Some("3.13t")
        );
        assert_eq!(minor_tag("3.15.0rc1", "debug").as_deref(), Some("3.15d"));
        assert_eq!(minor_tag("3.13.1", "pgo").as_deref(), None);
    }

    use super::*;

    fn v(s: &str) -> PythonVersion {
        PythonVersion::parse(s).unwrap()
    }

    #[test]
    fn prerelease_orders_below_release() {
        assert!(v("3.15.0a1") < v("3.15.0b1"));
        assert!(v("3.15.0b4") < v("3.15.0rc1"));
        assert!(v("3.15.0rc2") < v("3.15.0rc10"));
        assert!(v("3.15.0rc1") < v("3.15.0"));
        assert!(v("3.14.9") < v("3.15.0a1"));
        assert_eq!(v("3.15.0rc1").to_string(), "3.15.0rc1");
    }

    #[test]
    fn prefix_requests() {
        let r = Request::parse("3.12").unwrap();
        assert!(r.matches(&v("3.12.0")) && r.matches(&v("3.12.11")));
        assert!(!r.matches(&v("3.13.0")) && !r.matches(&v("3.1.12")));
        assert!(Request::parse("3").unwrap().matches(&v("3.9.1")));
        assert!(Request::parse("3.12.4").unwrap().matches(&v("3.12.4")));
        assert!(!Request::parse("3.12.4").unwrap().matches(&v("3.12.5")));
        let pre = Request::parse("3.15.0rc1").unwrap();
        assert!(
            pre.names_prerelease() && pre.matches(&v("3.15.0rc1")) && !pre.matches(&v("3.15.0"))
        );
    }

    #[test]
    fn range_requests_follow_pep440() {
        let r = Request::parse(">=3.10,<3.12").unwrap();
        assert!(r.matches(&v("3.10.0")) && r.matches(&v("3.11.9")));
        assert!(!r.matches(&v("3.12.0")) && !r.matches(&v("3.9.20")));
        assert!(
            !r.matches(&v("3.12.0rc1")),
            "<3.12 excludes 3.12's own prereleases"
        );
        assert!(Request::parse("==3.11.*").unwrap().matches(&v("3.11.4")));
        assert!(!Request::parse("!=3.11.*").unwrap().matches(&v("3.11.4")));
        assert!(Request::parse("~=3.10").unwrap().matches(&v("3.13.1")));
        assert!(!Request::parse("~=3.10.2").unwrap().matches(&v("3.11.0")));
        assert!(Request::parse(">3.10").unwrap().matches(&v("3.10.1")));
    }

    #[test]
    fn uv_spellings_are_requests_too() {
        for r in [
            "cpython@3.12",
            "cpython-3.12",
            "cpython3.12",
            "CPython@3.12",
            "python3.12",
            "3.12",
        ] {
            let req = Request::parse(r).unwrap();
            assert!(req.matches(&v("3.12.4")) && req.key().is_none(), "{r}");
        }
        assert!(Request::parse("python3").unwrap().matches(&v("3.12.4")));
        let t = Request::parse("cpython@3.13t").unwrap();
        assert_eq!(t.variant(), Variant::Freethreaded);
        assert!(
            Request::parse("cpython@>=3.11")
                .unwrap()
                .matches(&v("3.12.0"))
        );
        let key = Request::parse("cpython-3.12.4-linux-x86_64-gnu").unwrap();
        assert_eq!(key.key(), Some("cpython-3.12.4-linux-x86_64-gnu"));
        let err = Request::parse("pypy@3.10").unwrap_err().to_string();
        assert!(err.contains("CPython only"), "{err}");
    }

    #[test]
    fn variants_and_keys() {
        assert_eq!(
            Request::parse("3.13+freethreaded").unwrap().variant(),
            Variant::Freethreaded
        );
        assert_eq!(
            Request::parse("3.13t").unwrap().variant(),
            Variant::Freethreaded
        );
        assert_eq!(
            Request::parse("3.13+freethreaded+debug").unwrap().variant(),
            Variant::FreethreadedDebug
        );
        assert_eq!(
            Request::parse("cpython-3.12.4-linux-x86_64-gnu")
                .unwrap()
                .key(),
            Some("cpython-3.12.4-linux-x86_64-gnu")
        );
    }

    #[test]
    fn printed_runtimes_parse_back() {
        // Issue 27: what pyswap prints for a runtime is a request for exactly it.
        for (variant, name) in [
            (Variant::Default, ""),
            (Variant::Freethreaded, "freethreaded"),
            (Variant::Debug, "debug"),
            (Variant::FreethreadedDebug, "freethreaded+debug"),
        ] {
            let printed = label("3.13.1", name, Some("20260101"));
            let r = Request::parse(&printed).unwrap();
            assert_eq!(r.variant(), variant, "{printed}");
            assert_eq!(r.build(), Some("20260101"), "{printed}");
            assert!(
                r.matches(&v("3.13.1")) && !r.matches(&v("3.13.2")),
                "{printed}"
            );
            assert!(r.admits_build(Some("20260101")) && !r.admits_build(Some("20260201")));
        }
        assert_eq!(label("3.12.1", "", None), "3.12.1");
        let key = Request::parse("cpython-3.12.4-linux-x86_64-gnu+20260101").unwrap();
        assert_eq!(key.key(), Some("cpython-3.12.4-linux-x86_64-gnu"));
        assert_eq!(key.build(), Some("20260101"));
        let key = Request::parse("cpython-3.13.1+freethreaded-linux-x86_64-gnu").unwrap();
        assert_eq!(
            key.key(),
            Some("cpython-3.13.1+freethreaded-linux-x86_64-gnu")
        );
        assert_eq!(key.build(), None);
        assert!(Request::parse("3.12+20260101+20260201").is_err());
    }

    #[test]
    fn bad_requests_say_why() {
        for bad in [
            "",
            "3.x",
            "three",
            "3.12+fast",
            ">>3",
            "3..1",
            "3.12rc1",
            "=<3",
            "~=3",
            ">=3.*",
            "1.2.3.4",
        ] {
            let err = Request::parse(bad).unwrap_err().to_string();
            assert!(err.starts_with("invalid version request"), "{bad}: {err}");
            assert!(!err.contains('\n'), "one line: {err}");
            // Issue 37: never the range parser's own words.
            assert!(!err.contains("Failed to parse"), "{bad}: {err}");
        }
        let comma = Request::parse("3,12").unwrap_err().to_string();
        assert!(
            comma.contains("a version is written with dots: 3.12"),
            "{comma}"
        );
    }
}

//! The `download-metadata.json` format (as uv reads it): each entry checked on its own, a bad
//! one skipped with a warning, and the `CPython` subset the binary embeds.

use std::fmt;

use serde::Deserialize;
use serde::de::{MapAccess, Visitor};
use serde_json::value::RawValue;

use super::{CatalogueError, Entry};
use crate::ground::version::{PythonVersion, Variant};

#[derive(Deserialize)]
struct RawArch<'a> {
    #[serde(borrow)]
    family: &'a str,
    #[serde(borrow)]
    variant: Option<&'a str>,
}

#[derive(Deserialize)]
struct RawEntry<'a> {
    #[serde(borrow)]
    name: &'a str,
    #[serde(borrow)]
    arch: RawArch<'a>,
    #[serde(borrow)]
    os: &'a str,
    #[serde(borrow)]
    libc: &'a str,
    major: u64,
    minor: u64,
    patch: u64,
    #[serde(borrow)]
    prerelease: &'a str,
    url: String,
    #[serde(borrow)]
    sha256: Option<&'a str>,
    #[serde(borrow)]
    variant: Option<&'a str>,
    build: Option<String>,
    size: Option<u64>,
}

/// The top-level object, in file order, with each entry still raw.
pub(super) struct RawEntries<'a>(pub(super) Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for RawEntries<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = RawEntries<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object mapping keys to catalogue entries")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some(kv) = map.next_entry::<String, &'de RawValue>()? {
                    out.push(kv);
                }
                Ok(RawEntries(out))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Checks one entry. A relative `url` (plain path segments, as `pyswap mirror --relative-urls`
/// writes) is resolved against `base`, the catalogue's own URL; without a base (the embedded
/// catalogue) it is refused.
pub(super) fn check_entry(
    key: &str,
    raw: &RawValue,
    base: Option<&url::Url>,
) -> Result<Entry, String> {
    let mut e: RawEntry =
        serde_json::from_str(raw.get()).map_err(|err| format!("malformed entry: {err}"))?;
    if !e.url.contains("://")
        && let Some(base) = base
    {
        if !super::mirror_url::plain_path(&e.url) {
            return Err(format!(
                "relative url `{}` is not plain path segments below the catalogue's directory",
                e.url
            ));
        }
        e.url = base
            .join(&e.url)
            .map_err(|err| format!("relative url `{}`: {err}", e.url))?
            .to_string();
    }
    if !is_token(e.name)
        || !is_token(e.os)
        || !is_token(e.libc)
        || !is_token(e.arch.family)
        || !e.arch.variant.is_none_or(is_token)
    {
        return Err("name, os, libc and arch must be lowercase letters, digits and `_`".into());
    }
    let version = PythonVersion::from_parts(e.major, e.minor, e.patch, e.prerelease)
        .ok_or_else(|| format!("prerelease `{}` is not a1, b2, rc1, …", e.prerelease))?;
    let variant = Variant::from_catalogue(e.variant)
        .ok_or_else(|| format!("unknown variant `{}`", e.variant.unwrap_or_default()))?;
    let scheme = e.url.split_once("://").map(|(s, _)| s);
    if !matches!(scheme, Some("http" | "https" | "file")) {
        return Err(format!("url `{}` is not http, https or file", e.url));
    }
    if e.url.chars().any(char::is_whitespace) {
        return Err("url contains white space".into());
    }
    let sha256 = match e.sha256 {
        None => None,
        Some(d) if d.len() == 64 && d.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Some(d.to_ascii_lowercase())
        }
        Some(d) => return Err(format!("sha256 `{d}` is not 64 hex digits")),
    };
    if let Some(b) = &e.build
        && (b.is_empty()
            || b.len() > 32
            || !b
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'_'))
    {
        return Err(format!("build `{b}` is not letters, digits, `.` and `_`"));
    }
    let arch = match e.arch.variant {
        Some(level) => format!("{}_{level}", e.arch.family),
        None => e.arch.family.to_owned(),
    };
    let expected = format!(
        "{}-{version}{}-{}-{arch}-{}",
        e.name,
        variant.key_suffix(),
        e.os,
        e.libc
    );
    if key != expected {
        return Err(format!(
            "key does not agree with its fields (they say `{expected}`)"
        ));
    }
    Ok(Entry {
        key: key.to_owned(),
        implementation: e.name.to_owned(),
        version,
        variant,
        os: e.os.to_owned(),
        arch,
        libc: e.libc.to_owned(),
        url: e.url,
        sha256,
        build: e.build,
        size: e.size,
    })
}

/// The `CPython` entries of an upstream catalogue as compact JSON: what [`super::EMBEDDED`] holds.
pub fn cpython_subset(upstream: &str) -> Result<String, CatalogueError> {
    let source_name = "upstream catalogue".to_owned();
    let raw: RawEntries =
        serde_json::from_str(upstream).map_err(|e| CatalogueError::NotCatalogue {
            source_name: source_name.clone(),
            reason: e.to_string(),
        })?;
    let mut out = String::from("{");
    for (key, value) in raw.0 {
        if check_entry(&key, value, None).is_ok_and(|e| e.implementation == "cpython") {
            let compact: serde_json::Value =
                serde_json::from_str(value.get()).map_err(|e| CatalogueError::NotCatalogue {
                    source_name: source_name.clone(),
                    reason: e.to_string(),
                })?;
            if out.len() > 1 {
                out.push(',');
            }
            out.push_str(&serde_json::to_string(&key).unwrap_or_default());
            out.push(':');
            out.push_str(&compact.to_string());
        }
    }
    out.push_str("}\n");
    Ok(out)
}

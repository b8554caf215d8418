//! The tar extension headers, read strictly (by hand on purpose: see below).
//!
//! The tar crate reads headers for us in raw mode (checksums, octal and base-256 numbers), but
//! pyswap applies PAX and GNU extension headers itself, because lenient readers disagree about
//! them and every such disagreement is an archive that looks different to the tool that checked
//! it and to the one that unpacks it (CVE-2025-62518, RUSTSEC-2026-0068). The rules:
//!
//! - at most one PAX header (`x`) and at most one each of GNU long name (`L`) and long link (`K`)
//!   describe a member, and never PAX together with GNU: which name wins would be a guess;
//! - a PAX record is `<decimal length> <key>=<value>\n`, the length counting the whole record;
//!   anything else (a missing newline, a length past the end, a key twice) is corrupt;
//! - a PAX `size` must be decimal and equal the header's own size field, so both kinds of reader
//!   find the next header at the same offset;
//! - `GNU.sparse.*` means a sparse file and is refused; `*.xattr.*`, ownership and times are
//!   ignored (never applied); a global header (`g`) may not set `path`, `linkpath` or `size`;
//! - extension headers are at most 64 KiB, and one must be followed by the member it describes.

use super::ArchiveError;

/// Largest extension header read into memory.
pub(super) const MAX_EXTENSION: u64 = 64 << 10;

/// Extension headers seen since the last member, waiting for the member they describe.
#[derive(Default, Debug)]
pub(super) struct Pending {
    /// The first extension header's own name, to name it if no member follows.
    pub(crate) first: Option<String>,
    pub(crate) pax: Option<Pax>,
    pub(crate) long_name: Option<Vec<u8>>,
    pub(crate) long_link: Option<Vec<u8>>,
}

/// What a PAX header says about the next member.
#[derive(Default, Debug, PartialEq, Eq)]
pub(super) struct Pax {
    pub(crate) path: Option<Vec<u8>>,
    pub(crate) linkpath: Option<Vec<u8>>,
    pub(crate) size: Option<u64>,
    pub(crate) sparse: bool,
    /// Extended attributes named (never applied).
    pub(crate) xattrs: usize,
}

/// The kinds of extension header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Extension {
    Pax,
    GlobalPax,
    LongName,
    LongLink,
}

impl Extension {
    pub(super) fn of(kind: tar::EntryType) -> Option<Self> {
        if kind.is_pax_local_extensions() {
            Some(Self::Pax)
        } else if kind.is_pax_global_extensions() {
            Some(Self::GlobalPax)
        } else if kind.is_gnu_longname() {
            Some(Self::LongName)
        } else if kind.is_gnu_longlink() {
            Some(Self::LongLink)
        } else {
            None
        }
    }
}

fn corrupt(header: &str, why: impl std::fmt::Display) -> ArchiveError {
    ArchiveError::Corrupt(format!("extension header `{header}`: {why}"))
}

impl Pending {
    pub(super) fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    /// Takes in one extension header (`header` is its own name, `data` its contents).
    pub(super) fn add(
        &mut self,
        ext: Extension,
        header: &str,
        data: &[u8],
    ) -> Result<(), ArchiveError> {
        let gnu = self.long_name.is_some() || self.long_link.is_some();
        match ext {
            Extension::GlobalPax => {
                if !self.is_empty() {
                    return Err(corrupt(
                        header,
                        "a global PAX header between extension headers",
                    ));
                }
                let pax = parse_pax(data).map_err(|why| corrupt(header, why))?;
                if pax.path.is_some() || pax.linkpath.is_some() || pax.size.is_some() || pax.sparse
                {
                    return Err(corrupt(
                        header,
                        "a global PAX header may not set path, linkpath, size or sparse maps",
                    ));
                }
                // Times, owners, comments: nothing pyswap applies.
                return Ok(());
            }
            Extension::Pax if self.pax.is_some() => {
                return Err(corrupt(header, "two PAX headers describe the same member"));
            }
            Extension::Pax if gnu => {
                return Err(corrupt(
                    header,
                    "a PAX header after a GNU long-name header (which name applies is ambiguous)",
                ));
            }
            Extension::LongName | Extension::LongLink if self.pax.is_some() => {
                return Err(corrupt(
                    header,
                    "a GNU long-name header after a PAX header (which name applies is ambiguous)",
                ));
            }
            Extension::LongName if self.long_name.is_some() => {
                return Err(corrupt(
                    header,
                    "two GNU long names describe the same member",
                ));
            }
            Extension::LongLink if self.long_link.is_some() => {
                return Err(corrupt(
                    header,
                    "two GNU long links describe the same member",
                ));
            }
            Extension::Pax => self.pax = Some(parse_pax(data).map_err(|why| corrupt(header, why))?),
            Extension::LongName => self.long_name = Some(gnu_name(data, header)?),
            Extension::LongLink => self.long_link = Some(gnu_name(data, header)?),
        }
        self.first.get_or_insert_with(|| header.to_owned());
        Ok(())
    }

    /// The member's effective name and link target, given its own header's fields.
    pub(super) fn name(&self, header: Vec<u8>) -> Vec<u8> {
        let pax = self.pax.as_ref().and_then(|p| p.path.clone());
        pax.or_else(|| self.long_name.clone()).unwrap_or(header)
    }

    pub(super) fn link(&self, header: Option<Vec<u8>>) -> Option<Vec<u8>> {
        let pax = self.pax.as_ref().and_then(|p| p.linkpath.clone());
        pax.or_else(|| self.long_link.clone()).or(header)
    }
}

/// A GNU long name or link: the bytes up to a terminating NUL.
fn gnu_name(data: &[u8], header: &str) -> Result<Vec<u8>, ArchiveError> {
    let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    if data[end..].iter().any(|&b| b != 0) {
        return Err(corrupt(header, "the long name contains a NUL byte"));
    }
    if end == 0 {
        return Err(corrupt(header, "the long name is empty"));
    }
    Ok(data[..end].to_vec())
}

/// Parses the records of a PAX header strictly.
pub(super) fn parse_pax(data: &[u8]) -> Result<Pax, String> {
    let mut pax = Pax::default();
    let mut seen: Vec<&[u8]> = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || digits > 9 || rest.get(digits) != Some(&b' ') {
            return Err(format!(
                "record `{}` does not start with a decimal length and a space",
                shown(&rest[..rest.len().min(24)])
            ));
        }
        let len: usize = std::str::from_utf8(&rest[..digits])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or("record length is not a number")?;
        if len > rest.len() {
            return Err(format!(
                "a record of {len} bytes runs past the end of the header ({} left): unterminated",
                rest.len()
            ));
        }
        if len < digits + 3 || rest[len - 1] != b'\n' {
            return Err(format!(
                "record `{}` is not terminated by a newline where its length says",
                shown(&rest[..len.min(40)])
            ));
        }
        let record = &rest[digits + 1..len - 1];
        rest = &rest[len..];
        let eq = record
            .iter()
            .position(|&b| b == b'=')
            .filter(|&i| i > 0)
            .ok_or_else(|| format!("record `{}` has no `key=`", shown(record)))?;
        let (key, value) = (&record[..eq], &record[eq + 1..]);
        if seen.contains(&key) {
            return Err(format!("key `{}` appears twice", shown(key)));
        }
        seen.push(key);
        match key {
            b"path" | b"linkpath" if value.is_empty() => {
                return Err(format!("`{}` is empty", shown(key)));
            }
            b"path" => pax.path = Some(value.to_vec()),
            b"linkpath" => pax.linkpath = Some(value.to_vec()),
            b"size" => {
                let size = decimal(value)
                    .ok_or_else(|| format!("size `{}` is not a decimal number", shown(value)))?;
                pax.size = Some(size);
            }
            _ if key.starts_with(b"GNU.sparse.") => pax.sparse = true,
            _ if key.starts_with(b"SCHILY.xattr.") || key.starts_with(b"LIBARCHIVE.xattr.") => {
                pax.xattrs += 1;
            }
            // mtime, atime, ctime, uid, gid, uname, gname, comment, charset, hdrcharset and
            // unknown keys (POSIX lets a reader ignore them): nothing pyswap applies.
            _ => {}
        }
    }
    Ok(pax)
}

fn decimal(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

fn shown(b: &[u8]) -> String {
    String::from_utf8_lossy(b).escape_debug().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(kv: &str) -> String {
        // The length counts itself: find the fixed point.
        let mut len = kv.len() + 3;
        while format!("{len} {kv}\n").len() != len {
            len = format!("{len} {kv}\n").len();
        }
        format!("{len} {kv}\n")
    }

    #[test]
    fn reads_well_formed_records() {
        let data = format!(
            "{}{}{}{}{}",
            rec("path=python/bin/x"),
            rec("size=12"),
            rec("mtime=1700000000.5"),
            rec("SCHILY.xattr.user.evil=1"),
            rec("linkpath=a=b")
        );
        let pax = parse_pax(data.as_bytes()).unwrap();
        assert_eq!(pax.path.as_deref(), Some(&b"python/bin/x"[..]));
        assert_eq!(pax.linkpath.as_deref(), Some(&b"a=b"[..]));
        assert_eq!(pax.size, Some(12));
        assert_eq!(pax.xattrs, 1);
        assert!(!pax.sparse);
        assert!(
            parse_pax(rec("GNU.sparse.major=1").as_bytes())
                .unwrap()
                .sparse
        );
    }

    #[test]
    fn refuses_malformed_records() {
        for (data, why) in [
            ("30 path=python/x\n".to_owned(), "unterminated"),
            ("11 path=abcd".to_owned(), "newline"),
            ("x2 path=abc\n".to_owned(), "decimal length"),
            ("  path=abc\n".to_owned(), "decimal length"),
            (rec("size=0x10"), "not a decimal"),
            (rec("size=-1"), "not a decimal"),
            (rec("size= 1"), "not a decimal"),
            (rec("size=99999999999999999999"), "not a decimal"),
            (format!("{}{}", rec("path=a"), rec("path=b")), "twice"),
            (rec("path="), "empty"),
            (rec("novalue"), "key="),
            ("6 a=bc\n".to_owned(), "newline"),
        ] {
            let err = parse_pax(data.as_bytes()).unwrap_err();
            assert!(err.contains(why), "{data:?}: {err}");
        }
    }

    #[test]
    fn extension_sequences() {
        let mut p = Pending::default();
        p.add(Extension::LongName, "././@LongLink", b"python/long\0")
            .unwrap();
        p.add(Extension::LongLink, "././@LongLink", b"target\0")
            .unwrap();
        assert_eq!(p.name(b"python/short".to_vec()), b"python/long");
        assert_eq!(p.link(Some(b"t".to_vec())).unwrap(), b"target");
        let e = p
            .add(Extension::Pax, "pax", rec("path=x").as_bytes())
            .unwrap_err();
        assert!(e.to_string().contains("ambiguous"), "{e}");

        let mut p = Pending::default();
        p.add(Extension::Pax, "pax", rec("path=python/p").as_bytes())
            .unwrap();
        let e = p.add(Extension::LongName, "L", b"python/g\0").unwrap_err();
        assert!(e.to_string().contains("after a PAX header"), "{e}");
        assert!(
            p.add(Extension::Pax, "pax", b"").is_err(),
            "two PAX headers"
        );
        assert_eq!(p.name(b"python/short".to_vec()), b"python/p");

        let e = Pending::default()
            .add(Extension::LongName, "L", b"python/a\0b\0")
            .unwrap_err();
        assert!(e.to_string().contains("NUL"), "{e}");
        let e = Pending::default()
            .add(
                Extension::GlobalPax,
                "g",
                rec("path=python/evil").as_bytes(),
            )
            .unwrap_err();
        assert!(e.to_string().contains("global"), "{e}");
        let mut p = Pending::default();
        p.add(Extension::GlobalPax, "g", rec("comment=hi").as_bytes())
            .unwrap();
        assert!(p.is_empty(), "a harmless global header describes no member");
    }
}

//! The host platform, spelled as python-build-standalone catalogue keys spell it:
//! `<os>-<arch>-<libc>`, e.g. `linux-x86_64-gnu` or `linux-aarch64-musl`.
//!
//! The libc is read from the ELF interpreter of `/bin/sh` (musl's loader is `ld-musl-*`), which
//! tells what the host runs rather than what pyswap itself was linked against.

use std::fmt;
use std::fs;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    #[error("invalid platform `{0}`: expected <os>-<arch>-<libc> such as linux-x86_64-gnu")]
    Invalid(String),
    #[error("unsupported host: pyswap installs python-build-standalone builds for Linux, not {0}")]
    UnsupportedOs(&'static str),
}

crate::ground::exit::register!(PlatformError);
impl crate::ground::exit::Reason for PlatformError {
    fn status(&self) -> crate::ground::exit::ExitStatus {
        crate::ground::exit::ExitStatus::Failure
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Platform {
    pub(crate) os: String,
    /// Architecture family plus optional microarchitecture level: `x86_64`, `x86_64_v3`, `aarch64`.
    pub(crate) arch: String,
    pub libc: String,
}

impl Platform {
    /// Parses `linux-x86_64-gnu`. Each part is lowercase letters, digits and `_`.
    pub fn parse(s: &str) -> Result<Self, PlatformError> {
        let parts: Vec<&str> = s.split('-').collect();
        let ok = |p: &str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        };
        match parts.as_slice() {
            [os, arch, libc] if ok(os) && ok(arch) && ok(libc) => Ok(Self {
                os: (*os).to_owned(),
                arch: (*arch).to_owned(),
                libc: (*libc).to_owned(),
            }),
            _ => Err(PlatformError::Invalid(s.to_owned())),
        }
    }

    /// The platform of the machine pyswap runs on.
    pub(crate) fn detect() -> Result<Self, PlatformError> {
        if std::env::consts::OS != "linux" {
            return Err(PlatformError::UnsupportedOs(std::env::consts::OS));
        }
        let arch = match std::env::consts::ARCH {
            "x86" => "i686",
            "arm" => "armv7",
            "powerpc64" => "powerpc64le",
            other => other,
        };
        Ok(Self {
            os: "linux".into(),
            arch: arch.into(),
            libc: detect_libc(Path::new("/bin/sh")).into(),
        })
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.os, self.arch, self.libc)
    }
}

/// `musl` when the program's ELF interpreter is musl's loader, else `gnu`.
fn detect_libc(program: &Path) -> &'static str {
    match fs::read(program).ok().as_deref().and_then(elf_interpreter) {
        Some(interp) if interp.contains("musl") => "musl",
        None if fs::read_dir("/lib").is_ok_and(|d| {
            d.flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("ld-musl-"))
        }) =>
        {
            "musl"
        }
        _ => "gnu",
    }
}

/// The `PT_INTERP` path of an ELF image (32- or 64-bit, either byte order: `detect` maps i686
/// and armv7 too), read with `goblin`.
fn elf_interpreter(image: &[u8]) -> Option<String> {
    goblin::elf::Elf::parse(image)
        .ok()?
        .interpreter
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_catalogue_spelling() {
        let p = Platform::parse("linux-x86_64_v3-musl").unwrap();
        assert_eq!(
            (p.os.as_str(), p.arch.as_str(), p.libc.as_str()),
            ("linux", "x86_64_v3", "musl")
        );
        assert_eq!(p.to_string(), "linux-x86_64_v3-musl");
        for bad in [
            "linux",
            "linux-x86_64",
            "Linux-x86_64-gnu",
            "linux-x86_64-gnu-x",
            "linux--gnu",
            "linux-../..-gnu",
        ] {
            assert!(Platform::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn detects_this_host() {
        let p = Platform::detect().unwrap();
        assert_eq!(p.os, "linux");
        assert!(p.libc == "gnu" || p.libc == "musl");
        // This machine's /bin/sh is a glibc program.
        let interp = elf_interpreter(&fs::read("/bin/sh").unwrap()).unwrap();
        assert!(
            interp.contains("ld-linux") || interp.contains("ld-musl"),
            "{interp}"
        );
    }

    #[test]
    fn a_32_bit_elf_names_its_interpreter_too() {
        let interp = b"/lib/ld-musl-i386.so.1\0";
        let mut image = Vec::new();
        image.extend_from_slice(b"\x7fELF\x01\x01\x01\0\0\0\0\0\0\0\0\0");
        for (v, n) in [(2u32, 2), (3, 2), (1, 4), (0, 4), (52, 4), (0, 4), (0, 4)] {
            image.extend_from_slice(&v.to_le_bytes()[..n]);
        }
        for v in [52u16, 32, 1, 40, 0, 0] {
            image.extend_from_slice(&v.to_le_bytes());
        }
        let len = interp.len() as u32;
        for v in [3u32, 84, 0, 0, len, len, 4, 1] {
            image.extend_from_slice(&v.to_le_bytes());
        }
        image.extend_from_slice(interp);
        assert_eq!(
            elf_interpreter(&image).as_deref(),
            Some("/lib/ld-musl-i386.so.1")
        );
    }

    #[test]
    fn garbage_is_not_an_elf() {
        assert_eq!(elf_interpreter(b"#!/bin/sh\n"), None);
        assert_eq!(elf_interpreter(b"\x7fELF\x02\x01\0\0"), None);
    }
}

//! The decompressor: gzip or zstd, detected from the magic bytes, one member or frame only,
//! with the decompressed size capped (see `Limits`).

use std::io::{self, BufRead, Read};

use super::{ArchiveError, Limits};

pub(super) const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
pub(super) const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

/// The decompressor, kept as a concrete type so that what follows its stream can be checked.
pub(super) enum Decoder<R: BufRead> {
    Gzip(Box<flate2::bufread::GzDecoder<R>>),
    Zstd(zstd::stream::read::Decoder<'static, R>),
}

impl<R: BufRead> Read for Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let (what, r) = match self {
            Self::Gzip(d) => ("gzip", d.read(buf)),
            Self::Zstd(d) => ("zstd", d.read(buf)),
        };
        r.map_err(|e| {
            let window = e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<zstd::Error>())
                .is_some_and(|z| {
                    z.is(zstd::zstd_safe::zstd_sys::ZSTD_ErrorCode::ZSTD_error_frameParameter_windowTooLarge)
                });
            let hint = if window {
                " (its window is larger than the 128 MiB pyswap allows)"
            } else {
                ""
            };
            io::Error::new(e.kind(), format!("{what} stream: {e}{hint}"))
        })
    }
}

impl<R: BufRead> Decoder<R> {
    /// After the decompressed stream has ended: fails if compressed input follows it (a second
    /// gzip member or zstd frame, or junk). Both are decoded as one member/frame on purpose.
    pub(super) fn check_end(&mut self) -> Result<(), ArchiveError> {
        let (what, input) = match self {
            Self::Gzip(d) => ("gzip member", d.get_mut()),
            Self::Zstd(d) => ("zstd frame", d.get_mut()),
        };
        let rest = input
            .fill_buf()
            .map_err(|e| ArchiveError::Corrupt(format!("reading: {e}")))?;
        if rest.is_empty() {
            Ok(())
        } else {
            Err(ArchiveError::Corrupt(format!(
                "data after the end of the {what} (a second {what} or trailing bytes)"
            )))
        }
    }
}

/// Fails the read once more than `left` decompressed bytes have been produced.
pub(super) struct Capped<R> {
    pub(super) inner: R,
    pub(super) left: u64,
    /// Decompressed bytes so far, and compressed bytes read so far (see [`Counting`]).
    pub(super) out: u64,
    pub(super) read: std::rc::Rc<std::cell::Cell<u64>>,
    pub(super) ratio: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.left = self
            .left
            .checked_sub(n as u64)
            .ok_or_else(|| io::Error::new(io::ErrorKind::FileTooLarge, "decompressed size cap"))?;
        self.out += n as u64;
        let allowed = self
            .read
            .get()
            .saturating_mul(self.ratio)
            .saturating_add(super::RATIO_SLACK);
        if self.out > allowed {
            return Err(io::Error::new(io::ErrorKind::FileTooLarge, RATIO_ERROR));
        }
        Ok(n)
    }
}

const RATIO_ERROR: &str = "decompression ratio";

/// The compressed input, counting what was read of it.
pub(super) struct Counting<R> {
    pub(super) inner: R,
    pub(super) read: std::rc::Rc<std::cell::Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.set(self.read.get() + n as u64);
        Ok(n)
    }
}

pub(super) fn corrupt_or_cap(e: &io::Error, limits: Limits) -> ArchiveError {
    if e.kind() == io::ErrorKind::FileTooLarge && e.to_string() == RATIO_ERROR {
        ArchiveError::TooLarge(format!(
            "{} times what was read of it, plus {} MiB (a wrong or malicious archive: its sha256 is checked only at its end)",
            limits.max_ratio,
            super::RATIO_SLACK >> 20
        ))
    } else if e.kind() == io::ErrorKind::FileTooLarge {
        ArchiveError::TooLarge(format!("{} bytes", limits.max_unpacked_bytes))
    } else {
        ArchiveError::Corrupt(e.to_string())
    }
}

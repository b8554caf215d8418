//! Read-only mappings of files pyswap wrote itself: a download-cache archive while it is
//! re-hashed and unpacked, a cached catalogue while it is parsed. Nothing else is mapped.
//!
//! A mapping is only as safe as the file under it: a page past the file's end after someone
//! truncates it raises SIGBUS and kills the process (which is why `verify` reads store files
//! instead: any process that can write the store could truncate one). The two kinds mapped here
//! are never truncated or rewritten by anyone but the owner of the home:
//!
//! - `cache/<sha256>` is renamed into place only once its bytes verified, and pyswap never opens
//!   it for writing again (a use only sets its mtime; pruning and eviction unlink it, which
//!   leaves an existing mapping intact);
//! - `catalogues/<hash>.cache` is replaced by writing a temporary file and renaming it over the
//!   old one, so a mapping keeps the old inode whole.
//!
//! Both live in directories only the home's owner may write (`cache/`, `catalogues/`; see
//! store-layout.md). What can still raise SIGBUS is the storage itself failing under a read (an
//! I/O error on a bad disk or a vanished network filesystem), where `read(2)` would return
//! `EIO`. pyswap does not catch SIGBUS (a handler could not resume the read safely): the process
//! dies as under `kill -9`, which every command is built to survive (an unpack in progress is a
//! `store/.staging-*` directory that the next command sweeps, nothing half-made is published or
//! registered, the current generation is untouched), and the next command that reads the file
//! reports the I/O error by name.

use std::fs::File;
use std::io;
use std::ops::Deref;

/// A read-only mapping of a whole file.
pub(crate) struct Mapped(Option<memmap2::Mmap>);

impl Mapped {
    /// Maps `file`, which must be one of the kinds the module doc names. An empty file is an
    /// empty slice (mapping zero bytes is not allowed).
    pub(crate) fn own_file(file: &File) -> io::Result<Self> {
        if file.metadata()?.len() == 0 {
            return Ok(Self(None));
        }
        // Populated (`MAP_POPULATE`): the pages are read in at once instead of one fault per
        // page on each of the two threads that read an archive (measured: benches/ab-mapped.py).
        // SAFETY: the mapping is read-only and `file` is one pyswap wrote and nobody but the
        // home's owner truncates or rewrites (module doc); a failing disk can still raise
        // SIGBUS, which the module doc says pyswap survives as it survives `kill -9`.
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::MmapOptions::new().populate().map(file)? };
        Ok(Self(Some(map)))
    }
}

impl Deref for Mapped {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.0.as_deref().unwrap_or_default()
    }
}

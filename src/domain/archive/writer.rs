//! The writer thread: creates, writes, hashes and seals every regular file the reading thread
//! has checked, so that decompression and checks overlap with the writes. It makes no safety
//! decision; it creates only new files (`O_NOFOLLOW`, `create_new`) at paths the reading thread
//! built.

use std::fs::{self, FileTimes, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;
use std::time::SystemTime;

use super::ArchiveError;
use crate::ground::tree::Kind;

/// Files are handed to the writer thread in pieces of at most this size (so at most
/// 32 x 1 MiB is in flight); a file up to this size goes whole, in one job.
pub(super) const HANDOFF_MAX: u64 = 1 << 20;

/// Work for the writer thread. The reading thread sends every regular file as `Open` followed
/// by its data in order (`Data`, then `Close` for a file larger than one piece): one file at a
/// time, so the writer needs no bookkeeping beyond the file it has open.
pub(super) enum Job {
    /// A new file: its place in the node list, where, its mode and mtime, and its first piece.
    /// `last` = this piece is all of it.
    Open {
        index: usize,
        path: PathBuf,
        exec: bool,
        mtime: SystemTime,
        data: Vec<u8>,
        last: bool,
    },
    /// The next piece of the open file.
    Data(Vec<u8>),
    /// The open file is complete.
    Close,
}

/// The file the writer thread is writing.
struct OpenFile {
    index: usize,
    path: PathBuf,
    exec: bool,
    mtime: SystemTime,
    file: fs::File,
    hasher: blake3::Hasher,
    size: u64,
}

impl OpenFile {
    fn write(&mut self, data: &[u8]) -> Result<(), ArchiveError> {
        self.hasher.update(data);
        self.size += data.len() as u64;
        self.file
            .write_all(data)
            .map_err(|error| ArchiveError::Write {
                path: self.path.clone(),
                error,
            })
    }

    fn close(self) -> Result<(usize, Kind), ArchiveError> {
        seal_file(&self.file, &self.path, self.exec, self.mtime)?;
        Ok((
            self.index,
            Kind::File {
                exec: self.exec,
                size: self.size,
                hash: *self.hasher.finalize().as_bytes(),
            },
        ))
    }
}

/// The writer thread: creates, writes, hashes and seals every regular file, so the reading
/// thread only decompresses and checks. After a failure it keeps draining the queue (so the
/// reader never blocks) and reports the first error.
pub(super) fn write_jobs(queue: Receiver<Job>) -> Result<Vec<(usize, Kind)>, ArchiveError> {
    let mut done = Vec::new();
    let mut failed = None;
    let mut open: Option<OpenFile> = None;
    for job in queue {
        if failed.is_some() {
            continue;
        }
        let step = match job {
            Job::Open {
                index,
                path,
                exec,
                mtime,
                data,
                last,
            } => create_file(&path).and_then(|file| {
                let mut f = OpenFile {
                    index,
                    path,
                    exec,
                    mtime,
                    file,
                    hasher: blake3::Hasher::new(),
                    size: 0,
                };
                f.write(&data)?;
                if last {
                    done.push(f.close()?);
                } else {
                    open = Some(f);
                }
                Ok(())
            }),
            Job::Data(data) => open.as_mut().map_or_else(
                || Err(ArchiveError::Corrupt("writer: data without a file".into())),
                |f| f.write(&data),
            ),
            Job::Close => open.take().map_or_else(
                || Err(ArchiveError::Corrupt("writer: close without a file".into())),
                |f| f.close().map(|d| done.push(d)),
            ),
        };
        if let Err(e) = step {
            failed = Some(e);
        }
    }
    failed.map_or(Ok(done), Err)
}

/// Creates a new file for writing, never following a symlink or replacing anything.
fn create_file(path: &Path) -> Result<fs::File, ArchiveError> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|error| ArchiveError::Write {
            path: path.to_owned(),
            error,
        })
}

/// Gives a written file the archive's modification time (Python trusts a `__pycache__` file
/// only while its source's mtime matches the one recorded in it: without this every import
/// of the runtime would compile from source) and its final read-only mode.
fn seal_file(
    file: &fs::File,
    path: &Path,
    exec: bool,
    mtime: SystemTime,
) -> Result<(), ArchiveError> {
    let write_err = |error| ArchiveError::Write {
        path: path.to_owned(),
        error,
    };
    file.set_times(FileTimes::new().set_modified(mtime))
        .map_err(write_err)?;
    file.set_permissions(fs::Permissions::from_mode(if exec { 0o555 } else { 0o444 }))
        .map_err(write_err)
}

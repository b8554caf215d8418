//! Safe unpacking of python-build-standalone archives (`.tar.gz`, `.tar.zst`). The only module
//! that uses tar, flate2 and zstd.
//!
//! Both upstream layouts are accepted: `install_only` (the runtime is `python/`) and `full`
//! (the runtime is `python/install/`; `python/PYTHON.json`, `python/build/` and
//! `python/licenses/` are metadata and are not unpacked). The runtime's contents land directly in
//! the destination, which must be a fresh, empty directory.
//!
//! pyswap writes every member itself instead of calling `tar::Entry::unpack`: only regular
//! files, directories, symlinks and hardlinks are accepted; a member that is absolute, contains
//! `..`, is a device or FIFO, would be written through a symlink, or links outside the tree is
//! refused with an error naming it. Files are created with `O_EXCL|O_NOFOLLOW`; modes are
//! normalised to 0444/0555 (so setuid, setgid and sticky bits never land); ownership and xattrs
//! are never applied; each file keeps the member's mtime (the interpreter's bytecode check needs it).
//! Each file is hashed as it is written, which yields the tree's nodes for
//! [`crate::ground::tree::digest`] without reading the tree again.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{SyncSender, sync_channel};

use crate::ground::tree::{Kind, Node};

mod decode;
mod headers;
mod rules;
mod writer;

use decode::{Capped, Decoder, GZIP_MAGIC, ZSTD_MAGIC, corrupt_or_cap};
use headers::{Extension, Pending};
use rules::{Place, classify, link_target, member_mtime, resolve_inside};
use writer::{HANDOFF_MAX, Job, write_jobs};

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("unsafe archive member `{member}`: {why}")]
    Unsafe { member: String, why: String },
    #[error("archive is neither gzip nor zstd (it starts with bytes {0})")]
    UnknownFormat(String),
    #[error("archive layout not recognised: {0}")]
    Layout(String),
    #[error("corrupt archive: {0}")]
    Corrupt(String),
    #[error("archive is too large when unpacked: more than {0}")]
    TooLarge(String),
    #[error("cannot write {}: {error}", path.display())]
    Write { path: PathBuf, error: io::Error },
}

crate::ground::exit::register!(ArchiveError);
impl crate::ground::exit::Reason for ArchiveError {
    fn status(&self) -> crate::ground::exit::ExitStatus {
        match self {
            Self::Write { error, .. } => error.status(),
            _ => crate::ground::exit::ExitStatus::Failure,
        }
    }

    fn help(&self) -> Option<std::borrow::Cow<'static, str>> {
        match self {
            Self::Write { error, .. } => error.help(),
            _ => Some(
                "the archive was refused and nothing was installed; the current runtime is unchanged"
                    .into(),
            ),
        }
    }
}

/// The error for an unsafe member; a name of more than 200 characters is shown by its first 200
/// (an error is one line: a 4 KB path is not).
fn unsafe_member(member: &str, why: impl Into<String>) -> ArchiveError {
    let member = match member.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &member[..cut]),
        None => member.to_owned(),
    };
    ArchiveError::Unsafe {
        member,
        why: why.into(),
    }
}

/// Caps against decompression bombs.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_unpacked_bytes: u64,
    pub max_entries: u64,
    /// At every point of the stream, what is unpacked may be at most this many times what was
    /// read of the archive, plus [`RATIO_SLACK`]: the sha256 is known only at the end, so a
    /// small archive with a wrong hash must not fill the disk first (issue 25).
    /// python-build-standalone's archives unpack to 3-6 times their size (zstd -19: up to ~10).
    pub max_ratio: u64,
}

/// What may be unpacked before the ratio applies (the first headers, a small first file).
pub(crate) const RATIO_SLACK: u64 = 64 << 20;

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_unpacked_bytes: 8 << 30,
            max_entries: 500_000,
            max_ratio: 64,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    InstallOnly,
    Full,
}

/// What an unpack produced: the tree's nodes, hashed as written.
#[derive(Debug)]
pub struct Unpacked {
    pub nodes: Vec<Node>,
    pub layout: Layout,
}

/// Unpacks `archive` (compression detected from its magic bytes) into the empty `dest`.
pub fn unpack(archive: impl Read, dest: &Path, limits: Limits) -> Result<Unpacked, ArchiveError> {
    let read = std::rc::Rc::new(std::cell::Cell::new(0u64));
    let archive = decode::Counting {
        inner: archive,
        read: std::rc::Rc::clone(&read),
    };
    let mut input = BufReader::with_capacity(256 << 10, archive);
    let head = input
        .fill_buf()
        .map_err(|e| ArchiveError::Corrupt(format!("reading: {e}")))?
        .to_vec();
    let decoder = if head.starts_with(GZIP_MAGIC) {
        Decoder::Gzip(Box::new(flate2::bufread::GzDecoder::new(input)))
    } else if head.starts_with(ZSTD_MAGIC) {
        let mut d = zstd::stream::read::Decoder::with_buffer(input)
            .map_err(|e| ArchiveError::Corrupt(format!("zstd: {e}")))?
            .single_frame();
        // python-build-standalone uses the default window; refuse anything past 128 MiB.
        d.window_log_max(27)
            .map_err(|e| ArchiveError::Corrupt(format!("zstd: {e}")))?;
        Decoder::Zstd(d)
    } else {
        let shown: Vec<String> = head.iter().take(4).map(|b| format!("{b:02x}")).collect();
        return Err(ArchiveError::UnknownFormat(shown.join(" ")));
    };
    // tar reads 512-byte headers; buffer the decoder's output so each is not a decoder call.
    let counted = Capped {
        inner: BufReader::with_capacity(256 << 10, decoder),
        left: limits.max_unpacked_bytes,
        out: 0,
        read,
        ratio: limits.max_ratio,
    };
    let mut tar = tar::Archive::new(counted);
    // Files are written, hashed and sealed on a second thread while this one decompresses and
    // checks the next members; every safety decision stays on this thread.
    let (jobs, queue) = sync_channel::<Job>(32);
    std::thread::scope(|scope| {
        let worker = scope.spawn(move || write_jobs(queue));
        let mut writer = Writer {
            dest,
            nodes: Vec::new(),
            index: HashMap::new(),
            layout: None,
            buf: vec![0; 256 << 10],
            jobs: Some(jobs),
            hardlinks: Vec::new(),
        };
        let parsed = read_members(&mut tar, &mut writer, limits);
        writer.jobs = None;
        let written = worker
            .join()
            .unwrap_or_else(|_| Err(ArchiveError::Corrupt("the writer thread panicked".into())));
        parsed?;
        for (i, kind) in written? {
            writer.nodes[i].kind = kind;
        }
        writer.link_hardlinks()?;
        // The end-of-archive marker may be followed by zero padding only, and the compressed
        // stream must end where its first member/frame does.
        let mut rest = tar.into_inner();
        loop {
            let n = rest
                .read(&mut writer.buf)
                .map_err(|e| corrupt_or_cap(&e, limits))?;
            if n == 0 {
                break;
            }
            if writer.buf[..n].iter().any(|&b| b != 0) {
                return Err(ArchiveError::Corrupt(
                    "data after the tar end-of-archive marker".into(),
                ));
            }
        }
        rest.inner.into_inner().check_end()?;
        writer.finish()
    })
}

fn read_members<R: Read>(
    tar: &mut tar::Archive<R>,
    writer: &mut Writer<'_>,
    limits: Limits,
) -> Result<(), ArchiveError> {
    // Raw: extension headers come to us as entries and are applied by `headers`, strictly.
    let entries = tar
        .entries()
        .map_err(|e| corrupt_or_cap(&e, limits))?
        .raw(true);
    let mut count = 0u64;
    let mut pending = Pending::default();
    let mut last: Option<String> = None;
    let after = |last: &Option<String>| {
        last.as_ref().map_or_else(
            || "at the first header".to_owned(),
            |m| format!("after member `{m}`"),
        )
    };
    for entry in entries {
        let mut entry = entry.map_err(|e| match corrupt_or_cap(&e, limits) {
            ArchiveError::Corrupt(m) => ArchiveError::Corrupt(format!("{m} ({})", after(&last))),
            other => other,
        })?;
        count += 1;
        if count > limits.max_entries {
            return Err(ArchiveError::TooLarge(format!(
                "{} entries",
                limits.max_entries
            )));
        }
        let header_name = String::from_utf8_lossy(&entry.header().path_bytes()).into_owned();
        if let Some(ext) = Extension::of(entry.header().entry_type()) {
            if entry.size() > headers::MAX_EXTENSION {
                return Err(ArchiveError::Corrupt(format!(
                    "extension header `{header_name}` is {} bytes (at most {} are read)",
                    entry.size(),
                    headers::MAX_EXTENSION
                )));
            }
            let mut data = Vec::with_capacity(entry.size() as usize);
            entry
                .read_to_end(&mut data)
                .map_err(|e| corrupt_or_cap(&e, limits))?;
            if data.len() as u64 != entry.size() {
                return Err(ArchiveError::Corrupt(format!(
                    "extension header `{header_name}` is truncated"
                )));
            }
            pending.add(ext, &header_name, &data)?;
            continue;
        }
        let described = std::mem::take(&mut pending);
        let name = described.name(entry.header().path_bytes().into_owned());
        let shown = String::from_utf8_lossy(&name).into_owned();
        if let Some(pax) = &described.pax {
            if pax.sparse {
                return Err(unsafe_member(&shown, "sparse file (PAX GNU.sparse)"));
            }
            if pax.size.is_some_and(|s| s != entry.size()) {
                return Err(unsafe_member(
                    &shown,
                    format!(
                        "its PAX size {} disagrees with its header size {} (a smuggled member?)",
                        pax.size.unwrap_or_default(),
                        entry.size()
                    ),
                ));
            }
        }
        let link = described.link(entry.header().link_name_bytes().map(Cow::into_owned));
        writer.member(&mut entry, &name, link.as_deref(), limits)?;
        last = Some(shown);
    }
    if let Some(header) = pending.first {
        return Err(ArchiveError::Corrupt(format!(
            "extension header `{header}` is not followed by the member it describes"
        )));
    }
    Ok(())
}

struct Writer<'a> {
    dest: &'a Path,
    nodes: Vec<Node>,
    index: HashMap<String, usize>,
    layout: Option<Layout>,
    buf: Vec<u8>,
    jobs: Option<SyncSender<Job>>,
    /// (target, link): made once every file they may point at is on disk.
    hardlinks: Vec<(String, String)>,
}

impl Writer<'_> {
    fn member<R: Read>(
        &mut self,
        entry: &mut tar::Entry<R>,
        raw: &[u8],
        link: Option<&[u8]>,
        limits: Limits,
    ) -> Result<(), ArchiveError> {
        let shown = String::from_utf8_lossy(raw).into_owned();
        let kind = entry.header().entry_type();
        let (place, layout) = classify(raw)?;
        if kind.is_gnu_sparse() {
            return Err(unsafe_member(&shown, "sparse file"));
        }
        let is_file = kind.is_file() || kind == tar::EntryType::Continuous;
        if !is_file && entry.size() != 0 {
            // Readers disagree on whether such data exists: one that skips it and one that
            // does not would see different members after this one.
            return Err(unsafe_member(
                &shown,
                format!(
                    "a non-file entry (type {:?}) carrying {} bytes of data",
                    kind.as_byte() as char,
                    entry.size()
                ),
            ));
        }
        if let Some(l) = layout {
            match self.layout {
                None => self.layout = Some(l),
                Some(seen) if seen != l => {
                    return Err(ArchiveError::Layout(format!(
                        "member `{shown}` mixes the install_only and full layouts"
                    )));
                }
                Some(_) => {}
            }
        }
        let rel = match place {
            Place::Root if kind.is_dir() => return Ok(()),
            Place::Metadata => return Ok(()),
            Place::Root => {
                return Err(unsafe_member(
                    &shown,
                    "replaces the runtime root with a non-directory",
                ));
            }
            Place::Tree(rel) => rel,
        };
        if let Some(&i) = self.index.get(&rel) {
            if kind.is_dir() && self.nodes[i].kind == Kind::Dir {
                return Ok(());
            }
            return Err(unsafe_member(&shown, "the same path appears twice"));
        }
        self.parents(&rel, &shown)?;
        let path = self.dest.join(&rel);
        let write_err = |error| ArchiveError::Write {
            path: path.clone(),
            error,
        };
        let node_kind = if is_file {
            self.write_file(entry, &path, &shown, limits)?
        } else if kind.is_dir() {
            fs::create_dir(&path).map_err(write_err)?;
            Kind::Dir
        } else if kind.is_symlink() {
            let target = link_target(link, &shown)?;
            if target.starts_with('/') {
                return Err(unsafe_member(
                    &shown,
                    format!("symlink to absolute path `{target}`"),
                ));
            }
            std::os::unix::fs::symlink(&target, &path).map_err(write_err)?;
            Kind::Symlink { target }
        } else if kind.is_hard_link() {
            let target = link_target(link, &shown)?;
            self.hardlink(&target, &rel, &shown)?
        } else if kind.is_character_special() || kind.is_block_special() || kind.is_fifo() {
            return Err(unsafe_member(&shown, "device or FIFO"));
        } else {
            return Err(unsafe_member(
                &shown,
                format!("unsupported entry type {:?}", kind.as_byte() as char),
            ));
        };
        self.push(rel, node_kind);
        Ok(())
    }

    /// Queues a hardlink to an earlier regular file of the tree; returns the target's node kind.
    fn hardlink(&mut self, target: &str, rel: &str, shown: &str) -> Result<Kind, ArchiveError> {
        let inside = match classify(target.as_bytes()) {
            Ok((Place::Tree(t), l)) if l == self.layout => t,
            _ => {
                return Err(unsafe_member(
                    shown,
                    format!("hardlink to `{target}`, outside the runtime tree"),
                ));
            }
        };
        let Some(&i) = self.index.get(&inside) else {
            return Err(unsafe_member(
                shown,
                format!("hardlink to `{target}`, which is not an earlier file of the archive"),
            ));
        };
        let Kind::File { .. } = self.nodes[i].kind else {
            return Err(unsafe_member(
                shown,
                format!("hardlink to `{target}`, which is not a regular file"),
            ));
        };
        // The target may still be queued for the writer thread: link after it has run.
        self.hardlinks.push((inside, rel.to_owned()));
        Ok(self.nodes[i].kind.clone())
    }

    /// Writes one regular file, hashing it as it goes; returns its node kind.
    fn write_file<R: Read>(
        &mut self,
        entry: &mut tar::Entry<R>,
        path: &Path,
        shown: &str,
        limits: Limits,
    ) -> Result<Kind, ArchiveError> {
        let exec = entry
            .header()
            .mode()
            .map_err(|e| ArchiveError::Corrupt(format!("`{shown}`: {e}")))?
            & 0o111
            != 0;
        let mtime = member_mtime(entry.header(), shown)?;
        let size = entry.size();
        if size > limits.max_unpacked_bytes {
            return Err(ArchiveError::TooLarge(format!(
                "{} bytes in `{shown}`",
                limits.max_unpacked_bytes
            )));
        }
        let jobs = self
            .jobs
            .as_ref()
            .ok_or_else(|| ArchiveError::Corrupt("the writer thread stopped".into()))?;
        let send = |job| {
            jobs.send(job)
                .map_err(|_| ArchiveError::Corrupt("the writer thread stopped".into()))
        };
        // Pieces of HANDOFF_MAX bytes, the last one shorter; an empty file is one empty piece.
        let mut read = 0u64;
        loop {
            let want = (size - read).min(HANDOFF_MAX);
            let mut data = Vec::with_capacity(want as usize);
            entry
                .take(want)
                .read_to_end(&mut data)
                .map_err(|e| corrupt_or_cap(&e, limits))?;
            let first = read == 0;
            read += data.len() as u64;
            if (data.len() as u64) < want {
                return Err(ArchiveError::Corrupt(format!(
                    "member `{shown}` is truncated ({read} of {size} bytes)"
                )));
            }
            let last = read == size;
            send(if first {
                Job::Open {
                    index: self.nodes.len(),
                    path: path.to_owned(),
                    exec,
                    mtime,
                    data,
                    last,
                }
            } else {
                Job::Data(data)
            })?;
            if last {
                break;
            }
        }
        if size > HANDOFF_MAX {
            send(Job::Close)?;
        }
        // Filled in with the real hash when the writer thread reports back.
        Ok(Kind::File {
            exec,
            size,
            hash: [0; 32],
        })
    }

    /// Creates the archive's hardlinks, now that every file is written, and gives each the
    /// final node of its target.
    fn link_hardlinks(&mut self) -> Result<(), ArchiveError> {
        for (target, link) in std::mem::take(&mut self.hardlinks) {
            let path = self.dest.join(&link);
            fs::hard_link(self.dest.join(&target), &path)
                .map_err(|error| ArchiveError::Write { path, error })?;
            let kind = self.nodes[self.index[&target]].kind.clone();
            let i = self.index[&link];
            self.nodes[i].kind = kind;
        }
        Ok(())
    }

    fn push(&mut self, path: String, kind: Kind) {
        self.index.insert(path.clone(), self.nodes.len());
        self.nodes.push(Node { path, kind });
    }

    /// Creates missing parent directories; refuses to go through a symlink or a file.
    fn parents(&mut self, rel: &str, shown: &str) -> Result<(), ArchiveError> {
        let mut end = 0;
        while let Some(i) = rel[end..].find('/') {
            let parent = &rel[..end + i];
            end += i + 1;
            match self.index.get(parent).map(|&i| &self.nodes[i].kind) {
                Some(Kind::Dir) => {}
                Some(Kind::Symlink { .. }) => {
                    return Err(unsafe_member(
                        shown,
                        format!("would be written through the symlink `{parent}`"),
                    ));
                }
                Some(Kind::File { .. }) => {
                    return Err(unsafe_member(shown, format!("parent `{parent}` is a file")));
                }
                None => {
                    let path = self.dest.join(parent);
                    fs::create_dir(&path).map_err(|error| ArchiveError::Write { path, error })?;
                    self.push(parent.to_owned(), Kind::Dir);
                }
            }
        }
        Ok(())
    }

    /// Checks every symlink against the finished tree, makes directories read-only.
    fn finish(mut self) -> Result<Unpacked, ArchiveError> {
        let Some(layout) = self.layout else {
            return Err(ArchiveError::Layout(
                "no runtime found under `python/`".into(),
            ));
        };
        if self.nodes.is_empty() {
            return Err(ArchiveError::Layout("the runtime tree is empty".into()));
        }
        for node in &self.nodes {
            if let Kind::Symlink { target } = &node.kind {
                resolve_inside(&self.nodes, &self.index, &node.path, target)
                    .map_err(|why| unsafe_member(&format!("python/{}", node.path), why))?;
            }
        }
        let mut dirs: Vec<&Node> = self.nodes.iter().filter(|n| n.kind == Kind::Dir).collect();
        dirs.sort_unstable_by_key(|n| std::cmp::Reverse(n.path.matches('/').count()));
        for d in dirs {
            let path = self.dest.join(&d.path);
            fs::set_permissions(&path, fs::Permissions::from_mode(0o555))
                .map_err(|error| ArchiveError::Write { path, error })?;
        }
        fs::set_permissions(self.dest, fs::Permissions::from_mode(0o555)).map_err(|error| {
            ArchiveError::Write {
                path: self.dest.to_owned(),
                error,
            }
        })?;
        self.nodes.shrink_to_fit();
        Ok(Unpacked {
            nodes: self.nodes,
            layout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::time::{Duration, SystemTime};

    fn tar_of(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        build(&mut b);
        b.into_inner().unwrap()
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn file(b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8], mode: u32) {
        file_at(b, path, data, mode, 0);
    }

    fn file_at(b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8], mode: u32, mtime: u64) {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_mtime(mtime);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path, data).unwrap();
    }

    fn link(b: &mut tar::Builder<Vec<u8>>, kind: tar::EntryType, path: &str, target: &str) {
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_mode(0o777);
        h.set_entry_type(kind);
        b.append_link(&mut h, path, target).unwrap();
    }

    fn run(data: &[u8]) -> (tempfile::TempDir, Result<Unpacked, ArchiveError>) {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("stage");
        fs::create_dir(&dest).unwrap();
        let r = unpack(data, &dest, Limits::default());
        (dir, r)
    }

    #[test]
    fn unpacks_both_layouts_to_the_same_tree() {
        let install_only = tar_of(|b| {
            file(b, "python/bin/python3.12", b"#!elf", 0o4755);
            link(
                b,
                tar::EntryType::Symlink,
                "python/bin/python3",
                "python3.12",
            );
            file(b, "python/lib/python3.12/os.py", b"import sys", 0o644);
        });
        let full = tar_of(|b| {
            file(b, "python/PYTHON.json", b"{}", 0o644);
            file(b, "python/build/lib/libpython.a", b"junk", 0o644);
            file(b, "python/install/bin/python3.12", b"#!elf", 0o755);
            link(
                b,
                tar::EntryType::Symlink,
                "python/install/bin/python3",
                "python3.12",
            );
            file(
                b,
                "python/install/lib/python3.12/os.py",
                b"import sys",
                0o644,
            );
        });
        let (d1, a) = run(&gz(&install_only));
        let (_d2, b) = run(&zstd::encode_all(&full[..], 3).unwrap());
        let (mut a, mut b) = (a.unwrap(), b.unwrap());
        assert_eq!((a.layout, b.layout), (Layout::InstallOnly, Layout::Full));
        assert_eq!(
            crate::ground::tree::digest(&mut a.nodes),
            crate::ground::tree::digest(&mut b.nodes)
        );
        let mut scanned = crate::ground::tree::scan(&d1.path().join("stage")).unwrap();
        assert_eq!(
            crate::ground::tree::digest(&mut scanned),
            crate::ground::tree::digest(&mut a.nodes),
            "hash-while-writing equals a rescan"
        );
        let mode = fs::metadata(d1.path().join("stage/bin/python3.12"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777;
        assert_eq!(mode, 0o555, "setuid dropped, made read-only");
        let dmode = fs::metadata(d1.path().join("stage/lib"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777;
        assert_eq!(dmode, 0o555);
    }

    #[test]
    fn files_keep_the_archive_mtime() {
        // CPython trusts __pycache__/*.pyc only while the source's mtime matches: both the
        // files handed to the writer thread and the large ones streamed here keep theirs.
        let big = vec![7u8; (HANDOFF_MAX + 1) as usize];
        let data = gz(&tar_of(|b| {
            for (path, data, mtime) in [
                ("python/lib/os.py", &b"import sys\n"[..], 1_715_240_177u64),
                ("python/lib/libpython.so", &big[..], 1_600_000_000),
            ] {
                file_at(b, path, data, 0o644, mtime);
            }
        }));
        let (dir, out) = run(&data);
        out.unwrap();
        for (path, mtime) in [
            ("lib/os.py", 1_715_240_177),
            ("lib/libpython.so", 1_600_000_000),
        ] {
            let modified = fs::metadata(dir.path().join("stage").join(path))
                .unwrap()
                .modified()
                .unwrap();
            assert_eq!(
                modified,
                SystemTime::UNIX_EPOCH + Duration::from_secs(mtime),
                "{path}"
            );
        }
    }

    #[test]
    fn hardlinks_are_made_after_their_targets_are_written() {
        let data = tar_of(|b| {
            file(b, "python/bin/python3.12", b"#!interp", 0o755);
            link(
                b,
                tar::EntryType::Link,
                "python/bin/python3",
                "python/bin/python3.12",
            );
            link(
                b,
                tar::EntryType::Link,
                "python/bin/python",
                "python/bin/python3",
            );
            file(
                b,
                "python/lib/big.so",
                &vec![9u8; (HANDOFF_MAX + 1) as usize],
                0o755,
            );
        });
        let (dir, r) = run(&gz(&data));
        let mut u = r.unwrap();
        let stage = dir.path().join("stage");
        assert_eq!(fs::read(stage.join("bin/python")).unwrap(), b"#!interp");
        let mut scanned = crate::ground::tree::scan(&stage).unwrap();
        assert_eq!(
            crate::ground::tree::digest(&mut scanned),
            crate::ground::tree::digest(&mut u.nodes)
        );
        assert!(
            u.nodes
                .iter()
                .all(|n| !matches!(n.kind, Kind::File { hash, .. } if hash == [0; 32]))
        );
    }

    /// A raw header, for names the tar crate's builder refuses to write.
    fn raw_entry(out: &mut Vec<u8>, name: &[u8], kind: u8, link: &[u8], data: &[u8]) {
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name);
        h[100..107].copy_from_slice(b"0000644");
        h[124..135].copy_from_slice(format!("{:011o}", data.len()).as_bytes());
        h[136..147].copy_from_slice(b"00000000000");
        h[156] = kind;
        h[157..157 + link.len()].copy_from_slice(link);
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }

    fn raw_tar(entries: &[(&[u8], u8, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, kind, link) in entries {
            raw_entry(
                &mut out,
                name,
                *kind,
                link,
                if *kind == b'0' { b"x" } else { b"" },
            );
        }
        out.extend_from_slice(&[0; 1024]);
        out
    }

    #[test]
    fn refuses_bad_layouts_and_corruption() {
        let (_d, r) = run(&gz(&raw_tar(&[(b"other/x", b'0', b"")])));
        assert!(matches!(r, Err(ArchiveError::Layout(m)) if m.contains("top-level `other`")));
        let (_d, r) = run(&gz(&raw_tar(&[
            (b"python/bin/x", b'0', b""),
            (b"python/install/bin/x", b'0', b""),
        ])));
        assert!(matches!(r, Err(ArchiveError::Layout(m)) if m.contains("mixes")));
        let (_d, r) = run(b"PK\x03\x04 not a tarball");
        assert!(matches!(r, Err(ArchiveError::UnknownFormat(m)) if m == "50 4b 03 04"));
        let good = gz(&tar_of(|b| {
            file(b, "python/bin/python3", &vec![7u8; 100_000], 0o755);
        }));
        let (_d, r) = run(&good[..good.len() / 2]);
        assert!(matches!(r, Err(ArchiveError::Corrupt(_))), "{r:?}");
    }

    // Issue 25.

    #[test]
    fn a_small_archive_cannot_unpack_to_much_more_than_it_could_hold() {
        // 256 MiB of zeros in a few KiB of zstd: refused near 64 MiB, long before any cap.
        let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        {
            let mut b = tar::Builder::new(&mut enc);
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(0o644);
            h.set_size(256 << 20);
            b.append_data(&mut h, "python/big", io::repeat(0).take(256 << 20))
                .unwrap();
            b.finish().unwrap();
        }
        let data = enc.finish().unwrap();
        assert!(data.len() < 1 << 20, "{}", data.len());
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("stage");
        fs::create_dir(&dest).unwrap();
        match unpack(&data[..], &dest, Limits::default()) {
            Err(ArchiveError::TooLarge(m)) => assert!(m.contains("64 times what was read"), "{m}"),
            other => panic!("expected the ratio cap, got {other:?}"),
        }
        let written: u64 = fs::metadata(dest.join("big")).map_or(0, |m| m.len());
        assert!(
            written <= (RATIO_SLACK + (1 << 20)),
            "{written} bytes written"
        );
    }

    #[test]
    fn bombs_stop_at_the_caps_in_gzip_and_zstd() {
        let limits = Limits {
            max_unpacked_bytes: 1 << 20,
            max_entries: 50,
            ..Limits::default()
        };
        // 64 MiB of zeros in one member: a few hundred KiB compressed.
        let zeros = tar_of(|b| file(b, "python/big", &vec![0u8; 64 << 20], 0o644));
        // 1000 empty directories: 0.5 MiB of headers.
        let many = tar_of(|b| {
            for i in 0..1000 {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, format!("python/d{i}"), io::empty())
                    .unwrap();
            }
        });
        for (what, tar, want) in [
            ("bytes", &zeros, "1048576 bytes"),
            ("entries", &many, "50 entries"),
        ] {
            for data in [gz(tar), zstd::encode_all(&tar[..], 19).unwrap()] {
                assert!(
                    data.len() < tar.len() / 10,
                    "{what}: a bomb compresses well ({} of {})",
                    data.len(),
                    tar.len()
                );
                let dir = tempfile::tempdir().unwrap();
                let dest = dir.path().join("stage");
                fs::create_dir(&dest).unwrap();
                match unpack(&data[..], &dest, limits) {
                    Err(ArchiveError::TooLarge(m)) => assert!(m.contains(want), "{what}: {m}"),
                    other => panic!("{what}: expected the cap, got {other:?}"),
                }
                let written: u64 = crate::ground::tree::scan(&dest)
                    .unwrap()
                    .iter()
                    .map(|n| match n.kind {
                        Kind::File { size, .. } => size,
                        _ => 512,
                    })
                    .sum();
                assert!(
                    written <= 2 << 20,
                    "{what}: stopped near the cap ({written} bytes)"
                );
            }
        }
    }
}

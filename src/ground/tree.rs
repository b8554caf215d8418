//! The canonical description of an unpacked runtime tree and its digest (`tree-v1`).
//!
//! A tree is a set of nodes (directory, file, executable file, symlink) keyed by a relative,
//! `/`-separated UTF-8 path. Its digest is blake3 over a byte serialization defined here and in
//! `store-layout.md`, so anyone can recompute it by hand. Ownership, timestamps and permission
//! bits other than "executable" are not part of it: the store normalises them away.
//!
//! Unpacking computes the digest from what it writes (no second pass over the tree);
//! [`scan`] recomputes it from disk, hashing files in parallel (rayon), for verification. Files
//! are read, not memory-mapped: a file truncated while it is hashed (by a hostile or careless
//! process) would make a mapping raise SIGBUS and kill `verify`; a read just returns fewer bytes,
//! which is reported as a file that changed size.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use rayon::prelude::*;

/// Large files are read in pieces of this size, each hashed on all cores.
const PIECE: usize = 4 << 20;
const HEADER: &[u8] = b"pyswap-tree-v1\n";

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Dir,
    File {
        exec: bool,
        size: u64,
        hash: [u8; 32],
    },
    Symlink {
        target: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// Relative to the tree root, `/`-separated, never empty, no `.` or `..` components.
    pub path: String,
    pub(crate) kind: Kind,
}

/// Totals of a tree, for listings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Totals {
    pub(crate) files: u64,
    pub bytes: u64,
}

/// The `tree-v1` digest of `nodes` (sorted here by path bytes), as 64 lowercase hex digits.
pub fn digest(nodes: &mut [Node]) -> String {
    let mut h = blake3::Hasher::new();
    serialize(nodes, |b| {
        h.update(b);
    });
    h.finalize().to_hex().to_string()
}

/// Feeds the `tree-v1` serialization of `nodes` (sorted here by path bytes) to `out`: the
/// bytes whose blake3 is the digest.
fn serialize(nodes: &mut [Node], mut out: impl FnMut(&[u8])) {
    nodes.sort_unstable_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    out(HEADER);
    for n in nodes.iter() {
        let (tag, rest): (u8, Vec<u8>) = match &n.kind {
            Kind::Dir => (b'd', Vec::new()),
            Kind::File { exec, size, hash } => {
                let mut r = size.to_le_bytes().to_vec();
                r.extend_from_slice(hash);
                (if *exec { b'x' } else { b'f' }, r)
            }
            Kind::Symlink { target } => {
                let mut r = (target.len() as u32).to_le_bytes().to_vec();
                r.extend_from_slice(target.as_bytes());
                (b'l', r)
            }
        };
        out(&[tag]);
        out(&(n.path.len() as u32).to_le_bytes());
        out(n.path.as_bytes());
        out(&rest);
    }
}

/// The file index of a tree as the database keeps it (`entries.tree`): its `tree-v1`
/// serialization, zstd-compressed. Decompressed, its blake3 is the tree digest, so an index
/// vouches for itself.
pub(crate) fn index(nodes: &mut [Node]) -> Vec<u8> {
    digest_and_index(nodes).1
}

/// [`digest`] and [`index`] of `nodes` from one serialization.
pub(crate) fn digest_and_index(nodes: &mut [Node]) -> (String, Vec<u8>) {
    let mut raw = Vec::new();
    serialize(nodes, |b| raw.extend_from_slice(b));
    let digest = blake3::hash(&raw).to_hex().to_string();
    let index = zstd::bulk::compress(&raw, 3).expect("compressing into memory does not fail");
    (digest, index)
}

/// The nodes an index holds, if it decompresses (within `MAX_INDEX` bytes), parses, and hashes to
/// `digest`; `None` for anything else (an index altered in the database is not believed).
pub(crate) fn read_index(blob: &[u8], digest: &str) -> Option<Vec<Node>> {
    let raw = zstd::bulk::decompress(blob, MAX_INDEX).ok()?;
    if blake3::hash(&raw).to_hex().as_str() != digest {
        return None;
    }
    let mut rest = raw.strip_prefix(HEADER)?;
    let mut take = |n: usize| -> Option<&[u8]> {
        let (head, tail) = rest.split_at_checked(n)?;
        rest = tail;
        Some(head)
    };
    let mut nodes = Vec::new();
    while let Some(&[tag]) = take(1) {
        let len = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
        let path = std::str::from_utf8(take(len)?).ok()?.to_owned();
        let kind = match tag {
            b'd' => Kind::Dir,
            b'f' | b'x' => Kind::File {
                exec: tag == b'x',
                size: u64::from_le_bytes(take(8)?.try_into().ok()?),
                hash: take(32)?.try_into().ok()?,
            },
            b'l' => {
                let len = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
                Kind::Symlink {
                    target: std::str::from_utf8(take(len)?).ok()?.to_owned(),
                }
            }
            _ => return None,
        };
        nodes.push(Node { path, kind });
    }
    Some(nodes)
}

/// The largest decompressed index believed (a runtime's is about 1 MiB).
const MAX_INDEX: usize = 256 << 20;

/// How a tree on disk differs from its index, path by path (each list sorted).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Diff {
    /// In both, with other contents, mode or kind.
    pub(crate) changed: Vec<String>,
    /// In the index, not on disk.
    pub(crate) missing: Vec<String>,
    /// On disk, not in the index.
    pub(crate) added: Vec<String>,
}

/// Compares `found` (scanned) against `recorded` (an index): both are sorted here by path.
pub(crate) fn diff(recorded: &mut [Node], found: &mut [Node]) -> Diff {
    recorded.sort_unstable_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    found.sort_unstable_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    let mut out = Diff::default();
    let (mut old, mut new) = (recorded.iter().peekable(), found.iter().peekable());
    loop {
        let order = match (old.peek(), new.peek()) {
            (Some(was), Some(is)) => was.path.as_bytes().cmp(is.path.as_bytes()),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => return out,
        };
        match order {
            std::cmp::Ordering::Less => out.missing.extend(old.next().map(|n| n.path.clone())),
            std::cmp::Ordering::Greater => out.added.extend(new.next().map(|n| n.path.clone())),
            std::cmp::Ordering::Equal => {
                let (was, is) = (old.next(), new.next());
                if let (Some(was), Some(is)) = (was, is)
                    && was.kind != is.kind
                {
                    out.changed.push(is.path.clone());
                }
            }
        }
    }
}

pub(crate) fn totals(nodes: &[Node]) -> Totals {
    nodes.iter().fold(Totals::default(), |mut t, n| {
        if let Kind::File { size, .. } = n.kind {
            t.files += 1;
            t.bytes += size;
        }
        t
    })
}

/// Reads the tree under `root` back into nodes, hashing files in parallel.
pub fn scan(root: &Path) -> io::Result<Vec<Node>> {
    scan_once(root, &Hashed::default())
}

/// The hashes of the files a run read, by inode: a file that store entries share (one inode,
/// `storage::objects`) is read once however many trees hold it.
#[derive(Debug, Default)]
pub(crate) struct Hashed(std::sync::Mutex<ByInode>);

/// (device, inode) → (blake3, size).
type ByInode = std::collections::HashMap<(u64, u64), ([u8; 32], u64)>;

impl Hashed {
    /// The files read and their bytes, each inode once.
    pub(crate) fn totals(&self) -> (u64, u64) {
        self.0.lock().map_or((0, 0), |m| {
            (m.len() as u64, m.values().map(|(_, size)| size).sum())
        })
    }
}

/// [`scan`], reading a file only if `hashed` does not hold its inode's hash yet.
pub(crate) fn scan_once(root: &Path, hashed: &Hashed) -> io::Result<Vec<Node>> {
    let mut nodes = Vec::new();
    let mut files = Vec::new();
    walk(root, "", &mut nodes, &mut files)?;
    let read: Vec<Node> = files
        .into_par_iter()
        .map(|(path, exec, size, inode)| {
            let known = hashed.0.lock().ok().and_then(|m| m.get(&inode).copied());
            let hash = match known {
                Some((hash, known_size)) if known_size == size => hash,
                _ => {
                    let hash = hash_file(&root.join(&path), size)?;
                    if let Ok(mut m) = hashed.0.lock() {
                        m.insert(inode, (hash, size));
                    }
                    hash
                }
            };
            Ok(Node {
                path,
                kind: Kind::File { exec, size, hash },
            })
        })
        .collect::<io::Result<_>>()?;
    nodes.extend(read);
    Ok(nodes)
}

fn walk(
    dir: &Path,
    prefix: &str,
    nodes: &mut Vec<Node>,
    files: &mut Vec<(String, bool, u64, (u64, u64))>,
) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_str().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("non-UTF-8 name in {}", dir.display()),
            )
        })?;
        let path = if prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{prefix}/{name}")
        };
        let meta = entry.metadata()?;
        let ft = meta.file_type();
        if ft.is_symlink() {
            let target = fs::read_link(entry.path())?;
            let target = target
                .to_str()
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("non-UTF-8 symlink {path}"),
                    )
                })?
                .to_owned();
            nodes.push(Node {
                path,
                kind: Kind::Symlink { target },
            });
        } else if ft.is_dir() {
            walk(&entry.path(), &path, nodes, files)?;
            nodes.push(Node {
                path,
                kind: Kind::Dir,
            });
        } else if ft.is_file() {
            files.push((
                path,
                meta.permissions().mode() & 0o111 != 0,
                meta.len(),
                (meta.dev(), meta.ino()),
            ));
        } else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{path} is not a file, directory or symlink"),
            ));
        }
    }
    Ok(())
}

/// blake3 of one file's contents, which must be `size` bytes long from start to end of the read
/// (a file that changes size meanwhile is an error naming it).
pub(crate) fn hash_file(path: &Path, size: u64) -> io::Result<[u8; 32]> {
    let mut file = fs::File::open(path)?;
    let mut h = blake3::Hasher::new();
    let mut buf = vec![0u8; PIECE.min(usize::try_from(size).unwrap_or(PIECE)).max(1)];
    let mut total: u64 = 0;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        total += n as u64;
        if total > size {
            break;
        }
        if n >= PIECE / 2 {
            h.update_rayon(&buf[..n]);
        } else {
            h.update(&buf[..n]);
        }
    }
    if total != size {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} changed size while it was read ({size} bytes listed, {}{total} read)",
                path.display(),
                if total > size { "over " } else { "" }
            ),
        ));
    }
    Ok(*h.finalize().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn digest_is_order_independent_and_sensitive() {
        let f = |p: &str, exec| Node {
            path: p.into(),
            kind: Kind::File {
                exec,
                size: 1,
                hash: [7; 32],
            },
        };
        let mut a = vec![
            f("bin/python3", true),
            Node {
                path: "bin".into(),
                kind: Kind::Dir,
            },
        ];
        let mut b = vec![
            Node {
                path: "bin".into(),
                kind: Kind::Dir,
            },
            f("bin/python3", true),
        ];
        assert_eq!(digest(&mut a), digest(&mut b));
        let mut c = vec![
            Node {
                path: "bin".into(),
                kind: Kind::Dir,
            },
            f("bin/python3", false),
        ];
        assert_ne!(
            digest(&mut a),
            digest(&mut c),
            "the exec bit is part of the digest"
        );
    }

    #[test]
    fn an_index_reads_back_its_nodes_vouches_for_itself_and_diffs_by_content() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("lib/pkg")).unwrap();
        fs::write(root.join("lib/pkg/a.py"), b"A = 1\n").unwrap();
        fs::write(root.join("lib/pkg/b.py"), b"B = 1\n").unwrap();
        fs::write(root.join("lib/c.py"), b"C = 1\n").unwrap();
        symlink("pkg/a.py", root.join("lib/link")).unwrap();
        let mut installed = scan(root).unwrap();
        let d = digest(&mut installed);
        let blob = index(&mut installed);
        let mut recorded = read_index(&blob, &d).unwrap();
        assert_eq!(recorded, installed);
        assert_eq!(read_index(&blob, &"0".repeat(64)), None, "another digest");
        let mut raw = zstd::bulk::decompress(&blob, MAX_INDEX).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        assert_eq!(
            read_index(&zstd::bulk::compress(&raw, 3).unwrap(), &d),
            None,
            "an altered index"
        );
        // Same size, same times: only the contents tell `b.py` changed.
        fs::write(root.join("lib/pkg/b.py"), b"B = 2\n").unwrap();
        fs::remove_file(root.join("lib/c.py")).unwrap();
        fs::write(root.join("lib/new.py"), b"").unwrap();
        let mut found = scan(root).unwrap();
        assert_eq!(
            diff(&mut recorded, &mut found),
            Diff {
                changed: vec!["lib/pkg/b.py".into()],
                missing: vec!["lib/c.py".into()],
                added: vec!["lib/new.py".into()],
            }
        );
        assert_eq!(
            diff(&mut installed.clone(), &mut installed),
            Diff::default()
        );
    }

    #[test]
    fn scan_matches_a_hand_built_tree() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("lib/empty")).unwrap();
        fs::write(root.join("lib/a.txt"), b"hello").unwrap();
        let big = vec![3u8; 3 << 20];
        fs::write(root.join("big"), &big).unwrap();
        fs::set_permissions(root.join("big"), fs::Permissions::from_mode(0o755)).unwrap();
        symlink("lib/a.txt", root.join("link")).unwrap();
        let mut scanned = scan(root).unwrap();
        let mut expected = vec![
            Node {
                path: "lib".into(),
                kind: Kind::Dir,
            },
            Node {
                path: "lib/empty".into(),
                kind: Kind::Dir,
            },
            Node {
                path: "lib/a.txt".into(),
                kind: Kind::File {
                    exec: false,
                    size: 5,
                    hash: *blake3::hash(b"hello").as_bytes(),
                },
            },
            Node {
                path: "big".into(),
                kind: Kind::File {
                    exec: true,
                    size: big.len() as u64,
                    hash: *blake3::hash(&big).as_bytes(),
                },
            },
            Node {
                path: "link".into(),
                kind: Kind::Symlink {
                    target: "lib/a.txt".into(),
                },
            },
        ];
        assert_eq!(digest(&mut scanned), digest(&mut expected));
        assert_eq!(scanned, expected);
        assert_eq!(
            totals(&scanned),
            Totals {
                files: 2,
                bytes: 5 + (3 << 20)
            }
        );
    }
}

//! The member rules: what a name, a link target and a modification time must be for a member
//! to be unpacked. Written by hand on purpose: these are the security boundary of the unpacker,
//! and every rule is named in the error it produces (see the hostile-archive corpus).

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use super::{ArchiveError, Layout, unsafe_member};
use crate::ground::tree::{Kind, Node};

/// Bytes a member name (or link target) may have. python-build-standalone's longest is under
/// 200; with the home's own path in front, a member name near `PATH_MAX` (4095) could not be
/// created or deleted by absolute path (issue 25).
pub(super) const MAX_PATH: usize = 1024;
pub(super) const MAX_NAME: usize = 255;
/// Components a member path may have (python-build-standalone's deepest is about 12): a deeper
/// tree only serves to exhaust descriptors or reach `PATH_MAX` when it is walked or deleted.
pub(super) const MAX_DEPTH: usize = 64;

/// Where an archive member belongs.
pub(super) enum Place {
    /// The runtime root itself (`python/`, `python/install/`).
    Root,
    /// Metadata of the `full` layout, not unpacked.
    Metadata,
    /// A path inside the runtime.
    Tree(String),
}

/// Checks a member name and maps it into the runtime tree.
pub(super) fn classify(raw: &[u8]) -> Result<(Place, Option<Layout>), ArchiveError> {
    let shown = String::from_utf8_lossy(raw).into_owned();
    let name = std::str::from_utf8(raw).map_err(|_| unsafe_member(&shown, "name is not UTF-8"))?;
    if name.contains('\0') {
        return Err(unsafe_member(&shown, "name contains a NUL byte"));
    }
    if name.len() > MAX_PATH {
        return Err(unsafe_member(
            &shown,
            format!("name is longer than {MAX_PATH} bytes"),
        ));
    }
    if name.starts_with('/') {
        return Err(unsafe_member(name, "absolute path"));
    }
    let comps: Vec<&str> = name
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    if comps.contains(&"..") {
        return Err(unsafe_member(name, "path contains `..`"));
    }
    if comps.len() > MAX_DEPTH {
        return Err(unsafe_member(
            name,
            format!(
                "path has {} components; more than {MAX_DEPTH} is refused",
                comps.len()
            ),
        ));
    }
    if comps.iter().any(|c| c.len() > MAX_NAME) {
        return Err(unsafe_member(
            name,
            format!("a path component is longer than {MAX_NAME} bytes"),
        ));
    }
    match comps.split_first() {
        None => Err(unsafe_member(name, "empty name")),
        Some((&"python", rest)) => Ok(match rest {
            [] => (Place::Root, None),
            ["install"] => (Place::Root, Some(Layout::Full)),
            ["install", inner @ ..] => (Place::Tree(inner.join("/")), Some(Layout::Full)),
            ["PYTHON.json"] | ["build" | "licenses", ..] => (Place::Metadata, Some(Layout::Full)),
            inner => (Place::Tree(inner.join("/")), Some(Layout::InstallOnly)),
        }),
        Some((top, _)) => Err(ArchiveError::Layout(format!(
            "member `{name}` is outside `python/` (top-level `{top}`)"
        ))),
    }
}

pub(super) fn link_target(link: Option<&[u8]>, shown: &str) -> Result<String, ArchiveError> {
    let raw = link.ok_or_else(|| unsafe_member(shown, "link without a target"))?;
    let target =
        std::str::from_utf8(raw).map_err(|_| unsafe_member(shown, "link target is not UTF-8"))?;
    if target.is_empty() || target.contains('\0') || target.len() > MAX_PATH {
        return Err(unsafe_member(
            shown,
            "link target is empty, too long or contains NUL",
        ));
    }
    Ok(target.to_owned())
}

/// Follows `target` from the directory of `link` through the finished tree (symlinks included,
/// at most 40 hops) and fails if any step climbs above the root.
pub(super) fn resolve_inside(
    nodes: &[Node],
    index: &HashMap<String, usize>,
    link: &str,
    target: &str,
) -> Result<(), String> {
    let mut stack: Vec<String> = link.split('/').map(str::to_owned).collect();
    stack.pop();
    let mut queue: std::collections::VecDeque<String> =
        target.split('/').map(str::to_owned).collect();
    let mut hops = 0;
    while let Some(c) = queue.pop_front() {
        match c.as_str() {
            "" | "." => {}
            ".." => {
                if stack.pop().is_none() {
                    return Err(format!(
                        "symlink to `{target}` points outside the runtime tree"
                    ));
                }
            }
            _ => {
                stack.push(c);
                if let Some(Kind::Symlink { target: next }) =
                    index.get(&stack.join("/")).map(|&i| &nodes[i].kind)
                {
                    hops += 1;
                    if hops > 40 {
                        return Err(format!("symlink to `{target}` loops"));
                    }
                    if next.starts_with('/') {
                        return Err(format!(
                            "symlink to `{target}` goes through an absolute symlink"
                        ));
                    }
                    stack.pop();
                    for part in next.split('/').rev() {
                        queue.push_front(part.to_owned());
                    }
                }
            }
        }
    }
    Ok(())
}

/// The member's ustar modification time (whole seconds, as the bytecode check reads it).
pub(super) fn member_mtime(header: &tar::Header, shown: &str) -> Result<SystemTime, ArchiveError> {
    let secs = header
        .mtime()
        .map_err(|e| ArchiveError::Corrupt(format!("`{shown}`: {e}")))?;
    SystemTime::UNIX_EPOCH
        .checked_add(Duration::from_secs(secs))
        .ok_or_else(|| ArchiveError::Corrupt(format!("`{shown}`: mtime {secs} is out of range")))
}

//! Mirror URL rewriting: archive URLs under the python-build-standalone release prefix are
//! re-pointed at a mirror, refusing names that could escape the mirror's directory.

use super::CatalogueError;

/// Where upstream's archives live; `--mirror` replaces this prefix.
pub(crate) const UPSTREAM_PREFIX: &str =
    "https://github.com/astral-sh/python-build-standalone/releases/download";

/// Whether `path` is plain path segments (no `.`/`..`, no empty segment, no encoded `/`, `\\`
/// or `.`, no query or fragment): joined below a directory URL, it stays below it.
pub(crate) fn plain_path(path: &str) -> bool {
    path.split('/').all(|seg| {
        let lower = seg.to_ascii_lowercase();
        !seg.is_empty()
            && seg != "."
            && seg != ".."
            && !lower.contains("%2f")
            && !lower.contains("%5c")
            && !lower.contains("%2e")
            && seg
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._+-~%".contains(&b))
    })
}

/// `url` with the upstream release prefix replaced by `mirror` (as uv's
/// `UV_PYTHON_INSTALL_MIRROR` does); other URLs are left alone. The part after the prefix comes
/// from the catalogue, so it must be plain path segments (no `.`/`..`, no encoded `/`, `\\` or
/// `.`, no query): with a `file://` mirror it becomes a local path.
pub(crate) fn mirrored(url: &str, mirror: Option<&str>) -> Result<String, CatalogueError> {
    let (Some(m), Some(rest)) = (mirror, url.strip_prefix(UPSTREAM_PREFIX)) else {
        return Ok(url.to_owned());
    };
    let Some(path) = rest.strip_prefix('/') else {
        return Ok(url.to_owned());
    };
    if !plain_path(path) {
        return Err(CatalogueError::UnsafeMirrorPath {
            url: url.to_owned(),
        });
    }
    Ok(format!("{}/{path}", m.trim_end_matches('/')))
}

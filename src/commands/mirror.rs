//! `pyswap mirror DIR REQUEST...`: download and verify builds into a directory and write a
//! catalogue beside them, so that a static web server or a shared directory serves a fleet.

use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::report::Teller;
use super::{Changes, Pre, Verb};
use crate::activation::Ctx;
use crate::catalogue::{self, Entry};
use crate::domain::mirror;
use crate::ground::platform::Platform;
use crate::ground::version::Request;
use crate::interface::output::{Outcome, Output};
use crate::interface::settings::Settings;
use crate::interface::settings::defs::Group;
use crate::network::cache::DownloadCache;
use crate::network::fetch::{DownloadSpec, FetchError, Fetcher, file_url_path};
use crate::storage::lock::{self, Mode};

#[derive(Serialize)]
struct Report {
    dir: String,
    catalogue: String,
    entries: Vec<Mirrored>,
    /// `download-metadata.json.minisig`, when `--sign-key` signed it.
    signature: Option<String>,
}

#[derive(Serialize)]
struct Mirrored {
    key: String,
    path: String,
    url: String,
    sha256: String,
    size: u64,
    /// False when a verified copy was already in the mirror.
    downloaded: bool,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  pyswap mirror /srv/mirror 3.11 3.12   download, verify and write /srv/mirror/download-metadata.json
  pyswap mirror /srv/mirror 3.13 --sign-key /root/pyswap.key   and sign it (download-metadata.json.minisig)
  catalogue = \"https://mirror.example/download-metadata.json\"   in each host's config.toml")]
pub(crate) struct Mirror {
    /// The mirror directory (created if missing; an existing mirror there is extended)
    dir: PathBuf,
    /// One or more requests, as for `switch`
    #[arg(required = true, value_name = "REQUEST")]
    requests: Vec<String>,
    /// Platforms to mirror, as OS-ARCH-LIBC (repeatable) [default: --platform or this host]
    #[arg(long = "for", value_name = "PLATFORM")]
    platforms: Vec<String>,
    /// URL under which DIR will be served, written into the catalogue [default: `file://DIR`]
    #[arg(long, value_name = "URL")]
    base_url: Option<String>,
    /// Write archive URLs relative to the catalogue (`<release>/<archive>`), so that the same
    /// file, and its signature, serves from every host or path it is copied to (regional
    /// mirrors); pyswap resolves them against the catalogue's own URL (uv cannot read them)
    #[arg(long, conflicts_with = "base_url")]
    relative_urls: bool,
    #[command(flatten)]
    pre: Pre,
    /// Sign the catalogue written with this minisign secret key (writes
    /// download-metadata.json.minisig; an encrypted key's password comes from
    /// `PYSWAP_SIGN_PASSWORD` or the terminal)
    #[arg(long, value_name = "FILE")]
    sign_key: Option<PathBuf>,
    #[command(flatten)]
    sign: super::Signature,
}

impl Verb for Mirror {
    fn reads() -> &'static [Group] {
        &[Group::Catalogue, Group::Network, Group::Cache]
    }

    fn changes(&self) -> Changes {
        // Writes the mirror directory, not the home's state the metrics show.
        Changes::NOTHING
    }

    fn run(&self, s: &Settings, out: Output) -> anyhow::Result<Outcome> {
        let platforms = self
            .platforms
            .iter()
            .map(|p| Platform::parse(p))
            .collect::<Result<Vec<_>, _>>()?;
        let dir = std::path::absolute(&self.dir)?;
        let signing = self.sign_key.as_deref().map(|k| self.sign.with(k));
        let urls = if self.relative_urls {
            Urls::Relative
        } else {
            Urls::Base(self.base_url.as_deref())
        };
        let wanted = Wanted {
            requests: &self.requests,
            platforms: &platforms,
            pre: self.pre.pre,
        };
        run(s, out, &dir, &wanted, urls, signing.as_ref())
    }
}

/// The builds a mirror run adds: each request on each platform.
struct Wanted<'a> {
    requests: &'a [String],
    /// Empty: the host's.
    platforms: &'a [Platform],
    /// Pre-releases may satisfy a request.
    pre: bool,
}

/// How the catalogue names the archives.
#[derive(Clone, Copy)]
enum Urls<'a> {
    /// Absolute, under this URL (`None`: `file://DIR`).
    Base(Option<&'a str>),
    /// Relative to the catalogue.
    Relative,
}

/// A catalogue keys its entries by version and platform (upstream's format): one build each.
/// Another build of a version already mirrored (`old`, its catalogue entry) takes its place:
/// said so.
fn warn_replaced(out: Output, dir: &Path, entry: &Entry, old: &serde_json::Value) {
    let field = |name: &str| old.get(name).and_then(|v| v.as_str()).unwrap_or("?");
    if Some(field("sha256")) == entry.sha256.as_deref() {
        return;
    }
    out.warn(&format!(
        "{}: build {} replaces build {} in the mirror's catalogue, which lists one build per version and platform as upstream's does (the older archive stays in {}); to serve both builds, mirror the older one into another directory",
        entry.key,
        entry.build.as_deref().unwrap_or("?"),
        field("build"),
        dir.display()
    ));
}

fn run(
    s: &Settings,
    out: Output,
    dir: &Path,
    wanted: &Wanted<'_>,
    urls: Urls<'_>,
    signing: Option<&crate::catalogue::trust::Signing<'_>>,
) -> anyhow::Result<Outcome> {
    let tell = Teller::new(out, &s.home);
    let cx = Ctx { s, tell: &tell };
    let requests: Vec<Request> = wanted
        .requests
        .iter()
        .map(|r| Request::parse(r))
        .collect::<Result<_, _>>()?;
    let platforms = if wanted.platforms.is_empty() {
        vec![s.platform()?]
    } else {
        wanted.platforms.to_vec()
    };
    s.home.create()?;
    let fetcher = super::fetcher(s, out);
    let catalogue = crate::activation::load_catalogue(cx, &fetcher, None, false)?;
    // Shared like every command that downloads, so that gc never deletes a lock file in use;
    // taken once the catalogue is read (a slow catalogue server must not hold off gc).
    let _gc = super::gc_shared_lock(s, out)?;
    let entries = entries_for(&catalogue, &requests, &platforms, wanted.pre)?;
    let mirror_dir = mirror::MirrorDir::open(dir)?;
    let mut published = mirror_dir.load()?;
    let base = match urls {
        Urls::Base(b) => Some(mirror::base_url(dir, b)?),
        Urls::Relative => None,
    };
    let cache = s.download_cache();
    let mut report = Report {
        dir: dir.display().to_string(),
        catalogue: String::new(),
        entries: Vec::new(),
        signature: None,
    };
    for entry in entries {
        let (rel_url, target, size, downloaded) =
            mirror_one(s, out, &fetcher, &cache, &mirror_dir, entry)?;
        let sha256 = entry.sha256.clone().unwrap_or_default();
        let url = match &base {
            Some(base) => base
                .join(&rel_url)
                .map_err(|_| mirror::MirrorError::BaseUrl(base.to_string()))?
                .to_string(),
            None => rel_url.clone(),
        };
        if let Some(old) = published.get(&entry.key) {
            warn_replaced(out, dir, entry, old);
        }
        published.insert(entry.key.clone(), entry.to_json(&url, Some(size)));
        out.say(&format!(
            "{}: {} {}",
            entry.key,
            if downloaded {
                "mirrored to"
            } else {
                "already mirrored at"
            },
            target.display()
        ));
        report.entries.push(Mirrored {
            key: entry.key.clone(),
            path: target.display().to_string(),
            url,
            sha256,
            size,
            downloaded,
        });
    }
    let (path, bytes) = mirror_dir.save(&published)?;
    out.say(&format!(
        "wrote {} ({} entries); point hosts at it with --catalogue",
        path.display(),
        published.len()
    ));
    report.catalogue = path.display().to_string();
    if let Some(how) = signing {
        report.signature = Some(sign(out, &mirror_dir, &path, &bytes, how)?);
    }
    Outcome::of(&report)
}

/// The catalogue entries the requests resolve to on each platform, each once.
fn entries_for<'c>(
    catalogue: &'c catalogue::Catalogue,
    requests: &[Request],
    platforms: &[Platform],
    pre: bool,
) -> anyhow::Result<Vec<&'c Entry>> {
    let mut entries: Vec<&Entry> = Vec::new();
    for r in requests {
        for p in platforms {
            let e = catalogue.resolve(r, p, pre)?;
            if !entries.iter().any(|x| x.key == e.key) {
                entries.push(e);
            }
        }
    }
    Ok(entries)
}

/// Signs the mirror's catalogue (`path`, whose text is `bytes`) with `how`, its version above
/// the signature there before; returns the signature's path.
fn sign(
    out: Output,
    mirror_dir: &mirror::MirrorDir,
    path: &Path,
    bytes: &[u8],
    how: &crate::catalogue::trust::Signing<'_>,
) -> anyhow::Result<String> {
    let before = mirror_dir.signature()?;
    let (text, comment) = crate::catalogue::trust::sign_bytes(
        &path.display().to_string(),
        bytes,
        before.as_deref(),
        how,
    )?;
    let sig = mirror_dir.write(
        &format!("{}.minisig", mirror::CATALOGUE_FILE),
        text.as_bytes(),
    )?;
    out.say(&format!(
        "signed it: {} ({})",
        sig.display(),
        comment.text()
    ));
    Ok(sig.display().to_string())
}

/// Downloads `spec` into a temporary file of `release` (the directory `parent`, opened), and
/// returns its name. The temporary files of tries that failed (a wrong sha256, a retry) are
/// removed, so nothing is left behind in the mirror.
fn download_into(
    fetcher: &Fetcher,
    spec: &DownloadSpec,
    progress: &std::sync::Arc<dyn crate::network::fetch::Progress>,
    release: &std::os::fd::OwnedFd,
    file_name: &str,
    parent: &Path,
) -> anyhow::Result<(String, crate::network::fetch::Downloaded)> {
    let made: std::cell::RefCell<Vec<String>> = std::cell::RefCell::new(Vec::new());
    let outcome = fetcher.download(spec, progress, |r| {
        let (mut f, tmp) = crate::ground::nofollow::temp_file(release, file_name)?;
        made.borrow_mut().push(tmp.clone());
        io::copy(r, &mut f).and_then(|_| f.sync_all())?;
        Ok::<_, io::Error>(tmp)
    });
    let kept = match &outcome {
        Ok((Ok(tmp), _)) => Some(tmp.clone()),
        _ => None,
    };
    for tmp in made.into_inner() {
        if Some(&tmp) != kept.as_ref() {
            crate::ground::nofollow::discard(release, &tmp);
        }
    }
    let (copied, done) = outcome?;
    let tmp = copied.map_err(|error| FetchError::Write {
        url: spec.url.clone(),
        path: parent.to_owned(),
        error,
    })?;
    Ok((tmp, done))
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> mirror::MirrorError {
    let path = path.to_owned();
    move |error| mirror::MirrorError::Io { path, error }
}

/// Puts one entry's verified archive into the mirror (unless a verified copy is there).
/// Returns its URL path relative to the mirror, its path, its size, and whether it was fetched.
fn mirror_one(
    s: &Settings,
    out: Output,
    fetcher: &Fetcher,
    cache: &DownloadCache,
    dir: &mirror::MirrorDir,
    entry: &Entry,
) -> anyhow::Result<(String, PathBuf, u64, bool)> {
    let sha256 = entry
        .sha256
        .clone()
        .ok_or_else(|| crate::domain::install::InstallError::NoDigest(entry.key.clone()))?;
    let (rel_url, rel_path) = mirror::layout(entry)?;
    let target = dir.path.join(&rel_path);
    let parent = target.parent().unwrap_or(&dir.path).to_owned();
    let file_name = rel_path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| mirror::MirrorError::UnsafeName {
            url: entry.url.clone(),
            segment: String::new(),
        })?
        .to_owned();
    // Every directory on the way reached through the one above, no symlink followed.
    let release = dir.subdir(rel_path.parent().unwrap_or(Path::new("")))?;
    let progress = out.progress(&entry.key);
    let source_url = catalogue::mirrored(&entry.url, s.downloads.mirror.as_deref())?;
    // The same lock as `install` holds for this archive: one writer of its partial download.
    let _entry_lock = lock::acquire(
        &s.home.locks().join(format!("entry-{sha256}.lock")),
        Mode::Exclusive,
        s.lock_wait,
        &|| {
            out.say(&format!(
                "waiting for another pyswap command fetching {}…",
                entry.key
            ));
        },
    )?;
    let verify = |path: &Path| {
        let spec = DownloadSpec {
            url: source_url.clone(),
            sha256: sha256.clone(),
            size: None,
            partial: None,
            local: Some(path.to_owned()),
        };
        path.is_file()
            && fetcher
                .download(&spec, &progress, |r| io::copy(r, &mut io::sink()))
                .is_ok()
    };
    // A copy already there is read through the release directory's descriptor, and only when
    // it is a regular file (a link planted there is replaced below, never read or followed).
    if let Some(present) = mirror::regular_in(&release, &file_name)
        && verify(&present)
    {
        let size = present.metadata().map_err(io_err(&target))?.len();
        return Ok((rel_url, target, size, false));
    }
    let cached = cache.lookup(&sha256);
    if cached.as_deref().is_some_and(|c| !verify(c)) {
        cache.evict(&sha256);
    }
    let remote = file_url_path(&source_url).is_none();
    let spec = DownloadSpec {
        url: source_url.clone(),
        sha256: sha256.clone(),
        size: entry.size,
        partial: if remote {
            Some(cache.partial(&sha256)?)
        } else {
            None
        },
        local: cache.lookup(&sha256),
    };
    let (tmp, done) = download_into(fetcher, &spec, &progress, &release, &file_name, &parent)?;
    crate::ground::nofollow::publish(&release, &tmp, &file_name).map_err(|e| {
        crate::ground::nofollow::discard(&release, &tmp);
        io_err(&target)(e)
    })?;
    if remote && spec.local.is_none() {
        cache.admit(&sha256)?;
    }
    Ok((rel_url, target, done.bytes, true))
}

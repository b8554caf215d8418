//! What pyswap prints: data on stdout (tables, `--json` documents), talk on stderr (progress,
//! notes, warnings). Progress bars (indicatif) only when stderr is a terminal and neither
//! `--quiet` nor `--json` is given.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use std::sync::{Arc, OnceLock};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::network::fetch::{NoProgress, Progress, Via};

/// Standard output could not be written (`> /dev/full`, a closed pipe): the fault of where the
/// output goes, never of the home's disk.
#[derive(Debug, thiserror::Error)]
#[error("cannot write to standard output")]
pub(crate) struct StdoutError(#[source] pub std::io::Error);

crate::ground::exit::register!(StdoutError);
impl crate::ground::exit::Reason for StdoutError {
    fn status(&self) -> crate::ground::exit::ExitStatus {
        crate::ground::exit::ExitStatus::Failure
    }

    fn help(&self) -> Option<std::borrow::Cow<'static, str>> {
        Some("what stdout is redirected to cannot take it (a full disk there, a closed reader); the command's work itself is unaffected".into())
    }
}

/// What a command hands back to `main`: its one JSON document, printed under `--json` (human
/// output was written as the command went). A command that fails after producing its document
/// (verify with problems left, an install with failed requests) returns [`Outcome::failed`].
#[derive(Debug, Default)]
#[must_use]
pub struct Outcome {
    pub document: Option<serde_json::Value>,
}

impl Outcome {
    /// No document (`--json` then prints `null` only for an error; see `main`).
    pub(crate) fn none() -> Self {
        Self::default()
    }

    /// The command's document.
    pub(crate) fn of<T: Serialize>(value: &T) -> anyhow::Result<Self> {
        Ok(Self {
            document: Some(serde_json::to_value(value)?),
        })
    }

    /// Adds `key` to the document (an object), for something that went wrong after the
    /// command's own work (`metrics_error`).
    pub(crate) fn annotate(&mut self, key: &str, value: serde_json::Value) {
        if let Some(serde_json::Value::Object(map)) = &mut self.document {
            map.insert(key.to_owned(), value);
        }
    }

    /// The command failed with `error` after producing this document: `main` prints the
    /// document with the error inside.
    pub(crate) fn failed(self, error: impl Into<anyhow::Error>) -> anyhow::Error {
        let error = error.into();
        match self.document {
            Some(document) => Documented { document, error }.into(),
            None => error,
        }
    }
}

/// An error that comes with the document of the command that failed ([`Outcome::failed`]).
/// It shows, and classifies, as the error it carries.
#[derive(Debug)]
pub struct Documented {
    pub document: serde_json::Value,
    error: anyhow::Error,
}

/// Shows as the error it carries, and its sources are that error's: the chain reads as if the
/// document were not there.
impl std::fmt::Display for Documented {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&*self.error, f)
    }
}

impl std::error::Error for Documented {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

crate::ground::exit::register!(Documented);
impl crate::ground::exit::Reason for Documented {
    fn status(&self) -> crate::ground::exit::ExitStatus {
        crate::ground::exit::classify(&self.error)
    }

    fn help(&self) -> Option<std::borrow::Cow<'static, str>> {
        crate::ground::exit::help(&self.error)
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Output {
    pub(crate) json: bool,
    pub(crate) quiet: bool,
    pub(crate) progress: bool,
}

impl Output {
    pub(crate) fn new(json: bool, quiet: bool) -> Self {
        Self {
            json,
            quiet,
            progress: !json && !quiet && std::io::stderr().is_terminal(),
        }
    }

    /// A note for the person at the terminal (stderr); silent under `--quiet` and `--json`.
    pub(crate) fn say(self, msg: &str) {
        if !self.quiet && !self.json {
            eprintln!("{}", crate::ground::text::printable_line(msg));
        }
    }

    /// A warning (stderr); silent only under `--quiet`.
    pub(crate) fn warn(self, msg: &str) {
        if !self.quiet {
            eprintln!("warning: {}", crate::ground::text::printable_line(msg));
        }
    }

    /// Warnings that may come by the thousand (one per bad catalogue entry): the first few, then
    /// how many more there were.
    pub(crate) fn warn_all(self, warnings: &[String]) {
        const SHOWN: usize = 5;
        for w in warnings.iter().take(SHOWN) {
            self.warn(w);
        }
        if warnings.len() > SHOWN {
            self.warn(&format!(
                "… and {} more warnings like these",
                warnings.len() - SHOWN
            ));
        }
    }

    /// Human data on stdout (skipped under `--json`).
    pub(crate) fn data(self, text: &str) -> Result<(), StdoutError> {
        if self.json {
            return Ok(());
        }
        let mut out = std::io::stdout().lock();
        out.write_all(crate::ground::text::printable_lines(text).as_bytes())
            .and_then(|()| out.flush())
            .map_err(StdoutError)
    }

    /// A warning that `--quiet` does not hide either: something an unattended run must not
    /// lose silently.
    #[expect(
        clippy::unused_self,
        reason = "a method beside say and warn, though no flag hides it"
    )]
    pub(crate) fn alert(self, msg: &str) {
        eprintln!("warning: {}", crate::ground::text::printable_line(msg));
    }

    /// How a download of `label` (a catalogue key) is shown: a line when it starts saying where
    /// the bytes come from (with the size when known) unless `--quiet` or `--json`, a bar while
    /// it runs and each later phase on one line when stderr is a terminal. All bars of a run
    /// share one display, so parallel downloads show one bar each.
    pub(crate) fn progress(self, label: &str) -> Arc<dyn Progress> {
        let bar = self.progress.then(|| {
            // Styled from its first frame, and no length until the download starts: no `0/0`.
            display().add(
                ProgressBar::no_length()
                    .with_style(bar_style(None, false))
                    .with_message(short(label).to_owned()),
            )
        });
        if bar.is_none() && (self.quiet || self.json) {
            return Arc::new(NoProgress);
        }
        Arc::new(Download {
            label: label.to_owned(),
            out: self,
            announced: std::sync::atomic::AtomicBool::new(false),
            bar,
            phase: std::sync::Mutex::new(None),
        })
    }
}

/// The one display of every bar of a run.
fn display() -> &'static MultiProgress {
    static DISPLAY: OnceLock<MultiProgress> = OnceLock::new();
    DISPLAY.get_or_init(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
}

/// What a bar calls a catalogue key: its version part (`3.12.3`, `3.13.0+freethreaded`), which
/// fits beside the bar at 80 columns; the whole key was printed on the line above it.
fn short(key: &str) -> &str {
    key.split('-').nth(1).unwrap_or(key)
}

/// How a download's bar looks: before it starts (`started` false) only its label; then the
/// label, a bar of fixed width, sizes in KiB/MiB, the rate and the time left, each in a field of
/// fixed width (nothing moves from one frame to the next). The fixed part is 55 columns, so the
/// label (`3.12.3+freethreaded` at most) is whole at 80.
fn bar_style(total: Option<u64>, started: bool) -> ProgressStyle {
    let template = match (started, total) {
        (false, _) => "{wide_msg}",
        (true, Some(_)) => {
            "{wide_msg} {bar:16} {binary_bytes:>9}/{binary_total_bytes:<9} {binary_bytes_per_sec:>12} {eta:>4}"
        }
        (true, None) => "{wide_msg} {spinner} {binary_bytes:>9} {binary_bytes_per_sec:>12}",
    };
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// A download as the person at the terminal sees it.
struct Download {
    label: String,
    out: Output,
    announced: std::sync::atomic::AtomicBool,
    bar: Option<ProgressBar>,
    /// The line that shows the phase after the download, once there is one.
    phase: std::sync::Mutex<Option<ProgressBar>>,
}

impl Download {
    /// The line saying where the bytes come from: only what really happens (a cache hit or a
    /// `file://` mirror is no download).
    fn announcement(&self, total: Option<u64>, via: Via<'_>) -> String {
        let size = |t: u64| crate::ground::text::human_bytes(t);
        let of = total.map(|t| format!(" ({})", size(t))).unwrap_or_default();
        match via {
            Via::Network => format!("downloading {}{of}", self.label),
            Via::Resumed(have) => format!(
                "resuming the download of {} at {}{of}",
                self.label,
                size(have)
            ),
            Via::Path(path) => format!("reading {} from {}{of}", self.label, path.display()),
        }
    }
}

impl Progress for Download {
    fn start(&self, total: Option<u64>, via: Via<'_>) {
        if !self
            .announced
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            let line = self.announcement(total, via);
            match &self.bar {
                Some(bar) => bar.println(line),
                None => self.out.say(&line),
            }
        }
        if let Some(bar) = &self.bar {
            if let Some(t) = total {
                bar.set_length(t);
            }
            bar.set_style(bar_style(total, true));
            bar.set_position(0);
            bar.reset_eta();
            bar.enable_steady_tick(Duration::from_millis(120));
        }
    }
    fn advance(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }
    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
    fn phase(&self, what: &str) {
        if !self.out.progress {
            return;
        }
        let Ok(mut phase) = self.phase.lock() else {
            return;
        };
        let line = phase.get_or_insert_with(|| {
            let line = display().add(
                ProgressBar::new_spinner().with_style(
                    ProgressStyle::with_template("{spinner} {wide_msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                ),
            );
            line.enable_steady_tick(Duration::from_millis(120));
            line
        });
        line.set_message(format!("{}: {what}", short(&self.label)));
    }
}

impl Drop for Download {
    fn drop(&mut self) {
        if let Ok(mut phase) = self.phase.lock()
            && let Some(line) = phase.take()
        {
            line.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod progress_tests {
    use indicatif::{InMemoryTerm, ProgressBar, ProgressDrawTarget};

    /// Draws a bar in `style` on a terminal `cols` wide; the screen's lines.
    fn screen(cols: u16, total: Option<u64>, started: bool, at: u64) -> Vec<String> {
        let term = InMemoryTerm::new(4, cols);
        let bar = ProgressBar::with_draw_target(
            total,
            ProgressDrawTarget::term_like(Box::new(term.clone())),
        )
        .with_style(super::bar_style(total, started))
        .with_message(super::short("cpython-3.12.3+freethreaded-linux-x86_64-gnu").to_owned());
        bar.set_position(at);
        bar.tick();
        term.contents().lines().map(str::to_owned).collect()
    }

    // Issue 27; issue 37 (item 11): the label whole at 80 columns, nothing moves.
    #[test]
    fn the_bar_fits_sixty_columns_and_its_first_frame_is_styled() {
        let waiting = screen(60, None, false, 0);
        assert_eq!(waiting[0].trim_end(), "3.12.3+freethreaded");
        assert!(!waiting.iter().any(|l| l.contains("0/0")), "{waiting:?}");
        for cols in [60, 80, 120] {
            let lines = screen(cols, Some(25 << 20), true, 12 << 20);
            let drawn: Vec<&String> = lines.iter().filter(|l| !l.trim().is_empty()).collect();
            assert_eq!(drawn.len(), 1, "one line at {cols} columns: {lines:?}");
            assert!(drawn[0].contains("12.00 MiB/25.00 MiB"), "{drawn:?}");
            assert!(drawn[0].starts_with("3.12"), "{drawn:?}");
            if cols >= 80 {
                assert!(drawn[0].starts_with("3.12.3+freethreaded "), "{drawn:?}");
            }
        }
        // The same columns from the first kibibyte to the last: the sizes' slash never moves.
        let slash = |at: u64| {
            let lines = screen(80, Some(25 << 20), true, at);
            lines.iter().find_map(|l| l.find('/')).unwrap()
        };
        let first = slash(1 << 10);
        for at in [9 << 20, 12 << 20, (25 << 20) - 1] {
            assert_eq!(slash(at), first, "the bar moved at {at} bytes");
        }
    }

    #[test]
    fn a_download_says_where_its_bytes_come_from() {
        let d = super::Download {
            label: "cpython-3.12.3-linux-x86_64-gnu".into(),
            out: super::Output::default(),
            announced: std::sync::atomic::AtomicBool::new(false),
            bar: None,
            phase: std::sync::Mutex::new(None),
        };
        let path = std::path::Path::new("/var/lib/pyswap/cache/archives/ab.tar.gz");
        assert_eq!(
            d.announcement(Some(3 << 20), super::Via::Path(path)),
            "reading cpython-3.12.3-linux-x86_64-gnu from /var/lib/pyswap/cache/archives/ab.tar.gz (3.0 MiB)"
        );
        assert_eq!(
            d.announcement(Some(3 << 20), super::Via::Network),
            "downloading cpython-3.12.3-linux-x86_64-gnu (3.0 MiB)"
        );
        assert!(
            d.announcement(None, super::Via::Resumed(1 << 20))
                .starts_with("resuming the download of")
        );
    }
}

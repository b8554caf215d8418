//! How the commands word what an activation did, or tells as it goes: the human lines of
//! `switch`, `upgrade` and `rollback` (their documents are the activation's data, serialized),
//! and [`Teller`], the [`Tell`] a command hands a workflow. A workflow prints nothing itself.

use std::sync::Arc;

use crate::activation::{Event, Following, MinorChange, NextImport, Switched, Tell};
use crate::catalogue::cache::human_age;
use crate::domain::venv::Update;
use crate::ground::text::{count, plural};
use crate::ground::version::label;
use crate::interface::output::{Outcome, Output};
use crate::network::fetch::Progress;
use crate::storage::home::Home;

/// Words a workflow's events on a command's output.
pub(crate) struct Teller<'a> {
    out: Output,
    home: &'a Home,
}

impl<'a> Teller<'a> {
    pub(crate) fn new(out: Output, home: &'a Home) -> Self {
        Self { out, home }
    }
}

impl Tell for Teller<'_> {
    fn tell(&self, event: Event<'_>) {
        let out = self.out;
        match event {
            Event::CatalogueCopy {
                url,
                age,
                why,
                expected,
            } => {
                let note = format!(
                    "using the copy of catalogue {url} cached {} ago ({why})",
                    human_age(age)
                );
                if expected {
                    out.say(&note);
                } else {
                    out.warn(&note);
                }
            }
            Event::SkippedEntries(lines) => out.warn_all(lines),
            Event::SignatureNotRecorded(why) => out.warn(&format!(
                "cannot record the accepted catalogue signature: {why}"
            )),
            Event::ResolvingInstalled { why, request } => out.warn(&format!(
                "{why}; resolving `{request}` among the runtimes already installed"
            )),
            Event::InstallNote(note) => out.say(note),
            Event::Installed {
                key,
                installed,
                took,
            } => out.say(&installed.said(key, took)),
            Event::WaitingForProfile { profile } => out.say(&format!(
                "waiting for another pyswap command changing profile `{profile}`…"
            )),
            Event::MovedAside { link, aside } => out.warn(&format!(
                "{} was not a profile link; moved it to {} (pyswap deletes nothing it did not make)",
                link.display(),
                aside.display()
            )),
            Event::PutBack { profile, what } => out.warn(&format!(
                "profile `{profile}`: {what} was missing or altered; put back"
            )),
            Event::VenvsNotMoved { profile, why } => out.warn(&format!(
                "the venvs of profile `{profile}` were not moved: {why}; the next switch or `pyswap venv list` tries again"
            )),
            Event::VenvsUnreadable { why } => out.warn(&format!(
                "the venvs a switch would move could not be read: {why}"
            )),
            Event::AlreadyAt {
                profile,
                generation,
            } => out.say(&format!(
                "profile `{profile}` is already at generation {generation}"
            )),
            Event::Returned {
                profile,
                from,
                to,
                label,
            } => out.say(&format!(
                "profile `{profile}`: generation {} -> {to} (CPython {label})",
                from.map_or_else(|| "(none)".to_owned(), |n| n.to_string()),
            )),
            Event::MinorChanged {
                profile,
                change,
                ahead,
            } => self.minor_change(profile, change, ahead),
            Event::StillRunning {
                processes,
                generation,
            } => self.still_running(processes, generation),
            Event::Following(following) => self.following(following),
            Event::Venvs { updates, ahead } => self.venvs(updates, ahead),
        }
    }

    fn progress(&self, key: &str) -> Arc<dyn Progress> {
        self.out.progress(key)
    }
}

impl Teller<'_> {
    /// Says what `switch` or `upgrade` did (or would do), and returns its document.
    pub(crate) fn switched(&self, doc: &Switched) -> anyhow::Result<Outcome> {
        let out = self.out;
        let how = if doc.installed {
            "installed and validated"
        } else {
            "already in the store"
        };
        for what in &doc.repaired {
            self.tell(Event::PutBack {
                profile: &doc.profile,
                what,
            });
        }
        let runtime = label(&doc.version, &doc.variant, doc.build.as_deref());
        if doc.dry_run {
            let what = if doc.changed {
                format!(
                    "would switch profile `{}` to generation {}: CPython {runtime}{}",
                    doc.profile,
                    doc.generation,
                    if doc.installed {
                        " (to be installed)"
                    } else {
                        ""
                    }
                )
            } else {
                format!(
                    "profile `{}` is already at CPython {runtime} (generation {}); nothing would change",
                    doc.profile, doc.generation
                )
            };
            out.say(&format!("{what} (dry run: nothing was changed)"));
            self.older_build(doc, true);
            if let Some(c) = &doc.minor_change {
                self.minor_change(&doc.profile, c, true);
            }
            self.effects_ahead(
                doc.previous_runtime_processes,
                doc.previous,
                &doc.following_venv_processes,
                &doc.venvs,
            );
        } else if doc.changed {
            out.say(&format!(
                "switched profile `{}` to generation {}: CPython {runtime} ({how})",
                doc.profile, doc.generation,
            ));
            self.older_build(doc, false);
            if let Some(c) = &doc.minor_change {
                self.minor_change(&doc.profile, c, false);
            }
            if let Some(n) = doc.previous_runtime_processes.filter(|&n| n > 0) {
                self.still_running(n, doc.previous.unwrap_or_default());
            }
            self.following(&doc.following_venv_processes);
            self.venvs(&doc.venvs, false);
        } else {
            self.venvs(&doc.venvs, false);
            out.say(&format!(
                "profile `{}` is already at CPython {runtime} (generation {}); nothing changed",
                doc.profile, doc.generation
            ));
        }
        Outcome::of(doc)
    }

    /// Says that the runtime is an older build of the version it replaces (a build request).
    fn older_build(&self, doc: &Switched, ahead: bool) {
        if let Some(newer) = &doc.older_than_build {
            self.out.say(&format!(
                "{} an older build of CPython {}: it {} build {newer}",
                if ahead { "this would be" } else { "this is" },
                doc.version,
                if ahead { "would replace" } else { "replaced" }
            ));
        }
    }

    /// The warning of a change of minor version, or (`ahead`) of a dry run's.
    fn minor_change(&self, profile: &str, c: &MinorChange, ahead: bool) {
        let (moved, work) = if ahead {
            ("would move", "would no longer work")
        } else {
            ("moved", "no longer work")
        };
        self.out.warn(&format!(
            "profile `{profile}` {moved} from Python {} to {}: venvs made from {} {work} \
             (their packages are built for {}); make venvs that must stay on {} from {}/bin/python3, \
             which follows only {}.x",
            c.from,
            c.to,
            self.home.profiles().join(profile).join("bin").display(),
            c.from,
            c.from,
            c.from_path,
            c.from
        ));
    }

    /// Tells how many running processes still use generation `previous`'s runtime.
    fn still_running(&self, n: u64, previous: u64) {
        self.out.say(&format!(
            "{} still use{} the runtime of generation {previous} and keep{} it until {}; \
             `pyswap ps` lists {}",
            count(n, "running process", "running processes"),
            plural(n, "s", ""),
            plural(n, "s", ""),
            plural(n, "it exits", "they exit"),
            plural(n, "it", "them"),
        ));
    }

    /// What a dry run found a switch would do to running processes and registered venvs.
    pub(crate) fn effects_ahead(
        &self,
        processes: Option<u64>,
        previous: Option<u64>,
        following: &[Following],
        venvs: &[Update],
    ) {
        if let Some(n) = processes.filter(|&n| n > 0) {
            self.out.say(&format!(
                "{} of the runtime of generation {} would keep it until {}; `pyswap ps` lists {}",
                count(n, "running process", "running processes"),
                previous.unwrap_or_default(),
                plural(n, "it exits", "they exit"),
                plural(n, "it", "them"),
            ));
        }
        if !following.is_empty() {
            self.out.warn("after the switch:");
            self.following(following);
        }
        self.venvs(venvs, true);
    }

    /// Names the processes of venvs that follow the profile, apart, with what they meet and
    /// the command that keeps each venv on one build.
    fn following(&self, following: &[Following]) {
        for what in [NextImport::NewBuild, NextImport::Fails] {
            let these: Vec<&Following> =
                following.iter().filter(|f| f.next_import == what).collect();
            if these.is_empty() {
                continue;
            }
            let n = these.len() as u64;
            let list: Vec<String> = these
                .iter()
                .map(|f| match &f.minor {
                    Some(m) => format!("{} (pid {}, Python {m})", f.venv, f.pid),
                    None => format!("{} (pid {})", f.venv, f.pid),
                })
                .collect();
            let mut venvs: Vec<&str> = these.iter().map(|f| f.venv.as_str()).collect();
            venvs.sort_unstable();
            venvs.dedup();
            let adopt: Vec<String> = venvs
                .iter()
                .map(|v| format!("`pyswap venv adopt {v}`"))
                .collect();
            let (meets, then) = match what {
                NextImport::NewBuild => (
                    format!(
                        "now read{} the new runtime's standard library at {} next import while {} loaded extensions stay the old build's",
                        plural(n, "s", ""),
                        plural(n, "its", "their"),
                        plural(n, "its", "their"),
                    ),
                    "keeps each venv on one build from then on",
                ),
                NextImport::Fails => (
                    format!(
                        "fail{} at {} next import of a standard-library module not loaded yet (ModuleNotFoundError): the path leads to another minor version now",
                        plural(n, "s", ""),
                        plural(n, "its", "their"),
                    ),
                    "puts each venv back on a runtime of its own minor version",
                ),
            };
            self.out.warn(&format!(
                "{} running process{} of venvs made from a profile path {meets}: {}; restart {} after {} ({then})",
                n,
                plural(n, "", "es"),
                list.join(", "),
                plural(n, "it", "them"),
                adopt.join(", "),
            ));
        }
    }

    /// Says what happened to the registered venvs (or, `ahead`, would happen): moves as notes,
    /// the rest as warnings. Runtimes are named by their labels (`3.11.7+20260201`), which type
    /// back; `--json` and `-v` keep entry names.
    pub(crate) fn venvs(&self, updates: &[Update], ahead: bool) {
        if updates.is_empty() {
            return;
        }
        let db = crate::storage::db::Db::open_home_read(self.home)
            .ok()
            .flatten();
        let label = |name: &str| {
            db.as_ref()
                .map_or_else(|| name.to_owned(), |d| d.runtime_label(name))
        };
        for (o, line) in updates
            .iter()
            .zip(crate::domain::venv::describe(updates, &label, ahead))
        {
            if matches!(o.state, "moved" | "returned" | "finished") {
                self.out.say(&line);
            } else {
                self.out.warn(&line);
            }
        }
    }
}

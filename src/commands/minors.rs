//! `pyswap minors [--remove MINOR]`: the profile's per-minor paths. `profiles/<p>@3.11` always
//! leads to the newest generation of 3.11 that was made current, so a venv made from its
//! `bin/python3` follows patch upgrades of 3.11 and never a move to 3.12. Each is a gc root;
//! `--remove` drops one so that gc may delete what only it kept.

use serde::Serialize;

use super::report::Teller;
use super::{Changes, Verb};
use crate::activation::Ctx;
use crate::ground::text::{Column, Table};
use crate::interface::output::{Outcome, Output};
use crate::interface::settings::Settings;
use crate::interface::settings::defs::Group;
use crate::storage::profile::Profiles;

/// One element of `pyswap minors --json` (docs/json.md).
#[derive(Serialize)]
struct Minor {
    #[serde(rename = "minor")]
    tag: String,
    path: String,
    generation: Option<u64>,
    version: Option<String>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Minors {
    /// Remove this minor path (e.g. 3.11), so gc may delete what only it kept
    #[arg(long, value_name = "MINOR")]
    remove: Option<String>,
}

impl Verb for Minors {
    fn reads() -> &'static [Group] {
        &[]
    }

    fn changes(&self) -> Changes {
        Changes::state(self.remove.is_some())
    }

    fn run(&self, s: &Settings, out: Output) -> anyhow::Result<Outcome> {
        run(s, out, self.remove.as_deref())
    }
}

fn run(s: &Settings, out: Output, remove: Option<&str>) -> anyhow::Result<Outcome> {
    let tell = Teller::new(out, &s.home);
    let cx = Ctx { s, tell: &tell };
    let profiles = Profiles::new(s.home.profiles());
    if let Some(minor) = remove {
        crate::storage::db::Db::open_existing_home(&s.home)?;
        let _gc = super::gc_shared_lock(s, out)?;
        let _profile = crate::activation::profile_lock(cx)?;
        if !profiles.remove_minor(&s.profile, minor)? {
            return Err(crate::storage::profile::ProfileError::NoMinor {
                profile: s.profile.clone(),
                minor: minor.to_owned(),
            }
            .into());
        }
        out.say(&format!(
            "removed {}; `pyswap gc` may now delete what only it kept",
            profiles.minor_path(&s.profile, minor).display()
        ));
        return Outcome::of(&serde_json::json!({ "removed": true, "minor": minor }));
    }
    let db = crate::storage::db::Db::open_home_read(&s.home)?;
    let mut list = Vec::new();
    for (p, minor, n) in profiles.minors()? {
        if p != s.profile {
            continue;
        }
        let version = match (&db, n) {
            (Some(db), Some(n)) => db.generation(&p, n)?.map(|g| g.version.to_string()),
            _ => None,
        };
        list.push(Minor {
            path: profiles.minor_path(&p, &minor).display().to_string(),
            tag: minor,
            generation: n,
            version,
        });
    }
    list.sort_by(|a, b| a.tag.cmp(&b.tag));
    if out.json {
        return Outcome::of(&list);
    }
    if list.is_empty() {
        out.say(&format!("profile `{}` has no minor paths yet", s.profile));
    }
    let mut t = Table::headless([
        Column::left("MINOR").min(7),
        Column::left("GENERATION").min(16).gap(" "),
        Column::left("VERSION").min(18).gap(" "),
        Column::left("PATH").gap(" ").elide(),
    ]);
    for m in &list {
        t.row([
            m.tag.clone(),
            format!(
                "generation {}",
                m.generation.map_or_else(|| "-".into(), |g| g.to_string())
            ),
            format!("CPython {}", m.version.as_deref().unwrap_or("?")),
            m.path.clone(),
        ]);
    }
    out.data(&t.render())?;
    Ok(Outcome::none())
}

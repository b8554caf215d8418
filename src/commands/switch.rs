//! `pyswap switch [REQUEST]`: resolve within the version policy, then activate (see
//! `activation`): install if needed, validate, record a generation, swap, health-check, and
//! roll back automatically if that fails.

use super::report::Teller;
use super::{Changes, Force, Pre, Verb};
use crate::activation;
use crate::activation::Ctx;
use crate::ground::version::Request;
use crate::interface::output::{Outcome, Output};
use crate::interface::settings::Settings;
use crate::interface::settings::defs::Group;
use crate::storage::db::Db;
use crate::storage::pin;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  pyswap switch 3.12                  the newest stable 3.12.x the catalogue and policy allow
  pyswap switch '>=3.11,<3.13'        a range (PEP 440)
  pyswap switch 3.12.1+20260101       exactly that build, as `list` prints it (from the store
                                      when it is there: no catalogue needed)
  pyswap switch 3.13t                 the free-threaded build
  pyswap switch 3.13 --dry-run        what would change, and whether venvs would break
  pyswap switch                       the version `.python-version` pins")]
pub(crate) struct Switch {
    /// 3, 3.12, 3.12.4, 3.15.0rc1, >=3.10,<3.12, or a catalogue key; add +freethreaded or +debug for a variant [default: from .python-version in this directory or a parent]
    request: Option<String>,
    #[command(flatten)]
    pre: Pre,
    #[command(flatten)]
    force: Force,
    /// Resolve and report what would happen (the same document and exit status), changing nothing
    #[arg(long)]
    dry_run: bool,
}

impl Verb for Switch {
    fn reads() -> &'static [Group] {
        Group::INSTALLING
    }

    fn changes(&self) -> Changes {
        Changes::attempt("switch", self.dry_run)
    }

    fn run(&self, s: &Settings, out: Output) -> anyhow::Result<Outcome> {
        run(
            s,
            out,
            self.request.as_deref(),
            self.pre.pre,
            self.force,
            self.dry_run,
        )
    }
}

fn run(
    s: &Settings,
    out: Output,
    request: Option<&str>,
    pre: bool,
    force: Force,
    dry_run: bool,
) -> anyhow::Result<Outcome> {
    let tell = Teller::new(out, &s.home);
    let cx = Ctx { s, tell: &tell };
    let request = if let Some(r) = request {
        r.to_owned()
    } else {
        let cwd = std::env::current_dir()?;
        let pin = pin::find(&cwd, &s.home.pin_file())?.ok_or(pin::PinError::Missing(cwd))?;
        out.say(&format!(
            "using `{}` from {}",
            pin.request,
            pin.file.display()
        ));
        pin.request
    };
    let request = Request::parse(&request)?;
    // Outside a window only a command that changes nothing may run: find that out first; when
    // resolution itself fails, the window is the answer unless the request is at fault.
    let mut gate = force.gate(s, out);
    let platform = s.platform()?;
    let fetcher = super::fetcher(s, out);
    // A dry run writes nothing: not even a new home.
    let db = if dry_run {
        Db::open_home_read(&s.home)?
    } else {
        Some(Db::open_home(&s.home)?)
    };
    // The plan is only needed for a dry run or a closed window (a switch with nothing to change
    // may run then); an ordinary switch goes straight to activation.
    let need_plan = dry_run || gate.is_closed();
    let planned = (|| {
        let catalogue = crate::activation::catalogue_for(
            cx,
            db.as_ref(),
            &fetcher,
            &request,
            &platform,
            pre,
            dry_run,
        )?;
        let entry = activation::resolve(s, &catalogue, &request, &platform, pre)?;
        let plan = if need_plan {
            Some(activation::plan(s, db.as_ref(), &entry)?)
        } else {
            None
        };
        anyhow::Ok((entry, plan))
    })();
    let (entry, plan) = gate.found(planned)?;
    gate.pass(plan.as_ref().is_none_or(|p| !p.unchanged))?;
    // The store's shared lock only once the catalogue is read: a slow catalogue server must
    // not hold off gc (issue 25).
    let _gc = if dry_run {
        None
    } else {
        Some(super::gc_shared_lock(s, out)?)
    };
    match db {
        Some(mut db) if !dry_run => tell.switched(&activation::activate(
            cx,
            &mut db,
            &fetcher,
            &entry,
            &request.to_string(),
            "switch",
        )?),
        // A dry run always plans.
        db => plan.map_or(Ok(Outcome::none()), |p| {
            tell.switched(&p.document(cx, &entry, db.as_ref()))
        }),
    }
}

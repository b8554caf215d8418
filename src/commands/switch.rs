//! `pyswap switch [REQUEST]`: resolve within the version policy, then activate (see
//! `activation`): install if needed, validate, record a generation, swap, health-check, and
//! roll back automatically if that fails.

use crate::activation;
use crate::pin;
use crate::settings::Settings;
use crate::version::Request;

pub fn run(s: &Settings, request: Option<&str>, pre: bool, force: bool) -> anyhow::Result<()> {
    let request = if let Some(r) = request {
        r.to_owned()
    } else {
        let cwd = std::env::current_dir()?;
        let pin = pin::find(&cwd, &s.home.pin_file())?.ok_or(pin::PinError::Missing(cwd))?;
        s.out.say(&format!(
            "using `{}` from {}",
            pin.request,
            pin.file.display()
        ));
        pin.request
    };
    let request = Request::parse(&request)?;
    super::within_window(s, force)?;
    let platform = s.platform()?;
    let mut db = super::open_rw(s)?;
    let _gc = super::gc_shared(s)?;
    let fetcher = s.fetcher();
    let catalogue = super::catalogue_for(s, &db, &fetcher, &request, &platform, pre)?;
    let entry = activation::resolve(s, &catalogue, &request, &platform, pre)?;
    let done = activation::activate(s, &mut db, &fetcher, &entry, &request.to_string(), "switch")?;
    done.report(s)
}

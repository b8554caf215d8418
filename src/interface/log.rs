//! Structured logs for operators (`tracing`): off by default; `-v` (info), `-vv` (debug, every
//! step of a command with its time since start, as the crash points pass), `-vvv` (trace), or
//! `PYSWAP_LOG` with `RUST_LOG`-style directives (`debug`, `pyswap=info`). The flag wins over
//! the variable. Logs go to stderr, so they never mix with `--json` on stdout.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::time::Uptime;

use crate::interface::settings::SettingsError;

pub(crate) const ENV: &str = "PYSWAP_LOG";

/// Installs the subscriber asked for by `verbosity` (the count of `-v`) or `PYSWAP_LOG` (read
/// through `env`); installs nothing when neither asks.
pub(crate) fn init(
    verbosity: u8,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), SettingsError> {
    let filter = match verbosity {
        0 => match env(ENV).filter(|v| !v.trim().is_empty()) {
            Some(directives) => EnvFilter::try_new(&directives).map_err(|e| {
                SettingsError(format!("{ENV}: `{directives}` is not a log filter ({e})"))
            })?,
            None => return Ok(()),
        },
        1 => EnvFilter::new("pyswap=info"),
        2 => EnvFilter::new("pyswap=debug"),
        _ => EnvFilter::new("pyswap=trace"),
    };
    // A second init (tests calling twice) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_timer(Uptime::default())
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_filter_names_the_variable() {
        let env = |_: &str| Some("pyswap=loud".to_owned());
        let err = init(0, &env).unwrap_err().to_string();
        assert!(err.starts_with("PYSWAP_LOG: `pyswap=loud`"), "{err}");
    }
}

//! The pyswap binary: parse, run, report. Everything else lives in the library.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use pyswap::cli::Cli;
use pyswap::exit::{self, ExitStatus};

fn main() -> ExitCode {
    pyswap::crash::start_clock();
    pyswap::interrupt::install();
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let json = cli.global.json;
    let result = cli
        .into_parts(&matches)
        .and_then(|(settings, action)| pyswap::commands::run(&settings, action));
    pyswap::crash::timing("done");
    match result {
        Ok(()) => ExitStatus::Success.into(),
        Err(err) if is_broken_pipe(&err) => ExitStatus::Success.into(),
        Err(err) => {
            let interrupted = pyswap::interrupt::received();
            let help = exit::help(&err);
            let message = pyswap::output::printable_line(&format!("{err:#}"));
            let (code, message) = match interrupted {
                // Interrupted during a check: the command undid what it had begun.
                Some(sig) => (
                    u8::try_from(128 + sig).unwrap_or(1),
                    format!("interrupted by {}: {message}", pyswap::interrupt::name(sig)),
                ),
                None => (exit::classify(&err) as u8, message),
            };
            eprintln!("error: {message}");
            if let Some(help) = help {
                eprintln!("help: {help}");
            }
            if json {
                // Under --json a failure is a document too, so a script reads one shape.
                let doc = serde_json::json!({
                    "error": {
                        "message": pyswap::secret::redact_text(&format!("{err:#}")),
                        "help": help,
                        "exit_code": code,
                    }
                });
                println!("{doc:#}");
            }
            ExitCode::from(code)
        }
    }
}

/// `pyswap generations | head` closes our stdout early: not an error.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

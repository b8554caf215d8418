//! The pyswap binary: parse, run, report. Everything else lives in the library.

use std::process::ExitCode;

use clap::Parser;
use pyswap::exit::{self, ExitStatus};

fn main() -> ExitCode {
    let cli = pyswap::cli::Cli::parse();
    let result = cli
        .into_parts()
        .and_then(|(settings, action)| pyswap::commands::run(&settings, action));
    match result {
        Ok(()) => ExitStatus::Success.into(),
        Err(err) if is_broken_pipe(&err) => ExitStatus::Success.into(),
        Err(err) => {
            eprintln!("error: {err:#}");
            if let Some(help) = exit::help(&err) {
                eprintln!("help: {help}");
            }
            exit::classify(&err).into()
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

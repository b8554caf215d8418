//! The pyswap binary: parse, run, report. Everything else lives in the library.

use std::io::Write as _;
use std::process::ExitCode;

use pyswap::ground::exit::{self, ExitStatus};

fn main() -> ExitCode {
    pyswap::ground::interrupt::install();
    // Known before parsing, so that a usage error is a JSON document too.
    let json = pyswap::cli::wants_json(std::env::args_os());
    let result = pyswap::cli::run();
    pyswap::ground::crash::timing("done");
    let (code, document, error) = match result {
        // A signal that arrived while a child process ran (a venv's check) stopped that run;
        // the command finished what it had begun, but it was interrupted, and says so.
        Ok(outcome) if let Some(sig) = pyswap::ground::interrupt::received() => {
            let message = format!(
                "interrupted by {}: the command finished what it had begun; a check it cut short decided nothing (a venv whose check was cut short stays where it was, unmarked, and the next switch checks it)",
                pyswap::ground::interrupt::name(sig)
            );
            eprintln!("error: {message}");
            let code = u8::try_from(128 + sig).unwrap_or(1);
            let error = serde_json::json!({ "message": message, "help": null, "exit_code": code });
            (code, outcome.document, Some(error))
        }
        Ok(outcome) => (ExitStatus::Success as u8, outcome.document, None),
        Err(err) if is_broken_pipe(&err) => return ExitStatus::Success.into(),
        Err(err) => {
            // A command that failed after producing its document hands it over with the error.
            let document = err
                .downcast_ref::<pyswap::interface::output::Documented>()
                .map(|d| d.document.clone());
            let (code, error) = report(&err);
            (code, document, error)
        }
    };
    if json {
        // Exactly one document: the command's own, carrying the error when it failed after
        // producing it (verify with problems, a partly failed install), or the error alone.
        let doc = match (document, error) {
            (Some(serde_json::Value::Object(mut map)), Some(e)) => {
                map.insert("error".into(), e);
                Some(serde_json::Value::Object(map))
            }
            (Some(doc), None) => Some(doc),
            (_, Some(e)) => Some(serde_json::json!({ "error": e })),
            (None, None) => None,
        };
        if let Some(doc) = doc
            && let Err(e) = print_document(&doc)
            && e.kind() != std::io::ErrorKind::BrokenPipe
        {
            // Where stdout goes cannot take it: the environment's fault, not pyswap's (1).
            eprintln!("error: cannot write the JSON document to standard output: {e}");
            return ExitStatus::Failure.into();
        }
    }
    ExitCode::from(code)
}

/// Prints the error and its `help:` line; returns the exit status and the error document.
fn report(err: &anyhow::Error) -> (u8, Option<serde_json::Value>) {
    let help = exit::help(err);
    let message = pyswap::ground::text::printable_line(&format!("{err:#}"));
    let (code, message) = match pyswap::ground::interrupt::received() {
        // Interrupted during a check: the command undid what it had begun.
        Some(sig) => (
            u8::try_from(128 + sig).unwrap_or(1),
            format!(
                "interrupted by {}: {message}",
                pyswap::ground::interrupt::name(sig)
            ),
        ),
        None => (exit::classify(err) as u8, message),
    };
    eprintln!("error: {message}");
    if let Some(help) = &help {
        eprintln!("help: {}", pyswap::ground::text::printable_line(help));
    }
    let doc = serde_json::json!({
        "message": pyswap::ground::secret::redact_text(&format!("{err:#}")),
        "help": help,
        "exit_code": code,
    });
    (code, Some(doc))
}

fn print_document(doc: &serde_json::Value) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(doc).map_err(std::io::Error::other)?;
    let mut out = std::io::stdout().lock();
    out.write_all(pyswap::ground::secret::redact_text(&text).as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()
}

/// `pyswap generations | head` closes our stdout early: not an error.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

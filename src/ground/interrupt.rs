//! SIGINT, SIGTERM and SIGHUP.
//!
//! Everywhere but one place pyswap is crash-safe: a signal kills it as before (the default
//! action, re-raised), and the next command or `gc` sweeps what it left, exactly as after
//! `kill -9`. The exception is a running validation, check or health-check process: it runs in
//! its own process group (so that its timeout can kill everything it started), which a Ctrl-C at
//! the terminal or a SIGTERM to pyswap does not reach, so it would run on, orphaned and without
//! its timeout. While one runs ([`Running`]), a signal is recorded instead; the process runner
//! ([`crate::domain::validate`]) sees it, kills the group, starts no further check, and the command
//! unwinds: a failed pre-activation check changes nothing, a failed health check puts the
//! previous generation back, staging directories are deleted on the way out, locks are released,
//! and `main` exits 128 + the signal (130 for SIGINT, 143 for SIGTERM). If that has not happened
//! within ten seconds, the process exits anyway.

use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::time::Duration;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

/// The signals handled here, in the order the `--help` footer lists their exits.
pub(crate) const HANDLED: [i32; 3] = [SIGHUP, SIGINT, SIGTERM];

static RECEIVED: AtomicI32 = AtomicI32::new(0);
static RUNNING: AtomicUsize = AtomicUsize::new(0);

/// Starts the thread that handles the three signals (once, from `main`).
pub fn install() {
    let Ok(mut signals) = signal_hook::iterator::Signals::new(HANDLED) else {
        return;
    };
    std::thread::spawn(move || {
        for sig in signals.forever() {
            RECEIVED.store(sig, Ordering::SeqCst);
            if RUNNING.load(Ordering::SeqCst) == 0 {
                // Nothing of ours runs outside this process: die as the signal would have.
                let _ = signal_hook::low_level::emulate_default_handler(sig);
                std::process::exit(128 + sig);
            }
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            std::thread::spawn(move || {
                std::thread::sleep(deadline - std::time::Instant::now());
                std::process::exit(128 + sig);
            });
        }
    });
}

/// The signal received, if any.
pub fn received() -> Option<i32> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// The signal's name, for messages.
pub fn name(sig: i32) -> &'static str {
    match sig {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        SIGHUP => "SIGHUP",
        _ => "a signal",
    }
}

/// Held while a child process group of ours runs: signals are then recorded, not fatal.
pub(crate) struct Running(());

impl Running {
    pub(crate) fn start() -> Self {
        RUNNING.fetch_add(1, Ordering::SeqCst);
        Self(())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.fetch_sub(1, Ordering::SeqCst);
    }
}

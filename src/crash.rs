//! Named crash points for the kill-at-every-step tests.
//!
//! Built into debug (test) builds, or any build with the `crash-points` feature; a release build
//! has none (every call compiles to nothing). When `PYSWAP_TEST_CRASH_AT` names a point
//! (`name`, or `name#N` for its N-th pass), the process sends itself SIGKILL there: no
//! destructor, no flush, exactly what `kill -9` from outside does at that instant. When
//! `PYSWAP_TEST_CRASH_TRACE` names a file, every point passed is appended to it, one per line,
//! so a test can list the points a command goes through and then kill it at each.
//!
//! The points are the steps of a command, so they also serve profiling, in every build: each
//! point passed is a `debug` log event (`pyswap -vv …` shows them with the time since start).

#[cfg(any(debug_assertions, feature = "crash-points"))]
const ENV: &str = "PYSWAP_TEST_CRASH_AT";
#[cfg(any(debug_assertions, feature = "crash-points"))]
const TRACE: &str = "PYSWAP_TEST_CRASH_TRACE";

/// Logs a step of the command (see `log`).
pub fn timing(name: &str) {
    tracing::debug!(step = name);
}

/// Dies here if the test harness asked for it.
#[cfg(any(debug_assertions, feature = "crash-points"))]
pub(crate) fn point(name: &str) {
    use std::io::Write;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    static HITS: AtomicUsize = AtomicUsize::new(0);
    static TRACE_LOCK: Mutex<()> = Mutex::new(());

    timing(name);
    if let Some(path) = std::env::var_os(TRACE) {
        let _serial = TRACE_LOCK.lock();
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{name}");
        }
    }
    let Ok(target) = std::env::var(ENV) else {
        return;
    };
    let (want, nth) = match target.split_once('#') {
        Some((n, k)) => (n, k.parse().unwrap_or(1)),
        None => (target.as_str(), 1),
    };
    if want == name && HITS.fetch_add(1, Ordering::SeqCst) + 1 == nth {
        let _ =
            rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
    }
}

#[cfg(not(any(debug_assertions, feature = "crash-points")))]
#[inline(always)]
pub fn point(name: &str) {
    timing(name);
}

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
    tracing::debug!(target: "pyswap::step", "{name}");
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

/// A rendezvous for the race tests: when `PYSWAP_TEST_PAUSE_AT` is `name=DIR`, the process
/// creates `DIR/paused` here and waits (a minute at most) until `DIR/go` exists, so a test can
/// change the filesystem at exactly this step (swap a directory another user owns) and then let
/// the command go on. Nothing in a release build.
#[cfg(any(debug_assertions, feature = "crash-points"))]
pub(crate) fn pause(name: &str) {
    let Ok(target) = std::env::var("PYSWAP_TEST_PAUSE_AT") else {
        return;
    };
    let Some((want, dir)) = target.split_once('=') else {
        return;
    };
    if want != name {
        return;
    }
    let dir = std::path::Path::new(dir);
    let _ = std::fs::write(dir.join("paused"), name);
    let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !dir.join("go").exists() && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[cfg(not(any(debug_assertions, feature = "crash-points")))]
#[inline(always)]
pub(crate) fn pause(_name: &str) {}

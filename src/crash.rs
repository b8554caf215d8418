//! Named crash points for the kill-at-every-step tests.
//!
//! When `PYSWAP_TEST_CRASH_AT` names a point, the process sends itself SIGKILL there: no
//! destructor, no flush, exactly what `kill -9` from outside does at that instant. Unset (always,
//! outside tests), a point costs one environment lookup.

pub const ENV: &str = "PYSWAP_TEST_CRASH_AT";

/// Dies here if the test harness asked for it.
pub fn point(name: &str) {
    if std::env::var_os(ENV).is_some_and(|v| v == name) {
        // SAFETY: kill(2) on our own pid with a constant signal has no memory-safety conditions.
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}

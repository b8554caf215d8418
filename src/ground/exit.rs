//! Exit statuses (documented in docs/reference.md and in the `--help` footer, which is generated from
//! [`ExitStatus`]) and how an error decides its own.
//!
//! Each module's error type implements [`Reason`] beside its definition: which status it means
//! and the `help:` line that tells the operator what to do, and registers itself there with
//! `register!`. Nothing here looks at message text, and nothing here names another module's
//! type: this is a ground module that every layer may import.

use std::borrow::Cow;
use std::fmt::Write as _;

/// What the process's exit status says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum ExitStatus {
    Success = 0,
    /// A failure the user can act on, including every bad flag, environment value, argument,
    /// manifest or home path.
    Failure = 1,
    /// Unexpected: database, filesystem or internal failure.
    Error = 2,
    /// Refused because it is outside the configured maintenance windows.
    OutsideWindow = 3,
}

impl ExitStatus {
    pub const ALL: [Self; 4] = [
        Self::Success,
        Self::Failure,
        Self::Error,
        Self::OutsideWindow,
    ];

    pub fn meaning(self) -> &'static str {
        match self {
            Self::Success => {
                "success (also a cron `gc` that skipped because another command held the lock)"
            }
            Self::Failure => {
                "a failure to act on: a bad flag, setting, home or request, a refused or failed download, failed verification or validation, a full disk"
            }
            Self::Error => "an unexpected error (database, filesystem or internal)",
            Self::OutsideWindow => {
                "refused outside the configured maintenance windows (--force overrides)"
            }
        }
    }
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(s: ExitStatus) -> Self {
        Self::from(s as u8)
    }
}

/// Every exit status and what it means, signals included: (`"1"`, meaning).
pub(crate) fn table() -> Vec<(String, &'static str)> {
    let mut rows: Vec<(String, &'static str)> = ExitStatus::ALL
        .iter()
        .map(|&s| ((s as u8).to_string(), s.meaning()))
        .collect();
    let signals: Vec<String> = crate::ground::interrupt::HANDLED
        .iter()
        .map(|&sig| (128 + sig).to_string())
        .collect();
    rows.push((
        signals.join(", "),
        "interrupted by SIGHUP, SIGINT or SIGTERM during a check (undone)",
    ));
    rows
}

/// The `Exit status:` section of `pyswap --help`, each meaning wrapped under its own column.
pub(crate) fn footer() -> String {
    let mut s = String::from("Exit status:");
    for (code, meaning) in table() {
        let _ = write!(s, "\n  {code:<14}");
        let mut width = 0;
        for word in meaning.split(' ') {
            if width > 0 && width + word.len() > 68 {
                s.push_str("\n                ");
                width = 0;
            }
            s.push(' ');
            s.push_str(word);
            width += word.len() + 1;
        }
    }
    s
}

/// What an error means for the exit status, and what to do about it.
pub(crate) trait Reason {
    fn status(&self) -> ExitStatus;

    /// The `help:` line under the error, where one helps.
    fn help(&self) -> Option<Cow<'static, str>> {
        None
    }

    /// Whether the error refuses what was asked (an unknown version, a policy or window
    /// refusal, no such generation), as opposed to a failure on the way (a download, a
    /// validation, the disk). The metrics keep the two apart: a typo must not page a fleet.
    fn refuses_request(&self) -> bool {
        false
    }
}

/// Finds the [`Reason`] of one error type in a chain link (see `register!`).
pub(crate) type Finder =
    for<'a> fn(&'a (dyn std::error::Error + 'static)) -> Option<&'a dyn Reason>;

/// Every error type's [`Finder`], each added beside its type by `register!`: this module names
/// none of them, so it imports nothing of pyswap and every module may use it.
#[linkme::distributed_slice]
pub static REASONS: [Finder];

/// Registers an error type that implements [`Reason`], written beside the `impl`, so that
/// [`classify`] and [`help`] find it anywhere in an `anyhow` chain (which yields `&dyn Error`,
/// and Rust cannot ask a `dyn Error` for another trait). The architecture test fails on an
/// `impl Reason` without its `register!`.
///
/// The registration is a static placed in a linker section (linkme): `#[link_section]` counts as
/// unsafe code for the `unsafe_code` lint, so the one expansion allows it. No memory is touched
/// unsafely; the linker only gathers the function pointers into [`REASONS`].
macro_rules! register {
    ($t:ty) => {
        const _: () = {
            #[allow(unsafe_code)]
            #[::linkme::distributed_slice($crate::ground::exit::REASONS)]
            static FIND: $crate::ground::exit::Finder = |e| {
                e.downcast_ref::<$t>()
                    .map(|r| r as &dyn $crate::ground::exit::Reason)
            };
        };
    };
}
pub(crate) use register;

register!(std::io::Error);

/// The [`Reason`] of one link of a chain, if its type has one.
fn reason<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a dyn Reason> {
    REASONS.iter().find_map(|find| find(e))
}

/// The exit status of a failed command: 3 if anything in the chain is a closed maintenance
/// window, else 1 if anything in it is a failure the user can act on, else 2.
pub fn classify(err: &anyhow::Error) -> ExitStatus {
    err.chain()
        .filter_map(reason)
        .map(Reason::status)
        .filter(|s| *s != ExitStatus::Error)
        .max()
        .unwrap_or(ExitStatus::Error)
}

/// Whether anything in the chain refuses what was asked (see [`Reason::refuses_request`]).
pub(crate) fn refuses_request(err: &anyhow::Error) -> bool {
    err.chain().filter_map(reason).any(Reason::refuses_request)
}

/// The first `help:` line offered along the chain, outermost first.
pub fn help(err: &anyhow::Error) -> Option<Cow<'static, str>> {
    err.chain().filter_map(reason).find_map(Reason::help)
}

/// A failed write's OS error the operator can fix (a full disk, a read-only or unwritable
/// home) is a failure with a hint; any other I/O error is unexpected.
impl Reason for std::io::Error {
    fn status(&self) -> ExitStatus {
        if io_help(self).is_some() {
            ExitStatus::Failure
        } else {
            ExitStatus::Error
        }
    }

    fn help(&self) -> Option<Cow<'static, str>> {
        io_help(self).map(Cow::Borrowed)
    }
}

fn io_help(e: &std::io::Error) -> Option<&'static str> {
    match e.raw_os_error()? {
        libc::ENOSPC | libc::EDQUOT => Some(
            "the filesystem holding PYSWAP_HOME is full; nothing was installed and the current runtime is unchanged (free space, or run `pyswap gc`)",
        ),
        libc::EROFS | libc::EACCES | libc::EPERM => {
            Some("PYSWAP_HOME is not writable by this user; nothing was changed")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_footer_lists_every_status_and_the_signal_exits() {
        let f = footer();
        for s in ExitStatus::ALL {
            assert!(f.contains(&format!("\n  {} ", s as u8)), "{f}");
        }
        assert!(f.contains("129, 130, 143"), "{f}");
    }

    #[derive(Debug, thiserror::Error)]
    #[error("refused")]
    struct Refused;

    register!(Refused);
    impl Reason for Refused {
        fn status(&self) -> ExitStatus {
            ExitStatus::OutsideWindow
        }
        fn help(&self) -> Option<Cow<'static, str>> {
            Some("wait".into())
        }
    }

    #[test]
    fn the_status_comes_from_the_type_anywhere_in_the_chain() {
        let full = std::io::Error::from_raw_os_error(libc::ENOSPC);
        let err = anyhow::Error::new(full).context("writing x");
        assert_eq!(classify(&err), ExitStatus::Failure);
        assert!(help(&err).is_some_and(|h| h.contains("full")));
        let odd = std::io::Error::from_raw_os_error(libc::EIO);
        assert_eq!(classify(&anyhow::Error::new(odd)), ExitStatus::Error);
        assert_eq!(classify(&anyhow::anyhow!("no type")), ExitStatus::Error);
        // A registered type is found under context, and the highest status of the chain wins.
        let refused = anyhow::Error::new(Refused).context("switching");
        assert_eq!(classify(&refused), ExitStatus::OutsideWindow);
        assert_eq!(help(&refused).as_deref(), Some("wait"));
    }
}

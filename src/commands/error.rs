//! The failures of the commands' own logic.

use crate::interface::settings::Settings;
use crate::storage::db::{Db, GenerationRow};

/// Failures of a command's own logic that the user can act on.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CommandError {
    #[error("profile `{profile}` has no generation {number}; {}", existing_list(.existing))]
    NoGeneration {
        profile: String,
        number: u64,
        /// The generations it has, oldest first.
        existing: Vec<u64>,
    },
    #[error("profile `{0}` has no generation yet; run `pyswap switch VERSION` first")]
    NoCurrent(String),
    #[error("no installed runtime matches `{0}`")]
    NotInstalled(String),
    #[error("profile `{profile}` has no generation older than the current one ({current})")]
    NothingOlder { profile: String, current: u64 },
    #[error("{why} (the copy cached {age} ago is still used)")]
    CatalogueUpdate { why: String, age: String },
    #[error("{bin} cannot be put on PATH: {why}")]
    NotOnPath { bin: String, why: &'static str },
    #[error(
        "store entry {0} differs from its recorded tree digest: a file it was installed with was changed, added or removed"
    )]
    Tampered(String),
    #[error(
        "generation {number} of `{profile}` failed its last validation ({phase}, {at}); not returning to it"
    )]
    FailedGeneration {
        profile: String,
        number: u64,
        phase: String,
        at: String,
    },
    #[error(
        "the generation before the current one of `{profile}` is {number}, CPython {version}: a plain rollback does not change the minor version ({from} -> {to})"
    )]
    OtherMinor {
        profile: String,
        number: u64,
        version: String,
        from: String,
        to: String,
    },
}

crate::ground::exit::register!(CommandError);
impl crate::ground::exit::Reason for CommandError {
    fn refuses_request(&self) -> bool {
        matches!(
            self,
            Self::NoGeneration { .. }
                | Self::NoCurrent(_)
                | Self::NothingOlder { .. }
                | Self::FailedGeneration { .. }
                | Self::OtherMinor { .. }
                | Self::NotInstalled(_)
        )
    }

    fn status(&self) -> crate::ground::exit::ExitStatus {
        crate::ground::exit::ExitStatus::Failure
    }

    fn help(&self) -> Option<std::borrow::Cow<'static, str>> {
        match self {
            Self::NotOnPath { .. } => Some(
                "use a home whose path has no `:` and no control characters (`--home DIR`, `PYSWAP_HOME`)"
                    .into(),
            ),
            Self::NotInstalled(_) => Some(
                "`pyswap list --installed` shows the installed runtimes; `pyswap install REQUEST` adds one"
                    .into(),
            ),
            Self::NoGeneration { .. } => {
                Some("`pyswap generations` lists them with their versions".into())
            }
            Self::Tampered(_) => Some(
                "`pyswap verify` names what changed; `pyswap verify --repair` restores the entry from its archive"
                    .into(),
            ),
            Self::OtherMinor { number, .. } => Some(
                format!(
                    "`pyswap rollback --to {number}` returns to it on purpose (as a switch across a minor version is asked for by name; `--force` does too); `pyswap generations` lists the others"
                )
                .into(),
            ),
            Self::FailedGeneration { number, .. } => Some(
                format!(
                    "`pyswap check {number}` re-runs its checks (a generation that passes them is returned to as any other); `--force` returns to it anyway"
                )
                .into(),
            ),
            _ => None,
        }
    }
}

/// The profile's generation `n`, or the error saying it does not exist.
pub(super) fn generation(s: &Settings, db: &Db, n: u64) -> anyhow::Result<GenerationRow> {
    if let Some(g) = db.generation(&s.profile, n)? {
        return Ok(g);
    }
    let existing = db
        .generations(&s.profile)?
        .iter()
        .map(|g| g.number)
        .collect();
    Err(CommandError::NoGeneration {
        profile: s.profile.clone(),
        number: n,
        existing,
    }
    .into())
}

/// `it has 1-3, 5 and 9` (runs of consecutive numbers collapsed), or `it has none`.
fn existing_list(numbers: &[u64]) -> String {
    let mut runs: Vec<String> = Vec::new();
    let mut i = 0;
    while i < numbers.len() {
        let mut j = i;
        while j + 1 < numbers.len() && numbers[j + 1] == numbers[j] + 1 {
            j += 1;
        }
        if j > i + 1 {
            runs.push(format!("{}-{}", numbers[i], numbers[j]));
        } else {
            runs.extend(numbers[i..=j].iter().map(ToString::to_string));
        }
        i = j + 1;
    }
    match runs.split_last() {
        None => "it has none".into(),
        Some((last, [])) => format!("it has {last}"),
        Some((last, rest)) => format!("it has {} and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn existing_generations_are_listed_briefly() {
        let l = |n: &[u64]| super::existing_list(n);
        assert_eq!(l(&[]), "it has none");
        assert_eq!(l(&[4]), "it has 4");
        assert_eq!(l(&[1, 2, 3, 5, 7, 8]), "it has 1-3, 5, 7 and 8");
    }
}

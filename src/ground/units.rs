//! The systemd unit a process runs in, read from its control group (`/proc/<pid>/cgroup`) the
//! way systemd's own `cg_path_get_unit` reads it: the services to restart after a switch, for
//! `pyswap ps` (Debian's `needrestart` maps processes to units the same way).
//!
//! systemd puts every process it starts into `/<slices>/<unit>/…` of its hierarchy: the
//! unified one (`0::/system.slice/nginx.service`) or, on a legacy or hybrid host, the named one
//! (`1:name=systemd:/system.slice/nginx.service`). A process of a user's own service manager
//! runs under `user.slice/user-1000.slice/user@1000.service/<slices>/<unit>`: its system unit is
//! `user@1000.service` (never the one to restart) and its user unit the one below. Nothing here
//! needs systemd to run: on a host without it every process is in `/` and has no unit.

use std::fs;

/// Where a process runs, in systemd's terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Unit {
    /// The system unit (`nginx.service`, `session-3.scope`, `user@1000.service`).
    pub(crate) system: String,
    /// The unit of a user's service manager (`app.service` under `user@1000.service`), if any.
    pub(crate) user: Option<String>,
}

impl Unit {
    /// A system service that `systemctl restart` restarts on its own: not a scope (a login
    /// session or a transient group, which nothing restarts) and not a user's service manager
    /// (restarting it would end every service of that user).
    pub(crate) fn restartable(&self) -> bool {
        self.system.ends_with(".service") && !self.system.starts_with("user@")
    }
}

/// The unit of process `pid`, or `None` when it runs in no unit (no systemd, `/`, a process
/// that exited, or a group systemd did not make).
pub(crate) fn of_process(pid: u32) -> Option<Unit> {
    of_cgroup_file(&fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?)
}

/// The unit in the text of a `/proc/<pid>/cgroup`: from the `name=systemd` hierarchy where it
/// places the process, else from the unified one.
fn of_cgroup_file(text: &str) -> Option<Unit> {
    let path_of = |hierarchy: &str| {
        text.lines().find_map(|line| {
            let mut fields = line.splitn(3, ':');
            let (_id, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
            (controllers == hierarchy).then_some(path)
        })
    };
    [path_of("name=systemd"), path_of("")]
        .into_iter()
        .flatten()
        .find_map(of_cgroup_path)
}

/// The unit of one control group path: the first component that is not a slice, if it names a
/// unit; for a user's service manager, the user unit below it too.
fn of_cgroup_path(path: &str) -> Option<Unit> {
    let mut parts = path.split('/').filter(|p| !p.is_empty());
    let system = parts.by_ref().find(|p| !is_slice(p))?;
    if !is_unit_name(system) {
        return None;
    }
    let user = system
        .starts_with("user@")
        .then(|| parts.find(|p| !is_slice(p)))
        .flatten()
        .filter(|p| is_unit_name(p))
        .map(str::to_owned);
    Some(Unit {
        system: system.to_owned(),
        user,
    })
}

/// A slice unit (`system.slice`), which groups units and is never one a process runs in.
#[allow(
    clippy::case_sensitive_file_extension_comparisons,
    reason = "unit types are lower case by systemd's grammar: `X.SLICE` is no slice"
)]
fn is_slice(part: &str) -> bool {
    part.ends_with(".slice")
}

/// A unit name as systemd accepts one: a known type suffix after a non-empty name of the
/// characters it allows (so a group like `init.scope/../x` or a container's own `docker-…`
/// directory is not taken for one).
fn is_unit_name(name: &str) -> bool {
    const TYPES: [&str; 11] = [
        ".service",
        ".socket",
        ".scope",
        ".mount",
        ".swap",
        ".device",
        ".target",
        ".timer",
        ".path",
        ".automount",
        ".slice",
    ];
    TYPES.iter().any(|t| {
        name.strip_suffix(t).is_some_and(|stem| {
            !stem.is_empty()
                && stem
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ":-_.\\@".contains(c))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::{Unit, of_cgroup_file};

    fn unit(system: &str, user: Option<&str>) -> Unit {
        Unit {
            system: system.into(),
            user: user.map(Into::into),
        }
    }

    #[test]
    fn units_are_read_as_systemd_reads_them() {
        let hybrid = "9:name=systemd:/system.slice/nginx.service\n8:pids:/\n0::/system.slice/nginx.service\n";
        assert_eq!(of_cgroup_file(hybrid), Some(unit("nginx.service", None)));
        let unified = "0::/system.slice/system-getty.slice/getty@tty1.service\n";
        assert_eq!(
            of_cgroup_file(unified),
            Some(unit("getty@tty1.service", None))
        );
        let sub = "0::/system.slice/app.service/worker/1\n";
        assert_eq!(of_cgroup_file(sub), Some(unit("app.service", None)));
        let user = "0::/user.slice/user-1000.slice/user@1000.service/app.slice/web.service\n";
        let u = of_cgroup_file(user);
        assert_eq!(u, Some(unit("user@1000.service", Some("web.service"))));
        assert!(!u.unwrap().restartable());
        let session = "0::/user.slice/user-1000.slice/session-3.scope\n";
        assert!(!of_cgroup_file(session).unwrap().restartable());
        assert!(of_cgroup_file(hybrid).unwrap().restartable());
        // No systemd (everything in `/`), a memory controller's own group, or a group that is
        // not a unit name: no unit.
        for none in [
            "9:name=systemd:/\n0::/\n",
            "4:memory:/system.slice/x.service\n0::/\n",
            "0::/docker/0123abcd\n",
            "0::/system.slice\n",
        ] {
            assert_eq!(of_cgroup_file(none), None, "{none}");
        }
    }
}

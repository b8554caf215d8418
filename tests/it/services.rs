//! Issue 37 (item 4): which services still run the old build. After a security patch the fix
//! is live only when services restart; `ps` names each process's systemd unit (from its control
//! group, as systemd and Debian's `needrestart` read it), `ps --units` lists the services to
//! restart, and the metrics count the processes on an old build per profile.
//!
//! systemd does not run here, but root can write its hierarchies: the test makes
//! `system.slice/<name>.service` groups in `/sys/fs/cgroup/systemd` (the named v1 hierarchy of a
//! hybrid host) and `/sys/fs/cgroup/unified` (v2), moves real processes into them as systemd
//! would, and moves them back and removes the groups after.

use std::path::{Path, PathBuf};

use crate::common::{Killed, entry_dir, mapper, root_or_skip, two_generations};

const NAMED: &str = "/sys/fs/cgroup/systemd";
const UNIFIED: &str = "/sys/fs/cgroup/unified";

/// A control group made for one test process, undone on drop (the process goes back to the
/// hierarchy's root, then the group and any parent the test made are removed).
struct Group {
    hierarchy: &'static str,
    made: Vec<PathBuf>,
    pid: u32,
}

impl Group {
    /// Moves `pid` into `hierarchy/path`, making the directories it needs.
    fn enter(hierarchy: &'static str, path: &str, pid: u32) -> Self {
        let mut made = Vec::new();
        let mut dir = PathBuf::from(hierarchy);
        for part in path.split('/') {
            dir.push(part);
            if std::fs::create_dir(&dir).is_ok() {
                made.push(dir.clone());
            }
        }
        std::fs::write(dir.join("cgroup.procs"), pid.to_string())
            .unwrap_or_else(|e| panic!("moving {pid} into {}: {e}", dir.display()));
        Self {
            hierarchy,
            made,
            pid,
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        let _ = std::fs::write(
            Path::new(self.hierarchy).join("cgroup.procs"),
            self.pid.to_string(),
        );
        for dir in self.made.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Groups undone newest first, so that a parent one of them made is empty when its turn comes.
struct Groups(Vec<Group>);

impl Drop for Groups {
    fn drop(&mut self) {
        while let Some(g) = self.0.pop() {
            drop(g);
        }
    }
}

/// Whether this host has the hierarchies the test writes (a machine of this project has both;
/// CI must run the test, so there a missing one fails).
fn hierarchies() -> bool {
    let there = [NAMED, UNIFIED]
        .iter()
        .all(|h| Path::new(h).join("cgroup.procs").exists());
    assert!(
        there || std::env::var_os("CI").is_none(),
        "{NAMED} and {UNIFIED} are needed, and CI must run this test"
    );
    there
}

// Issue 37 (item 4).
#[test]
fn ps_names_the_units_that_run_an_old_build_and_lists_them_for_a_restart() {
    if !root_or_skip("moving processes into systemd's control groups") || !hierarchies() {
        return;
    }
    let t = two_generations();
    let old = entry_dir(&t, 1).join("bin/python3");
    let new = entry_dir(&t, 2).join("bin/python3");
    // Unique names: tests of other runs or threads never share a group.
    let tag = format!("pyswap-test-{}", std::process::id());
    let web = mapper(&old);
    let worker = mapper(&old);
    let session = mapper(&old);
    let current = mapper(&new);
    let pid = |k: &Killed| k.0.id();
    // A hybrid host's named hierarchy for one, the unified one for the others, as systemd puts
    // them; a worker in a sub-group of its service; a login session (a scope: nothing restarts it).
    let groups = Groups(vec![
        Group::enter(NAMED, &format!("system.slice/{tag}-web.service"), pid(&web)),
        Group::enter(
            UNIFIED,
            &format!("system.slice/{tag}-worker.service/pool"),
            pid(&worker),
        ),
        Group::enter(
            UNIFIED,
            &format!("user.slice/user-4242.slice/{tag}-session-7.scope"),
            pid(&session),
        ),
        Group::enter(
            UNIFIED,
            &format!("system.slice/{tag}-new.service"),
            pid(&current),
        ),
    ]);

    let rows = t.run(&["ps", "--json"]).ok().json();
    let row = |k: &Killed| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["pid"] == pid(k))
            .unwrap_or_else(|| panic!("{} is not listed: {rows}", pid(k)))
            .clone()
    };
    assert_eq!(row(&web)["unit"], format!("{tag}-web.service"), "{rows}");
    assert_eq!(
        row(&worker)["unit"],
        format!("{tag}-worker.service"),
        "{rows}"
    );
    assert_eq!(
        row(&session)["unit"],
        format!("{tag}-session-7.scope"),
        "{rows}"
    );
    assert_eq!(
        row(&current)["unit"],
        format!("{tag}-new.service"),
        "{rows}"
    );
    for k in [&web, &worker, &session] {
        assert_eq!(row(k)["old_runtime"], true, "{rows}");
    }
    assert_eq!(row(&current)["old_runtime"], false, "{rows}");

    // The services to restart, one per line for `systemctl restart`: not the scope, not the
    // service already on the new build.
    let r = t.run(&["ps", "--units"]).ok();
    assert_eq!(
        r.stdout,
        format!("{tag}-web.service\n{tag}-worker.service\n"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("1 process on an older build runs outside a system service"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&pid(&session).to_string()),
        "{}",
        r.stderr
    );
    let units = t.run(&["ps", "--units", "--json"]).ok().json();
    assert_eq!(units.as_array().unwrap().len(), 2, "{units}");

    // The table names each unit.
    let table = t.run(&["ps"]).ok().stdout;
    assert!(
        table.contains("UNIT") && table.contains(&format!("{tag}-web.service")),
        "{table}"
    );
    // At 80 columns (item 10) no line wraps: the user column goes, the unit and the command
    // lose their middle.
    let narrow = t.cmd().env("COLUMNS", "80").arg("ps").output().unwrap();
    let narrow = String::from_utf8(narrow.stdout).unwrap();
    assert!(narrow.lines().all(|l| l.chars().count() <= 80), "{narrow}");
    assert!(
        narrow.contains(" UNIT ") && narrow.contains(".service"),
        "{narrow}"
    );

    let metrics = t.run(&["metrics"]).ok().stdout;
    assert!(
        metrics.contains("pyswap_processes_on_old_runtime{profile=\"default\"} 3\n"),
        "{metrics}"
    );

    // Once they restart (here: exit), nothing is left to restart.
    drop(groups);
    drop((web, worker, session));
    assert_eq!(t.run(&["ps", "--units"]).ok().stdout, "");
    let metrics = t.run(&["metrics"]).ok().stdout;
    assert!(
        metrics.contains("pyswap_processes_on_old_runtime{profile=\"default\"} 0\n"),
        "{metrics}"
    );
    drop(current);
}

"""Unit tests of the pyswap.runtime modules: a table of (module arguments, check mode) -> the
pyswap command lines run, with mocked exit statuses and stdout, and what the task returns.
Run with: PYTHONPATH=ansible python -m unittest discover -s ansible/tests/unit"""

import json
import unittest
from unittest import mock

from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes

from ansible_collections.pyswap.runtime.plugins.modules import pyswap as pyswap_module
from ansible_collections.pyswap.runtime.plugins.modules import pyswap_info


class Exit(Exception):
    pass


class Fail(Exception):
    pass


def exit_json(self, **kwargs):
    kwargs.setdefault("changed", False)
    raise Exit(kwargs)


def fail_json(self, **kwargs):
    raise Fail(kwargs)


CURRENT_6 = {"profile": "default", "generation": 6, "version": "3.11.9", "build": "20250612",
             "key": "cpython-3.11.9-linux-x86_64-gnu", "store_path": "/s/a", "python": "/p"}
FRESH = {"profile": "default", "generation": None, "version": None, "build": None, "key": None,
         "store_path": None, "python": None}
SWITCHED = {"profile": "default", "generation": 7, "previous": 6, "version": "3.12.3",
            "build": "20250612", "key": "cpython-3.12.3-linux-x86_64-gnu", "store_path": "/s/b",
            "installed": True, "changed": True, "dry_run": False}
CONVERGED = dict(SWITCHED, generation=6, previous=6, changed=False)
ROLLED = {"profile": "default", "from": 7, "generation": 6, "version": "3.11.9",
          "build": "20250612", "key": "cpython-3.11.9-linux-x86_64-gnu", "changed": True,
          "store_path": "/s/a", "dry_run": False}
STAGED = {"installed": [{"request": "3.12", "key": "cpython-3.12.3-linux-x86_64-gnu",
                         "version": "3.12.3", "store_path": "/s/b", "source": "network",
                         "downloaded_bytes": 1}], "failed": [], "dry_run": False}
ALREADY = dict(STAGED, installed=[dict(STAGED["installed"][0], source="store")])
WINDOW = {"error": {"message": "refusing to change the host outside the maintenance windows",
                    "help": "run it inside a window", "exit_code": 3}}
BAD = {"error": {"message": "no CPython build in the catalogue matches `3.99`",
                 "help": "`pyswap list --available` shows what the catalogue offers",
                 "exit_code": 1}}

B = ["/bin/pyswap", "--json"]

# (arguments, check mode, [(expected argv, rc, stdout doc)], outcome, expected result subset)
CASES = [
    ("switch", {"version": "3.12"}, False,
     [(B + ["current"], 0, CURRENT_6), (B + ["switch", "--", "3.12"], 0, SWITCHED)],
     Exit, {"changed": True, "generation": 7, "previous_generation": 6, "build": "20250612",
            "key": "cpython-3.12.3-linux-x86_64-gnu", "store_path": "/s/b"}),
    ("switch converged", {"version": "3.12"}, False,
     [(B + ["current"], 0, CURRENT_6), (B + ["switch", "--", "3.12"], 0, CONVERGED)],
     Exit, {"changed": False, "generation": 6}),
    ("switch in check mode is a dry run", {"version": "3.12", "home": "/h", "profile": "web"}, True,
     [(B + ["--home=/h", "--profile=web", "current"], 0, CURRENT_6),
      (B + ["--home=/h", "--profile=web", "switch", "--dry-run", "--", "3.12"], 0,
       dict(SWITCHED, dry_run=True))],
     Exit, {"changed": True}),
    ("install (pre-stage)", {"version": "3.12", "state": "present", "offline": True}, False,
     [(B + ["--offline", "current"], 0, FRESH), (B + ["--offline", "install", "--", "3.12"], 0, STAGED)],
     Exit, {"changed": True, "key": "cpython-3.12.3-linux-x86_64-gnu"}),
    ("install already there", {"version": "3.12", "state": "present"}, False,
     [(B + ["current"], 0, CURRENT_6), (B + ["install", "--", "3.12"], 0, ALREADY)],
     Exit, {"changed": False}),
    ("upgrade forced", {"state": "latest", "force": True}, False,
     [(B + ["current"], 0, CURRENT_6), (B + ["upgrade", "--force"], 0, SWITCHED)],
     Exit, {"changed": True, "version": "3.12.3"}),
    ("rollback to a generation", {"state": "rolled_back", "generation": 6}, False,
     [(B + ["current"], 0, CURRENT_6), (B + ["rollback", "--to=6"], 0, ROLLED)],
     Exit, {"changed": True, "generation": 6, "previous_generation": 7}),
    ("rollback to the previous one", {"state": "rolled_back"}, False,
     [(B + ["current"], 0, CURRENT_6), (B + ["rollback"], 0, ROLLED)],
     Exit, {"changed": True}),
    ("outside the window", {"version": "3.12"}, False,
     [(B + ["current"], 0, CURRENT_6), (B + ["switch", "--", "3.12"], 3, WINDOW)],
     Fail, {"exit_code": 3, "outside_window": True, "help": "run it inside a window"}),
    ("unknown version", {"version": "3.99", "config": "/etc/p.toml"}, False,
     [(B + ["--config=/etc/p.toml", "current"], 0, CURRENT_6),
      (B + ["--config=/etc/p.toml", "switch", "--", "3.99"], 1, BAD)],
     Fail, {"exit_code": 1, "outside_window": False,
            "msg": "no CPython build in the catalogue matches `3.99`"}),
    ("pyswap crashed without a document", {"version": "3.12"}, False,
     [(B + ["current"], 0, CURRENT_6), (B + ["switch", "--", "3.12"], 2, None)],
     Fail, {"exit_code": 2}),
]


def set_args(args):
    basic._ANSIBLE_ARGS = to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args}))


class ModuleTable(unittest.TestCase):
    def run_case(self, module, args, check, calls, outcome, expected):
        args = dict(args, binary="/bin/pyswap", _ansible_check_mode=check, _ansible_diff=True)
        set_args(args)
        seen = []

        def run_command(self_, argv, check_rc=False):
            seen.append(list(argv))
            want, rc, doc = calls[len(seen) - 1]
            self.assertEqual(list(argv), want)
            return rc, json.dumps(doc) if doc is not None else "", "boom" if doc is None else ""

        with mock.patch.multiple(basic.AnsibleModule, exit_json=exit_json, fail_json=fail_json,
                                 run_command=run_command):
            with self.assertRaises(outcome) as caught:
                module.main()
        result = caught.exception.args[0]
        for k, v in expected.items():
            self.assertEqual(result.get(k), v, (k, result))
        self.assertEqual(len(seen), len(calls))
        return result

    def test_the_table(self):
        for name, args, check, calls, outcome, expected in CASES:
            with self.subTest(name):
                self.run_case(pyswap_module, args, check, calls, outcome, expected)

    def test_diff_shows_version_build_and_generation(self):
        result = self.run_case(pyswap_module, {"version": "3.12"}, False,
                               [(B + ["current"], 0, CURRENT_6),
                                (B + ["switch", "--", "3.12"], 0, SWITCHED)], Exit, {})
        self.assertIn("version: 3.11.9", result["diff"]["before"])
        self.assertIn("generation: 7", result["diff"]["after"])
        self.assertIn("build: 20250612", result["diff"]["after"])

    def test_info_is_read_only(self):
        gens = [{"number": 6, "current": True, "validation": {"phase": "health", "ok": True}}]
        result = self.run_case(pyswap_info, {}, True,
                               [(B + ["current"], 0, CURRENT_6), (B + ["generations"], 0, gens),
                                (B + ["ps", "--units"], 0, ["web.service"])],
                               Exit, {"changed": False, "units_to_restart": ["web.service"]})
        self.assertEqual(result["last_validation"]["phase"], "health")
        self.assertEqual(result["current"]["generation"], 6)

    # Issue 25.
    def test_a_version_is_never_read_as_a_flag(self):
        # Each would have run pyswap with an attacker's manifest, catalogue or home, or forced it.
        for evil in ["--config=/tmp/evil.toml", "--force", "--catalogue=http://x", "--home=/tmp/h",
                     "-q", "3.12 --force", "3.12\n--force", ""]:
            for state in ("current", "present"):
                with self.subTest(evil=evil, state=state):
                    set_args({"binary": "/bin/pyswap", "version": evil, "state": state})
                    ran = []
                    with mock.patch.multiple(basic.AnsibleModule, exit_json=exit_json,
                                             fail_json=fail_json,
                                             run_command=lambda *a, **k: ran.append(a)):
                        with self.assertRaises(Fail) as caught:
                            pyswap_module.main()
                    self.assertIn("is not a version request", caught.exception.args[0]["msg"])
                    self.assertEqual(ran, [], "pyswap ran")
        # And a value that gets through is always after `--`.
        argv = pyswap_module.command({"state": "current", "version": "3.12", "force": True}, True)
        self.assertEqual(argv, ["switch", "--force", "--dry-run", "--", "3.12"])

    def test_version_is_required_to_switch(self):
        set_args({"binary": "/bin/pyswap"})
        with mock.patch.multiple(basic.AnsibleModule, exit_json=exit_json, fail_json=fail_json):
            with self.assertRaises(Fail) as caught:
                pyswap_module.main()
        self.assertIn("version", caught.exception.args[0]["msg"])


if __name__ == "__main__":
    unittest.main()

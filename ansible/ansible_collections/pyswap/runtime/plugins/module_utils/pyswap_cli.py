# -*- coding: utf-8 -*-
# The one place that knows how to call pyswap: build the command line, run it with --json,
# read the one JSON document it prints (never its human text).
from __future__ import annotations

import json

# Options every module shares, passed to pyswap as global flags.
COMMON_ARGS = dict(
    profile=dict(type="str"),
    home=dict(type="path"),
    config=dict(type="path"),
    catalogue=dict(type="str"),
    mirror=dict(type="str"),
    offline=dict(type="bool", default=False),
    binary=dict(type="path"),
)


def base_argv(module):
    """The pyswap binary and the global flags for the module's options."""
    p = module.params
    binary = p.get("binary") or module.get_bin_path("pyswap", required=True)
    argv = [binary, "--json"]
    for option, flag in (
        ("home", "--home"),
        ("profile", "--profile"),
        ("config", "--config"),
        ("catalogue", "--catalogue"),
        ("mirror", "--mirror"),
    ):
        if p.get(option):
            # One argument, `--flag=value`: a value can never be read as another flag.
            argv.append("%s=%s" % (flag, p[option]))
    if p.get("offline"):
        argv.append("--offline")
    return argv


def run(module, argv):
    """Runs pyswap; returns (exit code, document). The document is None only if pyswap printed
    no JSON at all (a crash), in which case stderr says why."""
    rc, out, err = module.run_command(argv, check_rc=False)
    try:
        doc = json.loads(out) if out.strip() else None
    except ValueError:
        doc = None
    return rc, doc, err


def fail(module, rc, doc, err, argv):
    """Fails the task with pyswap's own message, its help line and exit status."""
    error = (doc or {}).get("error") or {}
    module.fail_json(
        msg=error.get("message") or (err or "").strip() or "pyswap exited with %d" % rc,
        help=error.get("help"),
        exit_code=rc,
        outside_window=rc == 3,
        pyswap=doc,
        cmd=argv,
    )


def check_request(module, name, value):
    """Fails the task unless `value` can only be read as a version request: pyswap gets it after
    `--`, and a request never starts with `-` nor holds spaces or control characters."""
    if value is None:
        return
    text = str(value)
    if not text or text.startswith("-") or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in text):
        module.fail_json(
            msg="%s %r is not a version request (3.12, 3.12.4, >=3.10,<3.12, a catalogue key)" % (name, text),
            exit_code=1,
            outside_window=False,
        )

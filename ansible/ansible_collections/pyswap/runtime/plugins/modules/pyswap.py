#!/usr/bin/python
# -*- coding: utf-8 -*-
from __future__ import annotations

DOCUMENTATION = r"""
module: pyswap
short_description: Install, switch, upgrade or roll back a Python runtime with pyswap
description:
  - Wraps the C(pyswap) command line with C(--json); never parses its human output.
  - Check mode runs pyswap's own C(--dry-run), so it reports the change pyswap would make,
    with the exit status the real run would have (outside a maintenance window, too).
  - A host already at the requested runtime reports C(changed=false), even outside a window.
version_added: "0.1.0"
options:
  version:
    description: A pyswap request (C(3.12), C(3.12.4), C(cpython@3.12), C(>=3.11,<3.13), a catalogue key). Required for C(current) and C(present).
    type: str
  state:
    description:
      - C(current) switches the profile to I(version) (C(pyswap switch)).
      - C(present) only installs it (C(pyswap install), pre-staging; allowed outside maintenance windows).
      - C(latest) upgrades to the newest patch release of the current minor version (C(pyswap upgrade)).
      - C(rolled_back) makes I(generation), else the previous generation, current again (C(pyswap rollback)).
    type: str
    choices: [current, present, latest, rolled_back]
    default: current
  generation:
    description: With I(state=rolled_back), the generation to return to.
    type: int
  force:
    description: Run even outside the maintenance windows of the manifest.
    type: bool
    default: false
  profile: {description: The pyswap profile (C(--profile)), type: str}
  home: {description: C(PYSWAP_HOME) (C(--home)), type: path}
  config: {description: The manifest (C(--config)), type: path}
  catalogue: {description: Catalogue URL or path (C(--catalogue)), type: str}
  mirror: {description: Mirror URL (C(--mirror)), type: str}
  offline: {description: No network (C(--offline)), type: bool, default: false}
  binary: {description: Path to pyswap; default the one on PATH, type: path}
author: pyswap developers
"""

EXAMPLES = r"""
- name: Pre-stage outside the window
  pyswap.runtime.pyswap: {version: "3.12", state: present}
- name: Switch
  pyswap.runtime.pyswap: {version: "3.12"}
- name: Back to generation 7
  pyswap.runtime.pyswap: {state: rolled_back, generation: 7}
"""

RETURN = r"""
changed: {description: Whether the profile (or the store) changed, type: bool, returned: always}
generation: {description: The current generation after the task (the one it would be in check mode), type: int, returned: success}
previous_generation: {description: The generation current before, type: int, returned: success}
version: {description: The runtime's Python version, type: str, returned: success}
build: {description: The python-build-standalone build, type: str, returned: success}
key: {description: The catalogue key of the runtime, type: str, returned: success}
store_path: {description: Where the runtime lives in the store, type: str, returned: success}
pyswap: {description: pyswap's whole JSON document, type: dict, returned: always}
help: {description: pyswap's help line, on failure, type: str, returned: failure}
exit_code: {description: pyswap's exit status, on failure, type: int, returned: failure}
outside_window: {description: True when refused outside the maintenance windows (exit 3), type: bool, returned: failure}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.pyswap.runtime.plugins.module_utils.pyswap_cli import (
    COMMON_ARGS,
    base_argv,
    check_request,
    fail,
    run,
)


def command(params, check):
    """The pyswap subcommand and its arguments for the requested state; the version request is
    the one positional argument and comes after `--`, so it is never read as a flag."""
    state = params["state"]
    positional = []
    if state == "current":
        argv = ["switch"]
        positional = [params["version"]]
    elif state == "present":
        argv = ["install"]
        positional = [params["version"]]
    elif state == "latest":
        argv = ["upgrade"]
    else:
        argv = ["rollback"]
        if params.get("generation") is not None:
            argv.append("--to=%d" % int(params["generation"]))
    if params.get("force") and state != "present":
        argv.append("--force")
    if check:
        argv.append("--dry-run")
    if positional:
        argv += ["--"] + positional
    return argv


def summary(doc):
    """version, build and generation as the diff shows them."""
    if not doc or doc.get("generation") is None:
        return "(no generation)\n"
    return "version: %s\nbuild: %s\ngeneration: %s\n" % (
        doc.get("version"),
        doc.get("build"),
        doc.get("generation"),
    )


def main():
    spec = dict(
        version=dict(type="str"),
        state=dict(type="str", default="current", choices=["current", "present", "latest", "rolled_back"]),
        generation=dict(type="int"),
        force=dict(type="bool", default=False),
    )
    spec.update(COMMON_ARGS)
    module = AnsibleModule(
        argument_spec=spec,
        supports_check_mode=True,
        required_if=[("state", "current", ["version"]), ("state", "present", ["version"])],
    )
    check_request(module, "version", module.params["version"])
    base = base_argv(module)
    rc, before, err = run(module, base + ["current"])
    if rc != 0:
        fail(module, rc, before, err, base + ["current"])
    argv = base + command(module.params, module.check_mode)
    rc, doc, err = run(module, argv)
    if rc != 0 or doc is None:
        fail(module, rc, doc, err, argv)
    if module.params["state"] == "present":
        changed = any(i.get("source") != "store" for i in doc.get("installed", []))
        result = dict(changed=changed, pyswap=doc)
        first = (doc.get("installed") or [{}])[0]
        result.update(
            version=first.get("version"),
            key=first.get("key"),
            store_path=first.get("store_path") or None,
            generation=before.get("generation"),
            previous_generation=before.get("generation"),
            build=None,
        )
        module.exit_json(**result)
    changed = bool(doc.get("changed"))
    result = dict(
        changed=changed,
        generation=doc.get("generation"),
        previous_generation=doc.get("previous", doc.get("from", before.get("generation"))),
        version=doc.get("version"),
        build=doc.get("build"),
        key=doc.get("key"),
        store_path=doc.get("store_path") or None,
        pyswap=doc,
    )
    if module._diff:
        result["diff"] = dict(before=summary(before), after=summary(doc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
from __future__ import annotations

DOCUMENTATION = r"""
module: pyswap_info
short_description: What pyswap runs on a host (read-only)
description:
  - The current generation, all generations, the newest validation of the current one, and
    the systemd services that still run a build the profile moved away from, from
    C(pyswap current --json), C(pyswap generations --json) and C(pyswap ps --units --json).
    Changes nothing.
version_added: "0.1.0"
options:
  profile: {description: The pyswap profile, type: str}
  home: {description: C(PYSWAP_HOME), type: path}
  config: {description: The manifest, type: path}
  catalogue: {description: Catalogue URL or path, type: str}
  mirror: {description: Mirror URL, type: str}
  offline: {description: No network, type: bool, default: false}
  binary: {description: Path to pyswap; default the one on PATH, type: path}
author: pyswap developers
"""

RETURN = r"""
current: {description: pyswap's current document (generation null on a fresh host), type: dict, returned: always}
generations: {description: Every generation of the profile, oldest first, type: list, returned: always}
last_validation: {description: The newest validation of the current generation, or null, type: dict, returned: always}
units_to_restart: {description: "System services with a process on a build the profile moved away from (C(pyswap ps --units)): restart them to run the current build", type: list, elements: str, returned: always}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.pyswap.runtime.plugins.module_utils.pyswap_cli import (
    COMMON_ARGS,
    base_argv,
    fail,
    run,
)


def main():
    module = AnsibleModule(argument_spec=dict(COMMON_ARGS), supports_check_mode=True)
    base = base_argv(module)
    rc, current, err = run(module, base + ["current"])
    if rc != 0:
        fail(module, rc, current, err, base + ["current"])
    rc, generations, err = run(module, base + ["generations"])
    if rc != 0:
        fail(module, rc, generations, err, base + ["generations"])
    generations = generations or []
    rc, units, err = run(module, base + ["ps", "--units"])
    if rc != 0:
        fail(module, rc, units, err, base + ["ps", "--units"])
    now = [g for g in generations if g.get("current")]
    module.exit_json(
        changed=False,
        current=current,
        generations=generations,
        last_validation=now[0].get("validation") if now else None,
        units_to_restart=units or [],
    )


if __name__ == "__main__":
    main()

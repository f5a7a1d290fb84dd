#!/usr/bin/env python3
"""The test queue of `make test`: every test of the workspace exactly once, in items that two
lanes (each with a DynamoDB Local of its own) take one at a time, longest first.

    test-plan.py ARTIFACTS QUEUE [TIMES]

ARTIFACTS is what `cargo test --no-run --message-format=json-render-diagnostics` printed. Each
test executable is one item, except the integration binary, whose tests are grouped by module
(`imports::…`, `expiry::…`), one item a module, each run with `--exact` and its tests' names, so
no test runs twice and none is left out. QUEUE gets one line an item: label, working directory
(the package's, as cargo runs its tests), executable and arguments, tab-separated. TIMES, when it
exists, holds `label seconds` lines from an earlier run; the items are ordered by those seconds,
longest first, so the two lanes end close together. Items without a time yet go first in the
order below (the slowest known), then by name.
"""

import json
import os
import subprocess
import sys

# The integration binary's target name, split by module.
SPLIT = "integration"
# Known heavy modules, for a run without TIMES: the 100,001-row partner file, the property test,
# the sweeps over many users, the mail walks.
HEAVY = ["integration::imports", "integration::properties", "integration::expiry", "integration::mail",
         "integration::allocation", "integration::renewal"]


def executables(artifacts):
    seen = set()
    with open(artifacts) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            m = json.loads(line)
            if m.get("reason") != "compiler-artifact" or not m.get("profile", {}).get("test"):
                continue
            exe = m.get("executable")
            if not exe or exe in seen:
                continue
            seen.add(exe)
            yield m["target"]["name"], os.path.dirname(m["manifest_path"]), exe


def items(artifacts):
    for name, cwd, exe in executables(artifacts):
        if name != SPLIT:
            yield name, cwd, exe, []
            continue
        listed = subprocess.run([exe, "--list", "--format", "terse"], cwd=cwd, check=True,
                                capture_output=True, text=True).stdout
        modules = {}
        for line in listed.splitlines():
            if not line.endswith(": test"):
                continue
            test = line[: -len(": test")]
            module = test.split("::", 1)[0] if "::" in test else "(root)"
            modules.setdefault(module, []).append(test)
        for module, tests in sorted(modules.items()):
            yield f"{name}::{module}", cwd, exe, ["--exact", *tests]


def main():
    artifacts, queue = sys.argv[1], sys.argv[2]
    times = {}
    if len(sys.argv) > 3 and os.path.exists(sys.argv[3]):
        with open(sys.argv[3]) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2:
                    times[parts[0]] = int(parts[1])
    planned = list(items(artifacts))
    if not planned:
        sys.exit("test-plan: no test executable in " + artifacts)

    def order(item):
        label = item[0]
        if label in times:
            return (0, -times[label], label)
        if label in HEAVY:
            return (0, -10_000 + HEAVY.index(label), label)
        return (1, 0, label)

    planned.sort(key=order)
    with open(queue, "w") as f:
        for label, cwd, exe, args in planned:
            f.write("\t".join([label, cwd, exe, *args]) + "\n")
    print(f"test-plan: {len(planned)} items", file=sys.stderr)


if __name__ == "__main__":
    main()

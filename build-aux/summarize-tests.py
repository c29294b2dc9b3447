#!/usr/bin/python3
"""Prints one closing line, "N passed, N failed", for meson's test logs.

Each test that did not pass is named first, with the end of its output
and of its errors, so that a run whose output is read only in part still
says what failed."""

import json
import sys

passed = failed = skipped = 0
for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as log:
        for line in log:
            test = json.loads(line)
            result = test["result"]
            if result in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif result == "SKIP":
                skipped += 1
            else:
                failed += 1
                print(f"{result}: {test['name']} ({path})")
                # meson keeps stderr apart: GLib's assertion messages and
                # the sanitizers' reports are there.
                for stream in ("stdout", "stderr"):
                    output = (test.get(stream) or "").rstrip()
                    if output:
                        print(f"--- {stream}:")
                        print("\n".join(output.splitlines()[-40:]))

print(f"{passed} passed, {failed} failed, {skipped} skipped")

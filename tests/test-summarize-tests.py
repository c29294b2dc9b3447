#!/usr/bin/python3
"""Checks build-aux/summarize-tests.py on logs made up for it: the count,
and each test that did not pass named with the end of its output and of
its errors.

Usage: test-summarize-tests.py SUMMARIZE_SCRIPT"""

import json
import os
import subprocess
import sys
import tempfile

script = sys.argv[1]

tests = [
    {"name": "librabc:c / frame", "result": "OK", "stdout": "ok 1\n", "stderr": ""},
    {"name": "librabc:c / skipped", "result": "SKIP", "stdout": "", "stderr": ""},
    {"name": "librabc:c / broken", "result": "FAIL",
     "stdout": "".join(f"line {i}\n" for i in range(100)),
     "stderr": "ERROR:test.c:1:main: assertion failed\n"},
    {"name": "librabc:c / slow", "result": "TIMEOUT", "stdout": "", "stderr": ""},
]

with tempfile.TemporaryDirectory() as tmp:
    log = os.path.join(tmp, "testlog.json")
    with open(log, "w", encoding="utf-8") as out:
        for test in tests:
            out.write(json.dumps(test) + "\n")
    output = subprocess.run([sys.executable, script, log], check=True,
                            capture_output=True, text=True).stdout

lines = output.splitlines()
failures = []


def expect(condition, what):
    if not condition:
        failures.append(what)


expect(lines[-1] == "1 passed, 2 failed, 1 skipped", f"the closing count: {lines[-1]!r}")
expect(f"FAIL: librabc:c / broken ({log})" in lines, "the failed test is named")
expect(f"TIMEOUT: librabc:c / slow ({log})" in lines, "the timed-out test is named")
expect("line 99" in lines and "line 60" in lines and "line 59" not in lines,
       "the last 40 lines of its output, and no more")
expect("ERROR:test.c:1:main: assertion failed" in lines, "its errors")
expect(not any("frame" in line or "skipped" in line for line in lines[:-1]),
       "tests that passed or were skipped are not named")

if failures:
    print(output)
    for failure in failures:
        print(f"not ok: {failure}")
    sys.exit(1)
print("ok: summarize-tests.py names what failed, with its output and errors")

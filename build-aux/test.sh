#!/bin/sh
# Builds librabc in a build directory of its own and runs the whole test
# suite: every test, then the C tests again under valgrind's memcheck, then
# a clang build with ASan and UBSan runs the C tests and the fuzzers, and a
# clang build with ThreadSanitizer the tests that share a client between
# threads.
set -eu
cd "$(dirname "$0")/.."

sh build-aux/install-deps.sh

build=_build
if [ -d "$build" ]; then
  meson setup --reconfigure -Ddocs=true "$build"
else
  meson setup -Ddocs=true "$build"
fi
meson compile -C "$build"

status=0
meson test -C "$build" --print-errorlogs --num-processes 2 || status=1
cp "$build/meson-logs/testlog.json" "$build/meson-logs/testlog-all.json"
meson test -C "$build" --setup valgrind --suite c --no-suite no-valgrind --print-errorlogs --num-processes 2 || status=1

sh build-aux/sanitize-and-fuzz.sh _build-asan || status=1
sh build-aux/tsan.sh _build-tsan || status=1

/usr/bin/python3 build-aux/summarize-tests.py \
  "$build/meson-logs/testlog-all.json" "$build/meson-logs/testlog-valgrind.json" \
  _build-asan/meson-logs/testlog.json _build-tsan/meson-logs/testlog.json
exit $status

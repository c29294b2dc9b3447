#!/bin/sh
# Builds librabc with clang and ThreadSanitizer and runs the C tests that
# share objects between threads, the client stress test first.
#
#   sh build-aux/tsan.sh [BUILD_DIR]     (default: build-tsan)
#
# GLib is not built with TSan: src/rabc-lock-private.h describes librabc's
# locks to it and tests/tsan.supp ignores what GLib does inside itself.
# Any report fails the test (TSan's exit status, 66).
set -eu
cd "$(dirname "$0")/.."

build=${1:-build-tsan}

set -- \
  -Db_sanitize=thread \
  -Db_lundef=false \
  -Dintrospection=disabled \
  -Dman=false

sh build-aux/setup-clang-build.sh "$build" "$@"

meson compile -C "$build"

# GLib 2.74's slice allocator hands memory from thread to thread behind
# TSan's back.
G_SLICE=always-malloc
TSAN_OPTIONS="suppressions=$PWD/tests/tsan.supp:second_deadlock_stack=1:history_size=4"
export G_SLICE TSAN_OPTIONS

# test-tools times the programs it starts, which TSan slows down; the rest
# of the C suite runs.
meson test -C "$build" --print-errorlogs --num-processes 2 \
  client-threads client-server connection call-queue frame server service reply-queue

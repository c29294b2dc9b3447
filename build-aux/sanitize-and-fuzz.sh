#!/bin/sh
# Builds librabc with clang, AddressSanitizer and UndefinedBehaviorSanitizer
# and the libFuzzer targets, then runs the C tests and the fuzz tests (every
# seed and regression input once, then a short session per target).
#
#   sh build-aux/sanitize-and-fuzz.sh [BUILD_DIR]     (default: build-asan)
#
# Run it again at will: a build directory it configured before is
# reconfigured, one configured with another compiler is wiped first.  A
# directory that is not a meson build directory is left alone.
#
# Environment: RABC_FUZZ_SECONDS, the length of each fuzzing session
# (default 15); RABC_INTROSPECTION, the introspection feature (default
# disabled: the GIR scanner adds nothing to these tests).
set -eu
cd "$(dirname "$0")/.."

build=${1:-build-asan}

set -- \
  -Db_sanitize=address,undefined \
  -Db_lundef=false \
  -Dfuzzing=true \
  -Dintrospection="${RABC_INTROSPECTION:-disabled}" \
  -Dman=false

sh build-aux/setup-clang-build.sh "$build" "$@"

meson compile -C "$build"

# Leaks are errors, and so is any undefined behaviour, with a stack trace.
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# GLib 2.74's slice allocator would hide blocks from ASan and LSan.
G_SLICE=always-malloc
export ASAN_OPTIONS UBSAN_OPTIONS G_SLICE

meson test -C "$build" --suite c --suite fuzz --print-errorlogs

#!/bin/sh
# Runs a libFuzzer target for the meson tests, never writing to the source
# tree.
#
#   run-fuzzer.sh replay FUZZER CORPUS_DIR REGRESSION_DIR ARTIFACT_DIR
#       runs every seed and regression input once (-runs=0)
#   run-fuzzer.sh fuzz FUZZER CORPUS_DIR REGRESSION_DIR ARTIFACT_DIR
#       fuzzes a copy of both for RABC_FUZZ_SECONDS seconds (default 15)
#
# A missing REGRESSION_DIR is skipped.  On a crash, a leak or a timeout the
# input libFuzzer saved is copied to ARTIFACT_DIR and the exit status is not
# zero.  ASAN_OPTIONS and UBSAN_OPTIONS from the environment are kept.
set -eu

if [ $# -ne 5 ]; then
  echo "usage: $0 replay|fuzz FUZZER CORPUS_DIR REGRESSION_DIR ARTIFACT_DIR" >&2
  exit 2
fi
mode=$1
fuzzer=$2
corpus=$3
regressions=$4
artifacts=$5

: "${ASAN_OPTIONS=detect_leaks=1:abort_on_error=1}"
: "${UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1}"
export ASAN_OPTIONS UBSAN_OPTIONS

[ -d "$corpus" ] || { echo "no corpus at $corpus" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/rabc-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/artifacts" "$work/tmp"
# Whatever the target leaves behind, such as a socket directory after a
# crash, goes away with $work.
export TMPDIR="$work/tmp"

# libFuzzer exits 77 on a finding by default, which meson reads as a
# skipped test: a crash would pass unseen.
common="-artifact_prefix=$work/artifacts/ -rss_limit_mb=2048 -print_final_stats=1"
common="$common -error_exitcode=1 -timeout_exitcode=1"

status=0
case $mode in
  replay)
    if [ -d "$regressions" ]; then
      # shellcheck disable=SC2086
      "$fuzzer" $common -runs=0 -timeout=10 "$corpus" "$regressions" || status=$?
    else
      # shellcheck disable=SC2086
      "$fuzzer" $common -runs=0 -timeout=10 "$corpus" || status=$?
    fi
    ;;
  fuzz)
    mkdir "$work/corpus"
    cp -R "$corpus"/. "$work/corpus"
    if [ -d "$regressions" ]; then
      cp -R "$regressions"/. "$work/corpus"
    fi
    # shellcheck disable=SC2086
    "$fuzzer" $common -max_total_time="${RABC_FUZZ_SECONDS:-15}" -timeout=5 \
      "$work/corpus" || status=$?
    ;;
  *)
    echo "unknown mode $mode" >&2
    exit 2
    ;;
esac

if [ "$status" -ne 0 ]; then
  mkdir -p "$artifacts"
  for f in "$work/artifacts"/*; do
    [ -e "$f" ] || continue
    cp "$f" "$artifacts/"
    echo "saved $artifacts/$(basename "$f") ($(wc -c < "$f") bytes):"
    od -A x -t x1z -v "$f" | head -n 32
  done
  echo "$fuzzer failed with status $status; reproduce with: $fuzzer FILE" >&2
fi
exit "$status"

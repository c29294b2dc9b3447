#!/bin/sh
# Runs examples/c/rabc-ping against rabcd on a temporary socket and checks
# that it prints three replies and exits 0, and fails with one line without
# a daemon.
set -eu
. "$(dirname "$0")/rabcd-fixture.sh"
example=$2
start_rabcd "$1"

out=$("$example" "$socket" 3)
printf '%s\n' "$out"
[ "$(printf '%s\n' "$out" | grep -c '^pong (')" -eq 3 ]
printf '%s\n' "$out" | head -n 1 | grep -qx "connected to $socket"

if "$example" "$dir/none.sock" 3 2>"$dir/err"; then
  echo "expected a failure without a daemon" >&2
  exit 1
fi
grep -q "cannot connect to $dir/none.sock" "$dir/err"
[ "$(wc -l < "$dir/err")" -eq 1 ]

stop_rabcd

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

# Not a socket path: help, and bad counts, with one line and status 2.
"$example" --help | grep -q '^Usage: rabc-ping'
for count in 0 x 3x ""; do
  status=0
  "$example" "$socket" "$count" 2>"$dir/err" || status=$?
  [ "$status" -eq 2 ] || { echo "COUNT '$count': status $status, expected 2" >&2; exit 1; }
  [ "$(wc -l < "$dir/err")" -eq 1 ]
done

# In a UTF-8 locale the unit is written as it is.
if locale -a 2>/dev/null | grep -qix 'c.utf-\{0,1\}8'; then
  LC_ALL=C.UTF-8 "$example" "$socket" 1 | grep -q ' µs)$'
fi

stop_rabcd

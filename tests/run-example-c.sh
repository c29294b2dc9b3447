#!/bin/sh
# Runs examples/c/rabc-ping against rabcd on a temporary socket and checks
# that it prints three replies and exits 0.
set -eu
rabcd=$1
example=$2
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT

"$rabcd" --socket "$dir/rabc.sock" &
pid=$!
i=0
while [ ! -S "$dir/rabc.sock" ]; do
  i=$((i + 1))
  [ "$i" -lt 500 ] || { echo "rabcd did not start" >&2; exit 1; }
  sleep 0.01
done

out=$("$example" "$dir/rabc.sock" 3)
printf '%s\n' "$out"
[ "$(printf '%s\n' "$out" | grep -c '^pong (')" -eq 3 ]
printf '%s\n' "$out" | head -n 1 | grep -qx "connected to $dir/rabc.sock"

# Without a daemon it fails with one line.
if "$example" "$dir/none.sock" 3 2>"$dir/err"; then
  echo "expected a failure without a daemon" >&2
  exit 1
fi
grep -q "cannot connect to $dir/none.sock" "$dir/err"
[ "$(wc -l < "$dir/err")" -eq 1 ]

kill -TERM "$pid"
wait "$pid"

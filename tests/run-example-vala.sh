#!/bin/sh
# Runs examples/vala/rabc-ping.vala, built against the generated rabc-1.vapi,
# against rabcd on a temporary socket: three async replies and one sync.
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
[ "$out" = "pong
pong
pong
pong" ] || { echo "unexpected output: $out" >&2; exit 1; }

if "$example" "$dir/none.sock" 1 2>"$dir/err"; then
  echo "expected a failure without a daemon" >&2
  exit 1
fi
grep -q "cannot connect to $dir/none.sock" "$dir/err"

kill -TERM "$pid"
wait "$pid"

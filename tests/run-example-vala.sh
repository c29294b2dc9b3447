#!/bin/sh
# Runs examples/vala/rabc-ping.vala, built against the generated rabc-1.vapi,
# against rabcd on a temporary socket: three async replies and one sync.
set -eu
. "$(dirname "$0")/rabcd-fixture.sh"
example=$2
start_rabcd "$1"

out=$("$example" "$socket" 3)
[ "$out" = "pong
pong
pong
pong" ] || { echo "unexpected output: $out" >&2; exit 1; }

if "$example" "$dir/none.sock" 1 2>"$dir/err"; then
  echo "expected a failure without a daemon" >&2
  exit 1
fi
grep -q "cannot connect to $dir/none.sock" "$dir/err"

stop_rabcd

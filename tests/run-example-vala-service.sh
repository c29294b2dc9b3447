#!/bin/sh
# Runs examples/vala/rabc-service.vala, built against the generated
# rabc-1.vapi, on a temporary socket and talks to it with rabcc: its
# handle_request handler answers "upper" and "echo", the server "pong" for
# the rest; SIGTERM stops it with status 0 and removes the socket.
set -eu
rabcc=$1
example=$2
dir=$(mktemp -d)
socket="$dir/service.sock"
"$example" "$socket" 2>"$dir/service.err" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT

i=0
while [ ! -S "$socket" ]; do
  kill -0 "$pid" 2>/dev/null || { echo "the service exited before listening" >&2; exit 1; }
  i=$((i + 1))
  [ "$i" -lt 500 ] || { echo "the service did not start" >&2; exit 1; }
  sleep 0.01
done

ask() {
  "$rabcc" --socket "$socket" --interval 20 --count 2 --message "$1"
}

out=$(ask "upper hello, wörld")
[ "$out" = "HELLO, WÖRLD
HELLO, WÖRLD" ] || { echo "unexpected reply to upper: $out" >&2; exit 1; }
out=$(ask "echo  two  spaces ")
[ "$out" = " two  spaces 
 two  spaces " ] || { echo "unexpected reply to echo: $out" >&2; exit 1; }
out=$(ask "anything else")
[ "$out" = "pong
pong" ] || { echo "unexpected reply: $out" >&2; exit 1; }

# A second one on the same path refuses to start, with one line.
if "$example" "$socket" 2>"$dir/err"; then
  echo "expected a failure on a busy socket" >&2
  exit 1
fi
[ "$(wc -l < "$dir/err")" -eq 1 ]
grep -q "^rabc-service-vala: .*$socket" "$dir/err"

# Without a socket: usage, status 2.
status=0
"$example" 2>"$dir/err" || status=$?
[ "$status" -eq 2 ] || { echo "expected status 2 without arguments, got $status" >&2; exit 1; }
[ "$(wc -l < "$dir/err")" -eq 1 ]

kill -TERM "$pid"
status=0
wait "$pid" || status=$?
[ "$status" -eq 0 ] || { echo "the service exited with status $status after SIGTERM" >&2; exit 1; }
[ ! -e "$socket" ] || { echo "the service left its socket behind" >&2; exit 1; }
[ ! -s "$dir/service.err" ] || { cat "$dir/service.err" >&2; exit 1; }

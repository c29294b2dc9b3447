# rabcd-fixture.sh: sourced by the shell tests. start_rabcd RABCD starts the
# daemon on a socket in a temporary directory, sets $dir and $socket, and
# makes sure both go away when the script exits; stop_rabcd stops it with
# SIGTERM and fails unless it exits 0.

start_rabcd() {
  dir=$(mktemp -d)
  socket="$dir/rabc.sock"
  "$1" --socket "$socket" &
  rabcd_pid=$!
  trap 'kill "$rabcd_pid" 2>/dev/null || true; rm -rf "$dir"' EXIT

  i=0
  while [ ! -S "$socket" ]; do
    i=$((i + 1))
    [ "$i" -lt 500 ] || { echo "rabcd did not start" >&2; exit 1; }
    sleep 0.01
  done
}

stop_rabcd() {
  kill -TERM "$rabcd_pid"
  wait "$rabcd_pid"
}

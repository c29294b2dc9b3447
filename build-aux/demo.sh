#!/bin/sh
# Builds librabc, starts rabcd on a private socket and shows rabcc receiving
# five "pong" replies, one every two seconds.
set -eu
cd "$(dirname "$0")/.."

sh build-aux/install-deps.sh
[ -d build ] || meson setup build
meson compile -C build

dir=$(mktemp -d)
socket="$dir/rabc.sock"
./build/src/rabcd/rabcd --socket "$socket" --verbose &
daemon=$!
trap 'kill "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null; rm -rf "$dir"' EXIT

while [ ! -S "$socket" ]; do sleep 0.05; done
echo "rabcd is listening on $socket; rabcc pings it every two seconds:"
./build/src/rabcc/rabcc --socket "$socket"

#!/bin/sh
# Installs the build into a temporary DESTDIR and checks the result the way
# a user of the installed library would: every file in its usual place, the
# C example built with nothing but `pkg-config --cflags --libs rabc-1`, the
# typelib imported from Python, and rabcd started from the installed
# systemd units the way systemd would.
#
#   test-install.sh BUILD_DIR SOURCE_DIR PREFIX LIBDIR
set -eu
build=$1
source=$2
prefix=$3
libdir=$4

work=$(mktemp -d)
daemon=""
cleanup() {
  [ -z "$daemon" ] || kill "$daemon" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

dest="$work/dest"
root="$dest$prefix"
meson install -C "$build" --no-rebuild --quiet --destdir "$dest"

fail() {
  echo "FAIL: $*" >&2
  [ ! -f "$work/activate.log" ] || sed 's/^/systemd-socket-activate: /' "$work/activate.log" >&2
  exit 1
}
exists() { [ -e "$1" ] || [ -L "$1" ] || fail "missing $1"; echo "ok: ${1#"$dest"}"; }

lib="$root/$libdir"
exists "$lib/librabc-1.so.0.0.0"
[ "$(readlink "$lib/librabc-1.so.0")" = librabc-1.so.0.0.0 ] || fail "librabc-1.so.0 does not point at librabc-1.so.0.0.0"
[ "$(readlink "$lib/librabc-1.so")" = librabc-1.so.0 ] || fail "librabc-1.so does not point at librabc-1.so.0"
objdump -p "$lib/librabc-1.so.0.0.0" | grep -q 'SONAME *librabc-1.so.0' || fail "wrong soname"
for h in rabc.h rabc-client.h rabc-server.h rabc-error.h rabc-defaults.h rabc-version.h rabc-version-macros.h; do
  exists "$root/include/rabc-1/$h"
done
exists "$lib/pkgconfig/rabc-1.pc"
exists "$root/share/gir-1.0/Rabc-1.0.gir"
exists "$lib/girepository-1.0/Rabc-1.0.typelib"
exists "$root/share/vala/vapi/rabc-1.vapi"
exists "$root/sbin/rabcd"
exists "$root/bin/rabcc"
exists "$root/share/man/man8/rabcd.8"
exists "$root/share/man/man1/rabcc.1"
exists "$root/lib/systemd/system/rabcd.service"
exists "$root/lib/systemd/system/rabcd.socket"
if [ "${RABC_EXPECT_DOCS:-0}" = 1 ]; then
  exists "$root/share/doc/rabc-1/index.html"
fi

# The service's sandbox, scored as systemd would: an exposure level of at
# most 2.0 ("OK" or better).  systemd-analyze scores 0 to 100 inside and
# shows a tenth of it.
service="$root/lib/systemd/system/rabcd.service"
systemd-analyze security --offline=true --threshold=20 "$service" >"$work/security.txt" 2>&1 ||
  { cat "$work/security.txt" >&2; fail "rabcd.service is exposed more than 2.0"; }
echo "ok: $(grep 'Overall exposure level' "$work/security.txt")"
# It runs unprivileged, within limits that agree with rabcd's own: the 2048
# clients of --max-clients and 16 descriptors in reserve, and more memory
# than the 64 MiB of --max-buffered-bytes.
grep -qx 'DynamicUser=yes' "$service" || fail "rabcd.service does not run as a dynamic user"
nofile=$(sed -n 's/^LimitNOFILE=//p' "$service")
[ "${nofile:-0}" -ge $((2048 + 16 + 16)) ] || fail "LimitNOFILE=$nofile leaves no room for 2048 clients"
memory=$(sed -n 's/^MemoryMax=\([0-9]*\)M$/\1/p' "$service")
[ "${memory:-0}" -ge 128 ] || fail "MemoryMax= is missing or below twice the 64 MiB of --max-buffered-bytes"
echo "ok: rabcd.service runs as a dynamic user with LimitNOFILE=$nofile and MemoryMax=${memory}M"

# Only rabc_* symbols are exported.
others=$(nm -D --defined-only "$lib/librabc-1.so.0.0.0" | awk '{print $3}' | grep -v '^rabc_' || true)
[ -z "$others" ] || fail "exported symbols outside rabc_*: $others"

# The C example, built against the installed tree with pkg-config alone:
# rabc-1.pc is relocatable, so it finds its headers and library in DESTDIR.
export PKG_CONFIG_PATH="$lib/pkgconfig"

cc "$source/examples/c/rabc-ping.c" $(pkg-config --cflags --libs rabc-1) -o "$work/rabc-ping"
echo "ok: examples/c built with pkg-config --cflags --libs rabc-1"

export LD_LIBRARY_PATH="$lib"
export GI_TYPELIB_PATH="$lib/girepository-1.0"

# rabcd as systemd would start it from the installed units: the socket
# unit's ListenStream, here moved to a temporary path, and the service's
# ExecStart, here inside DESTDIR.
socket="$work/rabc.sock"
exec_start=$(sed -n 's/^ExecStart=//p' "$root/lib/systemd/system/rabcd.service")
[ "$exec_start" = "$prefix/sbin/rabcd" ] || fail "unexpected ExecStart=$exec_start"
grep -qx 'ListenStream=/tmp/librabc' "$root/lib/systemd/system/rabcd.socket" || fail "unexpected ListenStream"
# It passes on only the environment it is told to.
systemd-socket-activate --listen "$socket" -E LD_LIBRARY_PATH "$dest$exec_start" 2>"$work/activate.log" &
daemon=$!
i=0
while [ ! -S "$socket" ]; do
  i=$((i + 1)); [ "$i" -lt 500 ] || fail "no socket from systemd-socket-activate"; sleep 0.01
done

out=$("$work/rabc-ping" "$socket" 2)
[ "$(printf '%s\n' "$out" | grep -c '^pong (')" -eq 2 ] || fail "the installed example got no pongs: $out"
echo "ok: the installed example talks to the installed rabcd"

# Python, with the installed typelib only.
/usr/bin/python3 - "$socket" <<'PY'
import sys
import gi
gi.require_version("Rabc", "1.0")
from gi.repository import Rabc
client = Rabc.Client.new_sync(sys.argv[1], None)
assert client.send_sync("ping", None) == "pong"
print("ok: Python imports the installed typelib:", gi.Repository.get_default().get_typelib_path("Rabc"))
PY
# The overrides, where PyGObject looks for them.
overrides=$(find "$dest" -path '*/gi/overrides/Rabc.py' | head -n 1)
[ -n "$overrides" ] || fail "missing gi/overrides/Rabc.py"
echo "ok: ${overrides#"$dest"}"
PYTHONPATH=${overrides%/gi/overrides/Rabc.py} /usr/bin/python3 - "$socket" <<'PY' || fail "the installed overrides do not load"
import sys
import gi
gi.require_version("Rabc", "1.0")
from gi.repository import Rabc
assert Rabc.Client.__module__ == "gi.overrides.Rabc", Rabc.Client.__module__
client = Rabc.Client.new_sync(sys.argv[1], None)
try:
    client.send_sync("a\0b")
except ValueError:
    print("ok: the installed overrides refuse text holding U+0000")
else:
    raise AssertionError("send_sync cut a message at U+0000")
PY
python_typelib=$(/usr/bin/python3 -c 'import gi; gi.require_version("Rabc", "1.0"); from gi.repository import Rabc; print(gi.Repository.get_default().get_typelib_path("Rabc"))')
[ "$python_typelib" = "$lib/girepository-1.0/Rabc-1.0.typelib" ] || fail "Python loaded $python_typelib"

"$root/bin/rabcc" --socket "$socket" --count 1 --interval 10 | grep -qx pong || fail "installed rabcc got no pong"
echo "ok: the installed rabcc talks to the installed rabcd"

kill -TERM "$daemon"
wait "$daemon" || fail "rabcd did not exit 0 on SIGTERM"
daemon=""
[ -S "$socket" ] || fail "rabcd removed the socket file that systemd owns"
echo "ok: all checks passed"

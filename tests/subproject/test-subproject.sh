#!/bin/sh
# Builds tests/subproject/consumer, a program that embeds librabc as a meson
# subproject, once with default_library=static and once shared, and checks
# what a parent project gets: a working library through
# dependency('rabc-1'), none of librabc's tests in its `meson test`, none of
# its programs, units, manual pages, examples or benchmark among its targets
# or in its install, and, static, no librabc to load at run time.
#
#   test-subproject.sh SOURCE_DIR MESON
set -eu
source=$1
meson=$2

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
# Runs a command quietly, and shows its output when it fails.
quiet() {
  log="$work/last.log"
  "$@" >"$log" 2>&1 || { cat "$log" >&2; fail "$*"; }
}

# The consumer's tree, with librabc's source tree as its subproject; meson
# writes only into the build directories.
cp -R "$source/tests/subproject/consumer" "$work/consumer"
mkdir "$work/consumer/subprojects"
ln -s "$source" "$work/consumer/subprojects/librabc"

for kind in static shared; do
  build="$work/build-$kind"
  # Never an installed rabc-1.pc: the subproject's.
  quiet "$meson" setup "$build" "$work/consumer" --buildtype=plain \
    -Ddefault_library="$kind" --force-fallback-for=rabc-1
  quiet "$meson" compile -C "$build" -j 2

  list=$("$meson" test -C "$build" --no-rebuild --list 2>/dev/null)
  [ "$list" = consumer ] || fail "$kind: meson test --list shows more than the consumer's test: $list"
  echo "ok: $kind: meson test --list shows only: $list"

  quiet "$meson" test -C "$build" --no-rebuild --print-errorlogs
  grep -q 'reply: pong' "$build/meson-logs/testlog.txt" || fail "$kind: the consumer got no pong"
  echo "ok: $kind: the consumer's server and client exchange ping and pong"

  "$meson" introspect --targets "$build" >"$work/targets.json"
  "$meson" introspect --installed "$build" >"$work/installed.json"
  /usr/bin/python3 - "$kind" "$work/targets.json" "$work/installed.json" <<'PY' || fail "$kind: see above"
import json
import re
import sys

kind, targets_file, installed_file = sys.argv[1:]
with open(targets_file) as f:
    targets = json.load(f)
with open(installed_file) as f:
    installed = json.load(f)

ok = True
names = sorted(t['name'] for t in targets)
# The library and what makes it; nothing else of librabc.
allowed = {'consumer', 'rabc-1', 'rabc-internal', 'rabc-marshal_c', 'rabc-marshal_h'}
extra = [n for n in names if n not in allowed]
if extra:
    print(f'{kind}: unexpected targets: {extra}')
    ok = False
library = [t for t in targets if t['name'] == 'rabc-1']
expected_type = {'static': 'static library', 'shared': 'shared library'}[kind]
if [t['type'] for t in library] != [expected_type]:
    print(f'{kind}: rabc-1 is {[t["type"] for t in library]}, expected a {expected_type}')
    ok = False

# Only the library, its headers and its pkg-config file are installed.
library_file = {'static': r'librabc-1\.a', 'shared': r'librabc-1\.so(\.0(\.0\.0)?)?'}[kind]
allowed_paths = re.compile(r'.*/(lib/([^/]+/)?(' + library_file + r'|pkgconfig/rabc-1\.pc)'
                           r'|include/rabc-1/rabc[a-z-]*\.h)')
destinations = sorted(installed.values())
others = [d for d in destinations if not allowed_paths.fullmatch(d)]
if others:
    print(f'{kind}: installs more than the library: {others}')
    ok = False
for wanted in [library_file, r'rabc-1\.pc', r'rabc\.h', r'rabc-version\.h']:
    if not any(re.fullmatch(r'.*/' + wanted, d) for d in destinations):
        print(f'{kind}: does not install {wanted}')
        ok = False

if ok:
    print(f'ok: {kind}: targets {" ".join(names)}')
    print(f'ok: {kind}: installs {len(destinations)} files, '
          + ' '.join(sorted({d.rsplit("/", 1)[1] for d in destinations if "/include/" not in d}))
          + ' and the headers')
sys.exit(0 if ok else 1)
PY

  ldd "$build/consumer" >"$work/ldd.txt" || fail "$kind: ldd failed"
  if [ "$kind" = static ]; then
    if grep -q librabc "$work/ldd.txt"; then
      cat "$work/ldd.txt" >&2
      fail "static: the consumer loads librabc at run time"
    fi
    nm "$build/consumer" | grep -q ' T rabc_server_new$' || fail "static: rabc_server_new is not in the consumer"
    echo "ok: static: the consumer holds librabc and loads no librabc-1.so"
  else
    grep -q "librabc-1.so.0 => $build/" "$work/ldd.txt" ||
      { cat "$work/ldd.txt" >&2; fail "shared: the consumer does not load the subproject's librabc-1.so.0"; }
    echo "ok: shared: the consumer loads $(sed -n 's/^[[:space:]]*\(librabc-1.so.0 => [^ ]*\).*/\1/p' "$work/ldd.txt")"
  fi
done
echo "ok: all checks passed"

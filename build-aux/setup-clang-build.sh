#!/bin/sh
# Configures BUILD_DIR for clang with the given meson options, for the
# sanitizer builds: a build directory configured before is reconfigured,
# one configured with another compiler is wiped first, what a failed first
# `meson setup` left is removed, and a directory that is not a meson build
# directory is left alone.
#
#   sh build-aux/setup-clang-build.sh BUILD_DIR [MESON_OPTION]...
set -eu

build=$1
shift

CC=clang
export CC

if [ -f "$build/meson-private/coredata.dat" ]; then
  if grep -qF '"compiler": ["clang"' "$build/meson-info/intro-targets.json" 2>/dev/null; then
    meson setup --reconfigure "$@" "$build"
  else
    echo "$build was configured with another compiler: wiping it" >&2
    meson setup --wipe "$@" "$build"
  fi
elif [ -d "$build/meson-private" ] || [ -d "$build/meson-logs" ]; then
  rm -rf "$build"
  meson setup "$@" "$build"
elif [ -e "$build" ] && [ -n "$(ls -A "$build")" ]; then
  echo "$build exists and is not a meson build directory: refusing to touch it" >&2
  exit 1
else
  meson setup "$@" "$build"
fi

#!/bin/sh
# Installs what librabc needs to build and test, from Debian 12's packages.
# Does nothing when everything is already installed.
set -eu

packages="
  meson ninja-build pkg-config gcc libc6-dev
  libglib2.0-dev libglib2.0-bin
  gobject-introspection libgirepository1.0-dev gir1.2-glib-2.0
  valac
  python3 python3-gi python3-pytest python3-gbulb
  gjs
  valgrind strace
  clang libclang-rt-14-dev
  gi-docgen python3-docutils chromium
  systemd
  xvfb xauth imagemagick gir1.2-gtk-4.0 gir1.2-adw-1 librsvg2-common python3-gi-cairo
  binutils bsdutils util-linux
"

missing=""
for p in $packages; do
  if ! dpkg-query -W -f '${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing="$missing $p"
  fi
done

if [ -n "$missing" ]; then
  echo "Installing:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # shellcheck disable=SC2086
  apt-get install -y -q --no-install-recommends $missing
fi

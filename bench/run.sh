#!/usr/bin/env bash
# Benchmarks stillgo against Delve 1.27.1 on the same workloads, in the same
# run, on this machine, and writes the results into BENCHMARKS.md.
#
#   bench/run.sh            # everything (first run builds Prometheus: ~10+ min on 2 cores)
#   BENCH_QUICK=1 bench/run.sh   # fewer repetitions (smoke test of the harness)
#   STILLGO=path/to/stillgo bench/run.sh   # benchmark that binary instead of building one
#
# Needs: Go on PATH (or GO=/path/to/go), cargo, a C compiler, python3, network
# access to the Go module proxy the first time.  Everything it builds is cached
# under target/bench/ (delete that directory to rebuild from scratch).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$REPO/target/bench
GO=${GO:-go}
DLV_VERSION=v1.27.1
# The large program nobody here wrote: Prometheus's server, built by `go
# install` from the module proxy, optimized as released but with DWARF (no
# -s -w): about 150 MB.
LARGE_PKG=github.com/prometheus/prometheus/cmd/prometheus
LARGE_VERSION=v0.316.0

mkdir -p "$BENCH/bin" "$BENCH/workloads" "$BENCH/logs"
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false
log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# 1. Delve 1.27.1.
if ! "$BENCH/bin/dlv" version 2>/dev/null | grep -q "Version: ${DLV_VERSION#v}"; then
  log "installing Delve $DLV_VERSION"
  GOBIN=$BENCH/bin "$GO" install "github.com/go-delve/delve/cmd/dlv@$DLV_VERSION"
fi

# 2a. The large program (cached: it takes minutes to build).
if [ ! -x "$BENCH/bin/prometheus" ]; then
  log "building $LARGE_PKG@$LARGE_VERSION (slow, once)"
  # -ldflags= overrides any -s -w from the environment: we want DWARF.
  GOBIN=$BENCH/bin GOFLAGS="-buildvcs=false -ldflags=" "$GO" install "$LARGE_PKG@$LARGE_VERSION"
fi
size=$(stat -c %s "$BENCH/bin/prometheus")
if [ "$size" -lt 100000000 ]; then
  echo "error: $BENCH/bin/prometheus is only $size bytes (want >= 100 MB)" >&2; exit 1
fi

# 2b. stillgo itself, optimized (STILLGO=/path/to/stillgo benchmarks a prebuilt one).
if [ -z "${STILLGO:-}" ]; then
  log "building stillgo (release)"
  (cd "$REPO" && cargo build --release -q -p stillgo)
  STILLGO=$REPO/target/release/stillgo
fi

# 2c. The small workloads, built like `dlv debug` / `stillgo debug` build them.
log "building workloads"
for w in condbp next goroutines bigdata call; do
  (cd "$REPO/bench/workloads" && "$GO" build -gcflags='all=-N -l' -o "$BENCH/workloads/$w" "./$w")
done

# 3. Floors: one ptrace stop/resume (also re-measured after step 4), and
#    reading the DWARF bytes.
log "measuring floors"
cc -O2 -pthread -o "$BENCH/ptrace_roundtrip" "$REPO/bench/floor/ptrace_roundtrip.c"
# 3 extra idle threads: the condbp workload runs with 4 (main, sysmon, 2 idle Ms).
# The machine may be shared: 5 short runs now and 5 after the workloads, and
# each figure is its own minimum (after step 4).
ptrace_floor() { for i in 1 2 3 4 5; do "$BENCH/ptrace_roundtrip" 5000 3; done; }
ptrace_floor > "$BENCH/floor-ptrace-runs.txt"
python3 "$REPO/bench/floor/dwarf_floor.py" "$BENCH/bin/prometheus" 3 > "$BENCH/floor-dwarf-prometheus.json"
python3 "$REPO/bench/floor/dwarf_floor.py" "$BENCH/bin/dlv" 3 > "$BENCH/floor-dwarf-dlv.json"

# 4. Both debuggers, same workloads.
REPS=3 NEXTS=50 CALLS=50 CALL_STOPS=20
if [ -n "${BENCH_QUICK:-}" ]; then REPS=1 NEXTS=10 CALLS=10 CALL_STOPS=5; fi
rm -rf "$BENCH/logs/session" && mkdir -p "$BENCH/logs/session"
log "running the workloads (logs of every session in target/bench/logs/session/)"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
python3 "$REPO/bench/bench.py" \
  --stillgo "$STILLGO" --dlv "$BENCH/bin/dlv" \
  --large "prometheus=$BENCH/bin/prometheus" --large "dlv=$BENCH/bin/dlv" \
  --workloads "$REPO/bench/workloads" --workdir "$BENCH/workloads" \
  --logdir "$BENCH/logs/session" --json "$BENCH/results.json" \
  --reps "$REPS" --nexts "$NEXTS" --calls "$CALLS" --call-stops "$CALL_STOPS"
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
ptrace_floor >> "$BENCH/floor-ptrace-runs.txt"
python3 -c '
import sys
runs = [dict(kv.split("=") for kv in l.split()) for l in open(sys.argv[1]) if l.strip()]
best = {k: min(float(r[k]) for r in runs) for k in ("bare_us", "bp_us", "stw_us")}
print(" ".join(f"{k}={v:.2f}" for k, v in best.items()), "threads=" + runs[0]["threads"], "runs=%d" % len(runs))
' "$BENCH/floor-ptrace-runs.txt" > "$BENCH/floor-ptrace.txt"

# 5. BENCHMARKS.md: replace the generated section, keep the analysis.
python3 "$REPO/bench/report.py" --repo "$REPO" --bench "$BENCH" --go "$GO" \
  --stillgo "$STILLGO" --dlv "$BENCH/bin/dlv" --large-pkg "$LARGE_PKG@$LARGE_VERSION" \
  --load "$LOAD_BEFORE -> $LOAD_AFTER" --md "$REPO/BENCHMARKS.md"
log "done: BENCHMARKS.md updated"

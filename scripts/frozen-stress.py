#!/usr/bin/env python3
"""Stress test of frozen calls: a fresh stillgo session per call on
testdata/frozen (the first frozen call of a session, with the program's
goroutines still starting, is the hardest case), counters printed before
and after `call nop()`. Any moved counter is a frozen-world escape.

    GOMAXPROCS=8 scripts/frozen-stress.py 1.27.3 optimized 60

Needs the test programs built (cargo test -p stillgo --test frozen) and
target/debug/stillgo. Set FZLOG=1 for a debug log per session in
target/frozen-stress/ (kept only for a failing session).
"""
import os
import subprocess
import sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ver, flavor, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
binary = f"{root}/target/gotest/{ver}/{flavor}/frozen"
src = f"{root}/testdata/frozen/main.go"
line = [i + 1 for i, l in enumerate(open(src)) if "BP:probe" in l][0]
counters = ["main.spins", "main.sleeps", "main.allocs", "main.pings", "main.pongs", "main.sysc", "main.writes", "main.finals", "main.panics", "main.defers"]
cmds = [f"break main.go:{line}", "continue", "goroutines"] + [f"print {c}" for c in counters] + ["call nop()"] + [f"print {c}" for c in counters] + ["quit"]
logdir = f"{root}/target/frozen-stress"
os.makedirs(logdir, exist_ok=True)
for k in range(n):
    log = f"{logdir}/session-{k}.log"
    args = [f"{root}/target/debug/stillgo"] + (["--log", f"--log-dest={log}"] if os.environ.get("FZLOG") else []) + ["exec", binary]
    env = dict(os.environ, STILLGO_LOG=os.environ.get("STILLGO_LOG", "stillgo_eval=debug"))
    out = subprocess.run(args, input="\n".join(cmds) + "\n", capture_output=True, text=True, timeout=120, env=env).stdout
    res = out.split("(stillgo) ")[1:]
    k0 = 3  # break, continue, goroutines
    before, after = res[k0 : k0 + len(counters)], res[k0 + len(counters) + 1 : k0 + 2 * len(counters) + 1]
    moved = [(counters[j], before[j].strip(), after[j].strip()) for j in range(len(counters)) if j < len(before) and j < len(after) and before[j].strip() != after[j].strip()]
    if moved or len(after) < len(counters):
        print(f"session {k}: moved {moved}" + (f" (log {log})" if os.environ.get("FZLOG") else ""))
        sys.exit(1)
    if os.path.exists(log):
        os.remove(log)
print(f"ok: {n} sessions, no counter moved")

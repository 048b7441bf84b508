#!/usr/bin/env python3
"""Drive stillgo and Delve side by side on the same workloads and report ratios.

Both debuggers are driven the same way: their terminal front end is started
with stdin/stdout on pipes, one command is written at a time, and the time
until the next prompt is the command's latency.  stillgo prints
"(stillgo) " on its own line before reading each command when stdin is not a
terminal; Delve (with --allow-non-terminal-interactive=true) prints "(dlv) "
without a newline.  Peak memory is the debugger process's VmHWM (peak
resident set) read from /proc just before `exit`; the debuggee is a separate
process and is not counted.

Invoked by bench/run.sh, which prepares the binaries; see BENCHMARKS.md.
"""

import argparse
import json
import os
import re
import select
import signal
import statistics
import subprocess
import time

ANSI = re.compile(rb"\x1b\[[0-9;]*m")


class Timeout(Exception):
    pass


class Debugger:
    """One debugger process driven through its prompt."""

    def __init__(self, kind, exe, binary, args, cwd, env, log):
        self.kind = kind
        if kind == "stillgo":
            argv = [exe, "exec", binary]
            self.prompt = b"(stillgo) \n"
        else:
            argv = [exe, "--allow-non-terminal-interactive=true", "--check-go-version=false", "exec", binary]
            self.prompt = b"(dlv) "
        if args:
            argv += ["--"] + list(args)
        self.log = log
        self.log.write(f"### {kind}: {' '.join(argv)}\n")
        self.t0 = time.perf_counter()
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  cwd=cwd, env=env, start_new_session=True)
        self.fd = self.p.stdout.fileno()
        os.set_blocking(self.fd, False)

    def _read_until_prompt(self, timeout):
        buf = bytearray()
        deadline = time.perf_counter() + timeout
        plen = len(self.prompt)
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise Timeout()
            r, _, _ = select.select([self.fd], [], [], left)
            if not r:
                continue
            try:
                chunk = os.read(self.fd, 1 << 20)
            except BlockingIOError:
                continue
            if not chunk:
                raise EOFError(bytes(buf[-2000:]).decode(errors="replace"))
            buf += chunk
            if len(buf) >= plen and buf[-plen:] == self.prompt:
                # A prompt counts only at the start of a line.
                before = len(buf) - plen
                if before == 0 or buf[before - 1] == 0x0A:
                    del buf[before:]
                    return bytes(buf)

    def _logout(self, out):
        text = ANSI.sub(b"", out).decode(errors="replace")
        if len(text) > 6000:
            text = text[:3000] + f"\n[... {len(text) - 6000} characters elided ...]\n" + text[-3000:]
        self.log.write(text)
        if not text.endswith("\n"):
            self.log.write("\n")
        self.log.flush()
        return text

    def first_prompt(self, timeout=300):
        out = self._read_until_prompt(timeout)
        self._logout(out)
        return time.perf_counter() - self.t0

    def cmd(self, line, timeout=300):
        """Runs one command; returns (seconds, output without ANSI colours)."""
        self.log.write(f"({self.kind}) {line}\n")
        t = time.perf_counter()
        self.p.stdin.write(line.encode() + b"\n")
        self.p.stdin.flush()
        out = self._read_until_prompt(timeout)
        dt = time.perf_counter() - t
        full = ANSI.sub(b"", out).decode(errors="replace")
        self._logout(out)
        self.log.write(f"[{dt * 1000:.1f} ms]\n")
        return dt, full

    def peak_rss_mb(self):
        try:
            with open(f"/proc/{self.p.pid}/status") as f:
                for l in f:
                    if l.startswith("VmHWM:"):
                        return int(l.split()[1]) / 1024.0
        except OSError:
            pass
        return None

    def _descendants(self):
        out, todo = [], [self.p.pid]
        while todo:
            pid = todo.pop()
            try:
                for task in os.listdir(f"/proc/{pid}/task"):
                    with open(f"/proc/{pid}/task/{task}/children") as f:
                        kids = [int(x) for x in f.read().split()]
                        out += kids
                        todo += kids
            except OSError:
                pass
        return out

    def close(self):
        kids = self._descendants()
        try:
            self.p.stdin.write(b"exit\n")
            self.p.stdin.flush()
            self.p.stdin.close()
        except OSError:
            pass
        try:
            self.p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        # Never leave a debuggee behind (only our own descendants).
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        self.p.stdout.close()


def marker_line(path, name):
    with open(path) as f:
        for i, l in enumerate(f, 1):
            if f"// BENCH:{name}" in l:
                return i
    raise SystemExit(f"marker BENCH:{name} not found in {path}")


def bp_id(out):
    m = re.search(r"Breakpoint (\d+) set", out)
    if not m:
        raise RuntimeError(f"no breakpoint set: {out[:300]!r}")
    return m.group(1)


class Bench:
    def __init__(self, a):
        self.a = a
        self.exes = {"stillgo": a.stillgo, "dlv": a.dlv}
        self.rows = []  # dicts: name, unit, stillgo, dlv, bar, note
        self.notes = []
        os.makedirs(a.logdir, exist_ok=True)
        self.env = dict(os.environ)
        # Delve reads its config from $XDG_CONFIG_HOME/dlv: keep a private,
        # default one so a user's settings do not change the numbers.
        self.env["XDG_CONFIG_HOME"] = os.path.join(a.workdir, "xdg")
        self.env["NO_COLOR"] = "1"
        os.makedirs(self.env["XDG_CONFIG_HOME"], exist_ok=True)
        self.runcwd = os.path.join(a.workdir, "cwd")
        os.makedirs(self.runcwd, exist_ok=True)

    def session(self, kind, binary, name, args=()):
        log = open(os.path.join(self.a.logdir, f"{name}.{kind}.log"), "a")
        return Debugger(kind, self.exes[kind], binary, args, self.runcwd, self.env, log)

    def row(self, name, unit, vals, bar=None, note=""):
        r = {"name": name, "unit": unit, "stillgo": vals.get("stillgo"), "dlv": vals.get("dlv"), "bar": bar, "note": note}
        self.rows.append(r)
        print(f"  {name}: stillgo={fmt(r['stillgo'])} dlv={fmt(r['dlv'])} {unit} {note}", flush=True)

    def both(self, fn, *a):
        res = {}
        for kind in ("stillgo", "dlv"):
            try:
                res[kind] = fn(kind, *a)
            except Timeout:
                res[kind] = "timeout"
                print(f"  [{kind}] timeout", flush=True)
            except Exception as e:  # record, keep going with the other workloads
                res[kind] = f"error: {type(e).__name__}: {str(e)[:200]}"
                print(f"  [{kind}] {res[kind]}", flush=True)
        return res

    # (1) large programs: start -> main.main, stack + locals, peak memory.
    def large(self, kind, label, binary):
        runs = []
        for _ in range(self.a.reps):
            d = self.session(kind, binary, f"large-{label}")
            try:
                t_prompt = d.first_prompt()
                _, o1 = d.cmd("break main.main")
                bp_id(o1)
                t_c, o2 = d.cmd("continue")
                if "main.main" not in o2:
                    raise RuntimeError(f"did not stop in main.main: {o2[-300:]!r}")
                t_main = time.perf_counter() - d.t0
                t_s, o3 = d.cmd("stack")
                t_l, o4 = d.cmd("locals")
                t_first = time.perf_counter() - d.t0
                rss = d.peak_rss_mb()
                runs.append({"load": t_prompt, "main": t_main, "stack_locals": t_s + t_l, "first": t_first, "rss": rss})
            finally:
                d.close()
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        med["rss"] = max(r["rss"] for r in runs)
        return med

    # (2) 20,000 false-condition hits.
    def condbp(self, kind):
        src = os.path.join(self.a.workloads, "condbp", "main.go")
        d = self.session(kind, os.path.join(self.a.workdir, "condbp"), "condbp")
        try:
            d.first_prompt()
            d.cmd("break main.main")
            d.cmd("continue")
            _, o = d.cmd(f"break {src}:{marker_line(src, 'cond')}")
            d.cmd(f"condition {bp_id(o)} i < 0")
            t, o = d.cmd("continue", timeout=self.a.timeout)
            if "exited" not in o:
                raise RuntimeError(f"program did not run to its end: {o[-300:]!r}")
            return t
        finally:
            d.close()

    # (3) next latency.
    def next_(self, kind):
        src = os.path.join(self.a.workloads, "next", "main.go")
        d = self.session(kind, os.path.join(self.a.workdir, "next"), "next")
        try:
            d.first_prompt()
            d.cmd(f"break {src}:{marker_line(src, 'next')}")
            d.cmd("continue")
            # Keep only the loop breakpoint's effect out of `next`: clear it.
            d.cmd("clearall")
            ts = []
            for _ in range(self.a.nexts):
                t, o = d.cmd("next")
                if "main.go:" not in o:
                    raise RuntimeError(f"next did not stop on a line: {o[-300:]!r}")
                ts.append(t)
            return ts
        finally:
            d.close()

    # (4) 100,000 goroutines with their current (user) frames.
    def goroutines(self, kind):
        src = os.path.join(self.a.workloads, "goroutines", "main.go")
        d = self.session(kind, os.path.join(self.a.workdir, "goroutines"), "goroutines", [str(self.a.goroutines)])
        try:
            d.first_prompt()
            d.cmd(f"break {src}:{marker_line(src, 'ready')}")
            d.cmd("continue", timeout=self.a.timeout)
            t, o = d.cmd("goroutines", timeout=self.a.timeout)
            n = len(re.findall(r"Goroutine \d+ - ", o))
            in_worker = len(re.findall(r"main\.leaf", o))
            return {"t": t, "listed": n, "user_frames": in_worker}
        finally:
            d.close()

    # (5) paging through a 1,000,000-entry slice and map.
    def bigdata(self, kind):
        src = os.path.join(self.a.workloads, "bigdata", "main.go")
        d = self.session(kind, os.path.join(self.a.workdir, "bigdata"), "bigdata")
        res = {}
        try:
            d.first_prompt()
            d.cmd(f"break {src}:{marker_line(src, 'ready')}")
            d.cmd("continue")
            # A deep page of 1,000 elements.
            d.cmd("config max-array-values 1000")
            t, o = d.cmd("print s[500000:501000]", timeout=self.a.timeout)
            res["page_slice"] = t if "1502997" in o else f"wrong output: {o[:200]!r}"
            # Everything: one million elements / entries.
            d.cmd("config max-array-values 1000000")
            t, o = d.cmd("print s", timeout=self.a.timeout)
            res["all_slice"] = t if "2999997" in o else f"incomplete output: {o[-200:]!r}"
            t, o = d.cmd("print m", timeout=self.a.timeout)
            res["all_map"] = t if re.search(r"\b999999: 6999993\b", o) else f"incomplete output: {o[-200:]!r}"
            res["rss"] = d.peak_rss_mb()
            return res
        except Timeout:
            for k in ("page_slice", "all_slice", "all_map"):
                res.setdefault(k, "timeout")
            return res
        finally:
            d.close()

    # (6) injected-call latency, with the world frozen in stillgo (its
    # default `call`; Delve lets every goroutine run during a call).  The
    # workload's other goroutines are busy and bump counters; `print ctr`
    # (which runs no program code) before and after the calls shows whether
    # any of them ran during the calls.
    def call(self, kind):
        src = os.path.join(self.a.workloads, "call", "main.go")
        d = self.session(kind, os.path.join(self.a.workdir, "call"), "call")
        res = {}
        try:
            d.first_prompt()
            thaw = False
            if kind == "stillgo":
                _, h = d.cmd("help")
                if not re.search(r"^\s*call\b", h, re.M):
                    return "n/a"
                _, h = d.cmd("help call")
                thaw = "-thaw" in h
            d.cmd(f"break {src}:{marker_line(src, 'call')}")
            self._stop(d)

            def calls(n, first, prefix=""):
                ts = []
                for k in range(first, first + n):
                    t, o = d.cmd(f"call {prefix}add(base, {k})")
                    if not re.search(rf"(^|[\s:=]){40 + k}\s*$", o, re.M):
                        raise RuntimeError(f"call did not return {40 + k}: {o[-300:]!r}")
                    ts.append(t)
                return ts

            # A batch of calls at one stop.
            before = self._counters(d)
            res["batch"] = calls(self.a.calls, 0)
            res["batch_moved"] = self._moved(before, self._counters(d))
            # The first call after each of several stops: every stop finds
            # the busy goroutines running, so each call has to stop them.
            res["first"], res["first_moved"] = [], 0
            for j in range(self.a.call_stops):
                self._stop(d)
                before = self._counters(d)
                res["first"] += calls(1, 1000 + j)
                res["first_moved"] += self._moved(before, self._counters(d))
            # stillgo with the old behaviour (the world runs, as in Delve).
            if thaw:
                before = self._counters(d)
                res["thaw"] = calls(self.a.calls, 2000, "-thaw ")
                res["thaw_moved"] = self._moved(before, self._counters(d))
            return res
        finally:
            d.close()

    @staticmethod
    def _stop(d):
        _, o = d.cmd("continue")
        if "main.go:" not in o or "exited" in o:
            raise RuntimeError(f"did not stop at the call breakpoint: {o[-300:]!r}")

    @staticmethod
    def _counters(d):
        _, o = d.cmd("print ctr")
        c = {k: int(v) for k, v in re.findall(r"(\w+): (\d+)", o)}
        if "main.counters" not in o or len(c) != 6:
            raise RuntimeError(f"cannot read the counters: {o[-300:]!r}")
        return c

    @staticmethod
    def _moved(a, b):
        """Sum of the counters' increments from a to b."""
        return sum(b[k] - a[k] for k in a)

    def run(self):
        a = self.a
        only = set(a.only.split(",")) if a.only else None
        want = lambda w: only is None or w in only
        for label, binary in (a.large if want("large") else []):
            print(f"== start to main.main: {label} ({os.path.getsize(binary) / 1e6:.0f} MB)", flush=True)
            r = self.both(self.large, label, binary)
            g = lambda k, f: r[k][f] if isinstance(r[k], dict) else r[k]
            bar_start = 0.33 if label == a.large[0][0] else None
            self.row(f"{label}: start to stopped at main.main", "s", {k: g(k, "main") for k in r}, bar_start,
                     f"median of {a.reps}")
            self.row(f"{label}: of which loading, to first prompt", "s", {k: g(k, "load") for k in r})
            self.row(f"{label}: stack + locals at main.main", "s", {k: g(k, "stack_locals") for k in r})
            self.row(f"{label}: start to first stack and locals", "s", {k: g(k, "first") for k in r})
            self.row(f"{label}: peak RSS of the debugger", "MB", {k: g(k, "rss") for k in r},
                     0.5 if label == a.large[0][0] else None, f"max of {a.reps}")

        for w in ("condbp", "next", "goroutines", "bigdata", "call"):
            if want(w):
                getattr(self, f"{w}_rows")()
        with open(a.json, "w") as f:
            json.dump({"rows": self.rows}, f, indent=1)

    def condbp_rows(self):
        a = self.a
        print("== 20,000 false-condition breakpoint hits", flush=True)
        r = self.both(self.condbp)
        self.row("20,000 hits of a false conditional breakpoint", "s", r, 0.5)
        per = {k: (v / 20000 * 1e6 if isinstance(v, float) else v) for k, v in r.items()}
        self.row("  per hit", "us", per)

    def next_rows(self):
        a = self.a
        print("== next latency", flush=True)
        r = self.both(self.next_)
        self.row("next latency (median)", "ms",
                 {k: (statistics.median(v) * 1000 if isinstance(v, list) else v) for k, v in r.items()}, 1.0,
                 f"{a.nexts} nexts")
        self.row("next latency (mean)", "ms",
                 {k: (statistics.mean(v) * 1000 if isinstance(v, list) else v) for k, v in r.items()})

    def goroutines_rows(self):
        a = self.a
        print(f"== goroutines ({a.goroutines})", flush=True)
        r = self.both(self.goroutines)
        self.row(f"list {a.goroutines} goroutines with user frames", "s",
                 {k: (v["t"] if isinstance(v, dict) else v) for k, v in r.items()}, 0.5)
        self.row("  goroutines listed", "count", {k: (v["listed"] if isinstance(v, dict) else v) for k, v in r.items()},
                 note=f"complete = {a.goroutines + 1}+ (plus runtime goroutines)")
        self.row("  listed in main.leaf (user frame found)", "count",
                 {k: (v["user_frames"] if isinstance(v, dict) else v) for k, v in r.items()})

    def bigdata_rows(self):
        a = self.a
        print("== paging 1,000,000-entry slice and map", flush=True)
        r = self.both(self.bigdata)
        g = lambda v, f: v.get(f) if isinstance(v, dict) else v
        self.row("print s[500000:501000] (a 1,000-element page)", "s", {k: g(v, "page_slice") for k, v in r.items()})
        self.row("print s, 1,000,000 elements", "s", {k: g(v, "all_slice") for k, v in r.items()})
        self.row("print m, 1,000,000 entries", "s", {k: g(v, "all_map") for k, v in r.items()})
        self.row("  peak RSS of the debugger", "MB", {k: g(v, "rss") for k, v in r.items()})

    def call_rows(self):
        a = self.a
        print("== injected call (stillgo: world frozen; Delve: world running)", flush=True)
        r = self.both(self.call)
        g = lambda v, f: v.get(f) if isinstance(v, dict) else v
        med = lambda v: statistics.median(v) * 1000 if isinstance(v, list) else v

        def frozen(kind, v, moved):
            # The bar is for frozen calls: a stillgo latency counts only when
            # the counters prove that nothing else ran.
            if kind == "stillgo" and isinstance(v, dict) and v.get(moved) != 0:
                return f"not frozen: counters moved by {v.get(moved)}"
            return med(g(v, moved.replace("_moved", "")))

        self.row("injected call latency, stillgo frozen (median)", "ms",
                 {k: frozen(k, v, "batch_moved") for k, v in r.items()}, 1.0,
                 f"{a.calls} calls at one stop; Delve lets the world run")
        self.row("  first call after a stop, stillgo frozen (median)", "ms",
                 {k: frozen(k, v, "first_moved") for k, v in r.items()}, None,
                 f"{a.call_stops} stops")
        self.row("  first call after a stop: slowest", "ms",
                 {k: (max(g(v, "first")) * 1000 if isinstance(g(v, "first"), list) else g(v, "first")) for k, v in r.items()},
                 None, f"of {a.call_stops}")
        self.row("  counter increments of the other goroutines during the calls at one stop", "count",
                 {k: g(v, "batch_moved") for k, v in r.items()}, note="frozen = 0")
        self.row("  counter increments during the first calls after each stop", "count",
                 {k: g(v, "first_moved") for k, v in r.items()}, note="frozen = 0")
        s = r.get("stillgo")
        if isinstance(s, dict) and "thaw" in s:
            self.row("  stillgo call -thaw (world running, as Delve) (median)", "ms",
                     {"stillgo": med(s["thaw"]), "dlv": med(g(r.get("dlv"), "batch"))}, None,
                     f"{a.calls} calls; Delve column: its calls at one stop")
            self.row("  counter increments during stillgo's -thaw calls", "count", {"stillgo": s["thaw_moved"]})


def ratio(r):
    s, d = r["stillgo"], r["dlv"]
    if r["unit"] == "count" or not isinstance(s, (int, float)) or not isinstance(d, (int, float)) or d == 0:
        return None
    return s / d


def table(rows):
    out = ["| workload | unit | stillgo | Delve | stillgo/Delve | bar | meets bar |",
           "|---|---|---:|---:|---:|---:|---|"]
    for r in rows:
        q = ratio(r)
        bar = r["bar"]
        ok = "" if bar is None or q is None else ("yes" if q <= bar else "**no**")
        if bar is not None and q is None:
            ok = "n/a"
        name = r["name"].strip()
        if r["name"].startswith("  "):
            name = "&nbsp;&nbsp;" + name
        note = f" ({r['note']})" if r["note"] else ""
        out.append(f"| {name}{note} | {r['unit']} | {cell(r['stillgo'])} | {cell(r['dlv'])} | "
                   f"{'' if q is None else f'{q:.2f}'} | {'' if bar is None else f'<= {bar}'} | {ok} |")
    return "\n".join(out)


def cell(v):
    s = fmt(v)
    return s.replace("|", "\\|").replace("\n", " ")[:120]


def fmt(v):
    if isinstance(v, float):
        return f"{v:.3g}" if v < 100 else f"{v:.0f}"
    if v is None:
        return "-"
    return str(v)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stillgo", required=True)
    ap.add_argument("--dlv", required=True)
    ap.add_argument("--large", action="append", default=[], metavar="LABEL=BINARY")
    ap.add_argument("--workloads", required=True, help="bench/workloads (sources, for line markers)")
    ap.add_argument("--workdir", required=True, help="where the workload binaries are")
    ap.add_argument("--logdir", required=True)
    ap.add_argument("--json", required=True)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--nexts", type=int, default=50)
    ap.add_argument("--calls", type=int, default=50)
    ap.add_argument("--call-stops", type=int, default=20)
    ap.add_argument("--goroutines", type=int, default=100000)
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--only", default="", help="comma list of: large,condbp,next,goroutines,bigdata,call")
    ap.add_argument("--report-only", action="store_true", help="only print the table of --json")
    a = ap.parse_args()
    if a.report_only:
        with open(a.json) as f:
            print(table(json.load(f)["rows"]))
        return
    a.large = [(l, os.path.abspath(b)) for l, b in (x.split("=", 1) for x in a.large)]
    for k in ("stillgo", "dlv", "workloads", "workdir", "logdir", "json"):
        setattr(a, k, os.path.abspath(getattr(a, k)))
    b = Bench(a)
    b.run()


if __name__ == "__main__":
    main()

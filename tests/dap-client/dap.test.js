// Drives `stillgo dap` with @vscode/debugadapter-testsupport (the client
// library VS Code debug adapters are tested with) against real Go programs.
//
// Run by crates/stillgo/tests/dap_node.rs, which builds the programs for
// every Go version under test and passes:
//   STILLGO_BIN          the stillgo binary
//   STILLGO_DAP_CONFIG   JSON: { repo, versions: [{ version, goBin, goEnv,
//                        bins: { hello, values, spin, panicker, many, deadlock, freeze } }] }
// Without them every test fails (never skips).
'use strict';

const { test, describe } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const net = require('node:net');
const cp = require('node:child_process');
const { DebugClient } = require('@vscode/debugadapter-testsupport');

const BIN = process.env.STILLGO_BIN;
const CONFIG = process.env.STILLGO_DAP_CONFIG ? JSON.parse(process.env.STILLGO_DAP_CONFIG) : null;
const TIMEOUT = 120000;

function config() {
  assert.ok(BIN, 'STILLGO_BIN is not set (run through cargo test -p stillgo --test dap_node)');
  assert.ok(CONFIG, 'STILLGO_DAP_CONFIG is not set (run through cargo test -p stillgo --test dap_node)');
  return CONFIG;
}

/** Line of the `// BP:<name>` marker in a Go source file. */
function bpLine(file, name) {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const i = lines.findIndex((l) => new RegExp(`// BP:${name}\\b`).test(l));
  assert.ok(i >= 0, `marker BP:${name} not found in ${file}`);
  return i + 1;
}

/** Line (1-based) of the first line of a file containing `text`. */
function lineOf(file, text) {
  const i = fs.readFileSync(file, 'utf8').split('\n').findIndex((l) => l.includes(text));
  assert.ok(i >= 0, `${JSON.stringify(text)} not found in ${file}`);
  return i + 1;
}

/** Whether a process is gone (or a zombie nobody reaped yet). */
function gone(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z');
  } catch {
    return true;
  }
}

/** A client on a fresh `stillgo dap` (stdio mode), collecting output. */
async function client(env) {
  const dc = new DebugClient(BIN, 'dap', 'go', { env: { ...process.env, ...(env || {}) } });
  dc.defaultTimeout = TIMEOUT;
  dc.output = { stdout: '', stderr: '', console: '' };
  dc.outputEvents = [];
  dc.stops = [];
  dc.on('output', (e) => {
    dc.output[e.body.category] = (dc.output[e.body.category] || '') + e.body.output;
    dc.outputEvents.push(e.body);
  });
  dc.on('stopped', (e) => dc.stops.push(e.body));
  await dc.start();
  return dc;
}

/** Waits until `pred()` holds (polling), or fails after `ms`. */
async function until(pred, what, ms = TIMEOUT) {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * initialize -> launch/attach -> (initialized) -> configure(dc) ->
 * configurationDone; resolves with the first stop (or null if `noStop`).
 */
async function start(dc, request, args, configure, noStop) {
  const initialized = dc.waitForEvent('initialized');
  const stopped = noStop ? null : dc.waitForEvent('stopped');
  const init = await dc.initializeRequest();
  if (request === 'launch') await dc.launchRequest(args);
  else await dc.attachRequest(args);
  await initialized;
  const configured = configure ? await configure(dc) : undefined;
  await dc.configurationDoneRequest();
  return { init, configured, stopped: stopped ? await stopped : null };
}

async function topFrame(dc, threadId) {
  const st = await dc.stackTraceRequest({ threadId });
  assert.ok(st.body.stackFrames.length > 0, 'empty stack');
  return st.body.stackFrames[0];
}

/** The value of `expr` in the top frame of thread `tid`. */
async function evalIn(dc, tid, expr) {
  const f = await topFrame(dc, tid);
  return (await dc.evaluateRequest({ expression: expr, frameId: f.id, context: 'watch' })).body.result;
}

async function vars(dc, ref, extra) {
  const r = await dc.variablesRequest({ variablesReference: ref, ...(extra || {}) });
  return r.body.variables;
}

function byName(list, name) {
  const v = list.find((x) => x.name === name);
  assert.ok(v, `no variable ${name} in [${list.map((x) => x.name).join(', ')}]`);
  return v;
}

/** Ends a client's session: disconnect (bounded: the adapter may already
 * have exited after an earlier disconnect), then kill the adapter. */
async function stopAndKill(dc) {
  const proc = dc._adapterProcess;
  if (proc && proc.exitCode === null && proc.signalCode === null) {
    await Promise.race([
      dc.disconnectRequest({ terminateDebuggee: true }).catch(() => {}),
      new Promise((r) => setTimeout(r, 5000)),
    ]);
  }
  dc.stopAdapter();
}

function versions() {
  return CONFIG ? CONFIG.versions : [{ version: 'unconfigured' }];
}

for (const v of versions()) {
  describe(`go${v.version}`, () => {
    test('initialize reports honest capabilities', async () => {
      config();
      const dc = await client();
      try {
        const r = await dc.initializeRequest();
        const c = r.body;
        assert.equal(c.supportsConfigurationDoneRequest, true);
        assert.equal(c.supportsConditionalBreakpoints, true);
        assert.equal(c.supportsHitConditionalBreakpoints, true);
        assert.equal(c.supportsLogPoints, true);
        assert.equal(c.supportsFunctionBreakpoints, true);
        assert.equal(c.supportsSetVariable, true);
        assert.equal(c.supportsDisassembleRequest, true);
        assert.equal(c.supportsStepBack, false);
        assert.equal(c.supportsDataBreakpoints, false);
        assert.equal(c.supportsClipboardContext, true);
        assert.deepEqual(c.exceptionBreakpointFilters.map((f) => f.filter), ['panic', 'fatal']);
      } finally {
        await stopAndKill(dc);
      }
    });

    test('hello: breakpoint, threads, stack, scopes, variables, evaluate, setVariable, next, stepOut, continue, exit', async () => {
      const cfg = config();
      const src = path.join(cfg.repo, 'testdata/hello/main.go');
      const add = bpLine(src, 'add');
      const dc = await client();
      try {
        const { configured, stopped } = await start(dc, 'launch', { mode: 'exec', program: v.bins.hello }, (dc) =>
          // The third call of Add: "The quick brown" -> word "brown".
          dc.setBreakpointsRequest({ source: { path: src }, breakpoints: [{ line: add, hitCondition: '3' }] }),
        );
        const bp = configured.body.breakpoints[0];
        assert.equal(bp.verified, true);
        assert.equal(bp.line, add);
        assert.equal(stopped.body.reason, 'breakpoint');
        assert.deepEqual(stopped.body.hitBreakpointIds, [bp.id]);
        assert.equal(stopped.body.allThreadsStopped, true);
        const tid = stopped.body.threadId;

        // threads: one per goroutine, the stopped one among them.
        const threads = (await dc.threadsRequest()).body.threads;
        assert.ok(threads.some((t) => t.id === tid), `thread ${tid} not listed`);
        assert.ok(threads.length >= 2, 'the runtime has more than one goroutine');
        assert.equal(new Set(threads.map((t) => t.id)).size, threads.length, 'thread ids are unique');
        assert.ok(threads.every((t) => /^\[Go \d+\]/.test(t.name)), JSON.stringify(threads));

        // stackTrace with paging.
        const st = await dc.stackTraceRequest({ threadId: tid });
        const frames = st.body.stackFrames;
        assert.equal(frames[0].name, 'main.(*Counter).Add');
        assert.equal(frames[0].line, add);
        assert.equal(frames[0].source.path, src);
        assert.match(frames[0].instructionPointerReference, /^0x[0-9a-f]+$/);
        assert.equal(frames[1].name, 'main.countWords');
        assert.equal(frames[2].name, 'main.main');
        assert.equal(st.body.totalFrames, frames.length);
        const page = await dc.stackTraceRequest({ threadId: tid, startFrame: 1, levels: 1 });
        assert.equal(page.body.stackFrames.length, 1);
        assert.equal(page.body.stackFrames[0].name, 'main.countWords');
        assert.equal(page.body.totalFrames, st.body.totalFrames);

        // scopes and variables.
        const scopes = (await dc.scopesRequest({ frameId: frames[0].id })).body.scopes;
        assert.deepEqual(scopes.map((s) => s.name), ['Arguments', 'Locals']);
        const args = await vars(dc, scopes[0].variablesReference);
        const word = byName(args, 'word');
        assert.equal(word.value, '"brown"');
        assert.equal(word.type, 'string');
        const c = byName(args, 'c');
        assert.equal(c.type, '*main.Counter');
        assert.equal(c.namedVariables, 2);
        assert.ok(c.variablesReference > 0);
        const fields = await vars(dc, c.variablesReference);
        assert.equal(byName(fields, 'total').value, '2');
        const counts = byName(fields, 'counts');
        assert.equal(counts.indexedVariables, 2);
        assert.equal(counts.evaluateName, 'c.counts');
        // Map entries in pages of one.
        const p0 = await vars(dc, counts.variablesReference, { filter: 'indexed', start: 0, count: 1 });
        const p1 = await vars(dc, counts.variablesReference, { filter: 'indexed', start: 1, count: 1 });
        assert.equal(p0.length, 1);
        assert.equal(p1.length, 1);
        assert.deepEqual([p0[0].name, p1[0].name].sort(), ['"quick"', '"the"']);
        assert.ok([p0[0], p1[0]].every((e) => e.value === '1'));
        // The caller's locals.
        const callerScopes = (await dc.scopesRequest({ frameId: frames[1].id })).body.scopes;
        const locals = await vars(dc, callerScopes[1].variablesReference);
        const words = byName(locals, 'words');
        assert.equal(words.indexedVariables, 23);
        const w5 = await vars(dc, words.variablesReference, { filter: 'indexed', start: 4, count: 2 });
        assert.deepEqual(w5.map((x) => [x.name, x.value]), [['[4]', '"jumps"'], ['[5]', '"over"']]);

        // evaluate in every context; only `call` runs program code.
        const fid = frames[0].id;
        assert.equal((await dc.evaluateRequest({ expression: 'word', frameId: fid, context: 'watch' })).body.result, '"brown"');
        assert.equal((await dc.evaluateRequest({ expression: 'c.total', frameId: fid, context: 'hover' })).body.result, '2');
        assert.equal((await dc.evaluateRequest({ expression: 'c.total * 10 + 1', frameId: fid, context: 'repl' })).body.result, '21');
        const inCaller = await dc.evaluateRequest({ expression: 'text[0:3]', frameId: frames[1].id, context: 'repl' });
        assert.equal(inCaller.body.result, '"The"');
        await assert.rejects(dc.evaluateRequest({ expression: 'normalize("Hello!")', frameId: fid, context: 'watch' }), /./, 'a plain expression must not call');
        const called = await dc.evaluateRequest({ expression: 'call normalize("Hello!")', frameId: fid, context: 'repl' });
        assert.equal(called.body.result, '"hello"');
        const calledWatch = await dc.evaluateRequest({ expression: 'call normalize(word + "?")', frameId: fid, context: 'watch' });
        assert.equal(calledWatch.body.result, '"brown"');
        const calledHover = await dc.evaluateRequest({ expression: 'call normalize("Hover.")', frameId: fid, context: 'hover' });
        assert.equal(calledHover.body.result, '"hover"');
        const calledClip = await dc.evaluateRequest({ expression: 'call normalize("Clip;")', frameId: fid, context: 'clipboard' });
        assert.equal(calledClip.body.result, '"clip"');
        await assert.rejects(dc.evaluateRequest({ expression: 'normalize("x")', frameId: fid, context: 'clipboard' }), /./, 'clipboard must not call either');
        // The program is unharmed: still stopped where it was.
        assert.equal((await topFrame(dc, tid)).line, add);
        await assert.rejects(dc.evaluateRequest({ expression: 'call', frameId: fid, context: 'repl' }), /missing expression/);
        await assert.rejects(dc.evaluateRequest({ expression: "noSuchVariable", frameId: fid, context: "watch" }), /./, "unknown variable");

        // setVariable: the program then prints the changed total.
        const set = await dc.setVariableRequest({ variablesReference: c.variablesReference, name: 'total', value: '40' });
        assert.equal(set.body.value, '40');
        assert.equal((await dc.evaluateRequest({ expression: 'c.total', frameId: (await topFrame(dc, tid)).id })).body.result, '40');

        // next, then stepOut.
        let ev = dc.waitForEvent('stopped');
        await dc.nextRequest({ threadId: tid });
        ev = await ev;
        assert.equal(ev.body.reason, 'step');
        assert.equal(ev.body.threadId, tid);
        assert.equal((await topFrame(dc, tid)).line, add + 1);
        ev = dc.waitForEvent('stopped');
        await dc.stepOutRequest({ threadId: tid });
        ev = await ev;
        assert.equal(ev.body.reason, 'step');
        assert.equal((await topFrame(dc, tid)).name, 'main.countWords');

        // Frame and variable handles die when the program runs.
        await assert.rejects(dc.scopesRequest({ frameId: fid }), /unknown frame/, "stale frame id");

        // Clear, run to the end: output, exited, terminated.
        const cleared = await dc.setBreakpointsRequest({ source: { path: src }, breakpoints: [] });
        assert.equal(cleared.body.breakpoints.length, 0);
        const exited = dc.waitForEvent('exited');
        const terminated = dc.waitForEvent('terminated');
        const cont = await dc.continueRequest({ threadId: tid });
        assert.equal(cont.body.allThreadsContinued, true);
        assert.equal((await exited).body.exitCode, 0);
        await terminated;
        // 21 more words after total was set to 40 at the third.
        assert.match(dc.output.stdout, /^61 words, 14 distinct\n1\. fox 4\n/);
      } finally {
        await stopAndKill(dc);
      }
    });

    test('noDebug: runs the program without stopping', async () => {
      const cfg = config();
      const src = path.join(cfg.repo, 'testdata/hello/main.go');
      const dc = await client();
      try {
        const exited = dc.waitForEvent('exited');
        const terminated = dc.waitForEvent('terminated');
        const { configured } = await start(
          dc,
          'launch',
          { mode: 'exec', program: v.bins.hello, noDebug: true, stopOnEntry: true },
          (dc) => dc.setBreakpointsRequest({ source: { path: src }, breakpoints: [{ line: bpLine(src, 'add') }] }),
          true,
        );
        assert.equal(configured.body.breakpoints[0].verified, false);
        assert.equal((await exited).body.exitCode, 0);
        await terminated;
        assert.match(dc.output.stdout, /^23 words, 14 distinct\n/);
      } finally {
        await stopAndKill(dc);
      }
    });

    test('noDebug: a plain child process; stdout and stderr apart; the real exit code; breakpoints never hit', async () => {
      const cfg = config();
      const src = path.join(cfg.repo, 'tests/dap-client/fixtures/panicker/main.go');
      const dc = await client();
      try {
        const exited = dc.waitForEvent('exited');
        const terminated = dc.waitForEvent('terminated');
        const { init, configured } = await start(
          dc,
          'launch',
          { mode: 'exec', program: v.bins.panicker, noDebug: true },
          async (dc) => {
            const bps = await dc.setBreakpointsRequest({ source: { path: src }, breakpoints: [{ line: bpLine(src, 'panic') }] });
            await dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'main.explode' }] });
            await dc.setExceptionBreakpointsRequest({ filters: ['panic', 'fatal'] });
            return bps;
          },
          true,
        );
        assert.equal(init.body.supportsConfigurationDoneRequest, true);
        assert.equal(configured.body.breakpoints.length, 1);
        assert.equal(configured.body.breakpoints[0].verified, false);
        // An unrecovered panic exits with status 2 (runtime/panic.go, fatalpanic -> exit(2)).
        assert.equal((await exited).body.exitCode, 2);
        await terminated;
        assert.equal(dc.stops.length, 0, `no stop without debugging: ${JSON.stringify(dc.stops)}`);
        assert.equal(dc.output.stdout, 'to stdout\n');
        assert.match(dc.output.stderr, /^to stderr\npanic: boom: fuse\n/);
        // Requests that need the debugger say why they cannot work.
        await assert.rejects(dc.stackTraceRequest({ threadId: 1 }), /without debugging/);
        await assert.rejects(dc.evaluateRequest({ expression: '1+1', context: 'repl' }), /without debugging/);
      } finally {
        await stopAndKill(dc);
      }
    });

    test('noDebug: the program is not traced; restart runs it again; terminate and disconnect kill it', async () => {
      config();
      const dc = await client();
      try {
        await start(dc, 'launch', { mode: 'exec', program: v.bins.spin, noDebug: true }, null, true);
        await until(() => /pid=\d+/.test(dc.output.stdout), 'the program to start');
        const pid1 = Number(dc.output.stdout.match(/pid=(\d+)/)[1]);
        const status = fs.readFileSync(`/proc/${pid1}/status`, 'utf8');
        assert.match(status, /TracerPid:\s+0\n/, 'a noDebug program runs without ptrace');
        // A child of the adapter itself, in its own process group.
        assert.match(status, new RegExp(`PPid:\\s+${dc._adapterProcess.pid}\\n`));
        // pause has nothing to stop.
        await dc.pauseRequest({ threadId: 1 });
        assert.deepEqual((await dc.threadsRequest()).body.threads, []);

        dc.output.stdout = '';
        await dc.restartRequest({});
        await until(() => /pid=\d+/.test(dc.output.stdout), 'the restarted program');
        const pid2 = Number(dc.output.stdout.match(/pid=(\d+)/)[1]);
        assert.notEqual(pid1, pid2);
        await until(() => gone(pid1), 'the first run to end', 10000);

        const terminated = dc.waitForEvent('terminated');
        await dc.terminateRequest({});
        await terminated;
        await until(() => gone(pid2), 'the program to be killed', 10000);

        // Run again and end with disconnect.
        dc.output.stdout = '';
        await dc.restartRequest({});
        await until(() => /pid=\d+/.test(dc.output.stdout), 'the program run again');
        const pid3 = Number(dc.output.stdout.match(/pid=(\d+)/)[1]);
        const exit = new Promise((r) => dc._adapterProcess.on('exit', (code) => r(code)));
        await dc.disconnectRequest({});
        assert.equal(await exit, 0);
        await until(() => gone(pid3), 'disconnect to kill the program', 10000);
        assert.equal(dc.stops.length, 0);
      } finally {
        await stopAndKill(dc);
      }
    });

    test('noDebug: disconnect without terminateDebuggee leaves the program running', async () => {
      config();
      const dc = await client();
      let pid = 0;
      try {
        await start(dc, 'launch', { mode: 'exec', program: v.bins.spin, noDebug: true }, null, true);
        await until(() => /pid=\d+/.test(dc.output.stdout), 'the program to start');
        pid = Number(dc.output.stdout.match(/pid=(\d+)/)[1]);
        const exit = new Promise((r) => dc._adapterProcess.on('exit', (code) => r(code)));
        await dc.disconnectRequest({ terminateDebuggee: false });
        assert.equal(await exit, 0);
        await new Promise((r) => setTimeout(r, 300));
        assert.ok(!gone(pid), 'the program runs on after the adapter is gone');
      } finally {
        await stopAndKill(dc);
        if (pid) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {}
        }
      }
    });

    test('logpoints hit during next, stepIn and stepOut log and do not end the step', async () => {
      const cfg = config();
      const src = path.join(cfg.repo, 'testdata/hello/main.go');
      const add = bpLine(src, 'add');
      const call = lineOf(src, 'c.Add(word)');
      const dc = await client();
      try {
        const { stopped } = await start(dc, 'launch', { mode: 'exec', program: v.bins.hello }, (dc) =>
          dc.setBreakpointsRequest({ source: { path: src }, breakpoints: [{ line: call }] }),
        );
        const tid = stopped.body.threadId;
        assert.equal((await topFrame(dc, tid)).line, call);

        // Where `next` over c.Add(word) ends without a logpoint.
        let ev = dc.waitForEvent('stopped');
        await dc.nextRequest({ threadId: tid });
        assert.equal((await ev).body.reason, 'step');
        const plain = await topFrame(dc, tid);
        assert.equal(plain.name, 'main.countWords');
        assert.notEqual(plain.line, call);

        // Second word: the same `next` with a logpoint inside Add.
        ev = dc.waitForEvent('stopped');
        await dc.continueRequest({ threadId: tid });
        ev = await ev;
        assert.equal(ev.body.reason, 'breakpoint');
        assert.equal((await evalIn(dc, tid, 'word')), '"quick"');
        const set = await dc.setBreakpointsRequest({
          source: { path: src },
          breakpoints: [{ line: call }, { line: add, logMessage: 'adding {word} at {c.total}' }],
        });
        assert.ok(set.body.breakpoints.every((b) => b.verified));
        ev = dc.waitForEvent('stopped');
        await dc.nextRequest({ threadId: tid });
        ev = await ev;
        assert.equal(ev.body.reason, 'step');
        const after = await topFrame(dc, tid);
        assert.equal(after.name, plain.name);
        assert.equal(after.line, plain.line, 'the step ends where it ends without the logpoint');
        await until(() => /adding "quick" at 1\n/.test(dc.output.console), 'the logpoint message', 10000);
        const logged = dc.outputEvents.find((o) => o.category === 'console' && o.output.startsWith('adding "quick"'));
        assert.equal(logged.line, add);
        assert.equal(logged.source.path, src);

        // stepIn to Add's first line (its declaration, with optimizations
        // off), then a `next` that ends on the logpoint's line: the step
        // ends there, as it would without the logpoint, and it logs.
        ev = dc.waitForEvent('stopped');
        await dc.continueRequest({ threadId: tid });
        ev = await ev;
        assert.equal(ev.body.reason, 'breakpoint');
        assert.equal(await evalIn(dc, tid, 'word'), '"brown"');
        ev = dc.waitForEvent('stopped');
        await dc.stepInRequest({ threadId: tid });
        ev = await ev;
        assert.equal(ev.body.reason, 'step');
        const inAdd = await topFrame(dc, tid);
        assert.equal(inAdd.name, 'main.(*Counter).Add');
        assert.ok(inAdd.line <= add, `stepIn landed on line ${inAdd.line}`);
        if (inAdd.line < add) {
          assert.ok(!/adding "brown"/.test(dc.output.console), 'not reached yet');
          ev = dc.waitForEvent('stopped');
          await dc.nextRequest({ threadId: tid });
          assert.equal((await ev).body.reason, 'step');
          assert.equal((await topFrame(dc, tid)).line, add);
        }
        await until(() => /adding "brown" at 2\n/.test(dc.output.console), 'the logpoint message where the step ends', 10000);
        assert.equal((dc.output.console.match(/adding "brown"/g) || []).length, 1, dc.output.console);

        // stepOut from Add (past the logpoint it stands on).
        ev = dc.waitForEvent('stopped');
        await dc.stepOutRequest({ threadId: tid });
        ev = await ev;
        assert.equal(ev.body.reason, 'step');
        assert.equal((await topFrame(dc, tid)).name, 'main.countWords');

        // next over `word := normalize(w)` with a logpoint in normalize.
        const norm = lineOf(src, 'return strings.ToLower(strings.Trim(word');
        const loop = bpLine(src, 'loop');
        await dc.setBreakpointsRequest({
          source: { path: src },
          breakpoints: [{ line: loop }, { line: norm, logMessage: 'normalize {word}' }],
        });
        ev = dc.waitForEvent('stopped');
        await dc.continueRequest({ threadId: tid });
        ev = await ev;
        assert.equal(ev.body.reason, 'breakpoint');
        assert.equal((await topFrame(dc, tid)).line, loop);
        const before = (dc.output.console.match(/^normalize "fox"\n/gm) || []).length;
        assert.equal(before, 0, 'normalize has not run for this word yet');
        ev = dc.waitForEvent('stopped');
        await dc.nextRequest({ threadId: tid });
        ev = await ev;
        assert.equal(ev.body.reason, 'step');
        const f = await topFrame(dc, tid);
        assert.equal(f.name, 'main.countWords');
        assert.equal(f.line, loop + 1);
        // (Line 57 resolves to two code blocks of the one statement, so
        // the logpoint may log twice for one call: a locspec matter.)
        await until(() => (dc.output.console.match(/^normalize "fox"\n/gm) || []).length > before, 'the normalize log', 10000);

        // To the end: the logpoint logs for every remaining word, never stops.
        const stops = dc.stops.length;
        const exited = dc.waitForEvent('exited');
        await dc.setBreakpointsRequest({ source: { path: src }, breakpoints: [{ line: norm, logMessage: 'normalize {word}' }] });
        await dc.continueRequest({ threadId: tid });
        assert.equal((await exited).body.exitCode, 0);
        assert.equal(dc.stops.length, stops, 'logpoints never stop');
      } finally {
        await stopAndKill(dc);
      }
    });

    test('debug mode: output puts the binary at the given path, relative to cwd; removed at the end', async () => {
      const cfg = config();
      const cwd = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'stillgo-dap-out-'));
      fs.mkdirSync(path.join(cwd, 'bin'));
      const dc = await client({ STILLGO_GO: v.goBin, ...v.goEnv });
      const bin = path.join(cwd, 'bin', 'hello-dbg');
      try {
        const { stopped } = await start(dc, 'launch', {
          mode: 'debug',
          program: path.join(cfg.repo, 'testdata/hello'),
          cwd,
          output: 'bin/hello-dbg',
          stopOnEntry: true,
        });
        assert.equal(stopped.body.reason, 'entry');
        assert.ok(fs.existsSync(bin), `no binary at ${bin}: ${fs.readdirSync(path.join(cwd, 'bin'))}`);
        assert.ok(fs.statSync(bin).mode & 0o100, 'the binary is executable');
        // The debugged process runs that very file.
        const exited = dc.waitForEvent('exited');
        await dc.continueRequest({ threadId: stopped.body.threadId });
        assert.equal((await exited).body.exitCode, 0);
        assert.match(dc.output.stdout, /^23 words, 14 distinct\n/);
        const exit = new Promise((r) => dc._adapterProcess.on('exit', (code) => r(code)));
        await dc.disconnectRequest({});
        assert.equal(await exit, 0);
        assert.ok(!fs.existsSync(bin), 'the built binary is removed when the session ends (as dlv does)');
        assert.deepEqual(fs.readdirSync(path.join(cwd, 'bin')), [], 'nothing else is removed or left');
      } finally {
        await stopAndKill(dc);
        fs.rmSync(cwd, { recursive: true, force: true });
      }
    });

    test('debug mode: restart builds the edited sources again; breakpoints keep their ids', async () => {
      config();
      const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'stillgo-dap-rebuild-'));
      const src = path.join(dir, 'main.go');
      fs.writeFileSync(path.join(dir, 'go.mod'), 'module rebuild\n\ngo 1.22\n');
      const before = [
        'package main',
        '',
        'import "fmt"',
        '',
        'var greeting = "before"',
        '',
        'func show(s string) {',
        '\tfmt.Println(s) // BP:show',
        '}',
        '',
        'func extra() {',
        '\tfmt.Println("extra") // BP:extra',
        '}',
        '',
        'func main() {',
        '\tshow(greeting)',
        '\textra()',
        '}',
        '',
      ].join('\n');
      fs.writeFileSync(src, before);
      const dc = await client({ STILLGO_GO: v.goBin, ...v.goEnv });
      try {
        const show = bpLine(src, 'show');
        const extra = bpLine(src, 'extra');
        const { configured, stopped } = await start(dc, 'launch', { mode: 'debug', program: dir }, (dc) =>
          dc.setBreakpointsRequest({ source: { path: src }, breakpoints: [{ line: show }, { line: extra }] }),
        );
        const [bShow, bExtra] = configured.body.breakpoints;
        assert.ok(bShow.verified && bExtra.verified);
        assert.equal(stopped.body.reason, 'breakpoint');
        assert.deepEqual(stopped.body.hitBreakpointIds, [bShow.id]);
        assert.equal(await evalIn(dc, stopped.body.threadId, 's'), '"before"');

        // The user edits the program (same lines, the second statement
        // gone) and restarts: the new sources are built and debugged.
        fs.writeFileSync(src, before.replace('"before"', '"after"').replace('\tfmt.Println("extra") // BP:extra', '\t// nothing left here'));
        const changes = [];
        dc.on('breakpoint', (e) => changes.push(e.body));
        const again = dc.waitForEvent('stopped');
        await dc.restartRequest({});
        const ev = await again;
        assert.equal(ev.body.reason, 'breakpoint');
        assert.deepEqual(ev.body.hitBreakpointIds, [bShow.id], 'the client keeps the id it knows');
        assert.equal(await evalIn(dc, ev.body.threadId, 's'), '"after"');
        // The breakpoint whose line lost its code changed; the client is told under its id.
        const ch = changes.find((c) => c.breakpoint.id === bExtra.id);
        assert.ok(ch, `a breakpoint event for ${bExtra.id}: ${JSON.stringify(changes)}`);
        assert.equal(ch.reason, 'changed');
        assert.ok(!ch.breakpoint.verified || ch.breakpoint.line !== extra, JSON.stringify(ch));
        assert.ok(!changes.some((c) => c.breakpoint.id === bShow.id), 'an unchanged breakpoint is not reported');

        const exited = dc.waitForEvent('exited');
        await dc.setBreakpointsRequest({ source: { path: src }, breakpoints: [] });
        await dc.continueRequest({ threadId: ev.body.threadId });
        assert.equal((await exited).body.exitCode, 0);
        // The first run was killed at its breakpoint, before printing; the
        // rebuilt one prints the new greeting and no "extra".
        assert.equal(dc.output.stdout, 'after\n');

        // A restart whose build fails ends the session with the compiler's message.
        fs.writeFileSync(src, before.replace('func main() {', 'func main() { undefinedThing()'));
        const terminated = dc.waitForEvent('terminated');
        await assert.rejects(dc.restartRequest({}), /go build failed[\s\S]*undefinedThing/);
        await terminated;
      } finally {
        await stopAndKill(dc);
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    test('debug mode: build, stopOnEntry, function/conditional breakpoints, stepIn, logpoints', async () => {
      const cfg = config();
      const src = path.join(cfg.repo, 'testdata/hello/main.go');
      const loop = bpLine(src, 'loop');
      const add = bpLine(src, 'add');
      const dc = await client({ STILLGO_GO: v.goBin, ...v.goEnv });
      try {
        const { stopped } = await start(dc, 'launch', {
          mode: 'debug',
          program: path.join(cfg.repo, 'testdata/hello'),
          stopOnEntry: true,
          buildFlags: '-trimpath=false',
        });
        assert.equal(stopped.body.reason, 'entry');
        const threads = (await dc.threadsRequest()).body.threads;
        assert.ok(threads.length >= 1);
        assert.ok(threads.some((t) => t.id === stopped.body.threadId));

        const fb = await dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'main.normalize' }] });
        assert.equal(fb.body.breakpoints[0].verified, true);
        const lb = await dc.setBreakpointsRequest({
          source: { path: src },
          breakpoints: [{ line: loop, condition: 'w == "fox"' }],
        });
        assert.equal(lb.body.breakpoints[0].verified, true);
        const bad = await dc.setBreakpointsRequest({
          source: { path: src },
          breakpoints: [{ line: loop, condition: 'w == "fox"' }, { line: 100000 }],
        });
        assert.equal(bad.body.breakpoints[1].verified, false);
        assert.ok(bad.body.breakpoints[1].message);

        let ev = dc.waitForEvent('stopped');
        await dc.continueRequest({ threadId: stopped.body.threadId });
        ev = await ev;
        assert.equal(ev.body.reason, 'function breakpoint');
        assert.equal((await topFrame(dc, ev.body.threadId)).name, 'main.normalize');
        await dc.setFunctionBreakpointsRequest({ breakpoints: [] });

        const tid = ev.body.threadId;
        ev = dc.waitForEvent('stopped');
        await dc.continueRequest({ threadId: tid });
        ev = await ev;
        assert.equal(ev.body.reason, 'breakpoint');
        const f = await topFrame(dc, ev.body.threadId);
        assert.equal(f.line, loop);
        assert.equal((await dc.evaluateRequest({ expression: 'w', frameId: f.id, context: 'watch' })).body.result, '"fox"');

        const stepped = dc.waitForEvent('stopped');
        await dc.stepInRequest({ threadId: ev.body.threadId });
        assert.equal((await stepped).body.reason, 'step');
        assert.equal((await topFrame(dc, ev.body.threadId)).name, 'main.normalize');

        // Logpoints print and never stop.
        await dc.setBreakpointsRequest({ source: { path: src }, breakpoints: [{ line: add, logMessage: 'add {word} total={c.total}' }] });
        const exited = dc.waitForEvent('exited');
        await dc.continueRequest({ threadId: ev.body.threadId });
        assert.equal((await exited).body.exitCode, 0);
        assert.match(dc.output.console, /add "fox" total=3\n/);
        assert.equal((dc.output.console.match(/^add /gm) || []).length, 20, dc.output.console);
      } finally {
        await stopAndKill(dc);
      }
    });

    test('values: named and indexed children, paging of big slices and maps, pointers, interfaces, channels', async () => {
      const cfg = config();
      const src = path.join(cfg.repo, 'testdata/values/main.go');
      const line = bpLine(src, 'inspect');
      const dc = await client();
      try {
        const { stopped } = await start(dc, 'launch', { mode: 'exec', program: v.bins.values }, (dc) =>
          dc.setBreakpointsRequest({ source: { path: src }, breakpoints: [{ line }] }),
        );
        assert.equal(stopped.body.reason, 'breakpoint');
        const frame = await topFrame(dc, stopped.body.threadId);
        assert.equal(frame.name, 'main.inspect');
        const scopes = (await dc.scopesRequest({ frameId: frame.id })).body.scopes;
        const locals = await vars(dc, scopes[1].variablesReference);

        assert.equal(byName(locals, 'vInt').value, '-12345');
        assert.equal(byName(locals, 'vASCII').value, '"hello, world"');

        const big = byName(locals, 'vBigSlice');
        assert.equal(big.indexedVariables, 10000);
        const bp = await vars(dc, big.variablesReference, { filter: 'indexed', start: 5000, count: 3 });
        assert.deepEqual(bp.map((x) => [x.name, x.value]), [['[5000]', '10000'], ['[5001]', '10002'], ['[5002]', '10004']]);
        assert.equal(bp[0].evaluateName, 'vBigSlice[5000]');

        const arr = byName(locals, 'vArray');
        assert.equal(arr.indexedVariables, 5);
        assert.deepEqual((await vars(dc, arr.variablesReference)).map((x) => x.value), ['10', '20', '30', '40', '50']);

        const bigMap = byName(locals, 'vBigMap');
        assert.equal(bigMap.indexedVariables, 100000);
        const mp = await vars(dc, bigMap.variablesReference, { filter: 'indexed', start: 99990, count: 10 });
        assert.equal(mp.length, 10);
        for (const e of mp) assert.equal(Number(e.value), Number(e.name) ** 2, `${e.name}: ${e.value}`);

        const m = byName(locals, 'vMap');
        const entries = await vars(dc, m.variablesReference);
        assert.deepEqual(Object.fromEntries(entries.map((e) => [e.name, e.value])), { '"one"': '1', '"two"': '2', '"three"': '3' });

        const st = byName(locals, 'vStruct');
        assert.equal(st.type, 'main.Employee');
        const sf = await vars(dc, st.variablesReference);
        assert.ok(sf.length >= 5, JSON.stringify(sf));
        const addr = byName(sf, 'Address');
        const af = await vars(dc, addr.variablesReference);
        assert.equal(byName(af, 'City').value, '"Springfield"');
        assert.equal(byName(af, 'City').evaluateName, 'vStruct.Address.City');

        // A pointer to a struct expands to the struct's fields.
        const ptr = byName(locals, 'vPtr');
        const pf = await vars(dc, ptr.variablesReference);
        assert.equal(byName(pf, 'Salary').value, '100000.5');
        assert.equal(byName(locals, 'vNilPtr').variablesReference, 0);

        // Interfaces expand to their dynamic value.
        const anyStruct = byName(locals, 'vAnyStruct');
        const data = byName(await vars(dc, anyStruct.variablesReference), 'data');
        assert.match(data.type, /geo\.Point$/);
        const xy = await vars(dc, data.variablesReference);
        assert.equal(byName(xy, 'X').value, '3');

        // Channels show their state and buffered values.
        const ch = byName(locals, 'vBuffered');
        const cs = await vars(dc, ch.variablesReference);
        assert.equal(byName(cs, 'qcount').value, '3');
        assert.equal(byName(cs, 'dataqsiz').value, '5');
        assert.deepEqual(cs.filter((x) => x.name.startsWith('[')).map((x) => x.value), ['1', '2', '3']);

        // Long strings: cut for display, whole for "Copy Value" (clipboard).
        const shown = (await dc.evaluateRequest({ expression: 'vLong', frameId: frame.id, context: 'watch' })).body.result;
        assert.ok(shown.length < 5000, `shown: ${shown.length} chars`);
        const copied = (await dc.evaluateRequest({ expression: 'vLong', frameId: frame.id, context: 'clipboard' })).body.result;
        assert.equal(copied, JSON.stringify('0123456789'.repeat(500)));

        // setVariable on a top-level local.
        const set = await dc.setVariableRequest({ variablesReference: scopes[1].variablesReference, name: 'vInt', value: '77' });
        assert.equal(set.body.value, '77');
        assert.equal((await dc.evaluateRequest({ expression: 'vInt', frameId: frame.id, context: 'watch' })).body.result, '77');
        await assert.rejects(dc.setVariableRequest({ variablesReference: scopes[1].variablesReference, name: 'vInt', value: '"text"' }));

        // An evaluated composite can be expanded too.
        const e = await dc.evaluateRequest({ expression: 'vSlice', frameId: frame.id, context: 'watch' });
        assert.equal(e.body.indexedVariables, 3);
        assert.deepEqual((await vars(dc, e.body.variablesReference)).map((x) => x.value), ['1', '2', '3']);

        // disassemble around the pc, with instructions before it.
        const dis = await dc.disassembleRequest({
          memoryReference: frame.instructionPointerReference,
          instructionOffset: -3,
          instructionCount: 6,
        });
        const ins = dis.body.instructions;
        assert.equal(ins.length, 6);
        assert.equal(BigInt(ins[3].address), BigInt(frame.instructionPointerReference));
        assert.ok(ins.every((i) => i.instruction.length > 0));
        assert.equal(ins[3].line, line);
        for (let i = 1; i < ins.length; i++) assert.ok(BigInt(ins[i].address) > BigInt(ins[i - 1].address));

        // Instruction stepping (the disassembly view's step): one instruction on.
        const stepped = dc.waitForEvent('stopped');
        await dc.nextRequest({ threadId: stopped.body.threadId, granularity: 'instruction' });
        assert.equal((await stepped).body.reason, 'step');
        const after = await topFrame(dc, stopped.body.threadId);
        assert.equal(BigInt(after.instructionPointerReference), BigInt(ins[4].address));
      } finally {
        await stopAndKill(dc);
      }
    });

    test('pause, restart, breakpoints set while running, terminate', async () => {
      const cfg = config();
      const src = path.join(cfg.repo, 'testdata/spin/main.go');
      const tick = bpLine(src, 'tick');
      const dc = await client();
      try {
        const continued = dc.waitForEvent('continued');
        await start(dc, 'launch', { mode: 'exec', program: v.bins.spin }, null, true);
        await continued;
        await until(() => /pid=\d+/.test(dc.output.stdout), 'the program to start');
        const pid1 = dc.output.stdout.match(/pid=(\d+)/)[1];

        // threads while running answers (from the last stop) without waiting.
        await dc.threadsRequest();
        let ev = dc.waitForEvent('stopped');
        await dc.pauseRequest({ threadId: 1 });
        ev = await ev;
        assert.equal(ev.body.reason, 'pause');
        assert.equal(ev.body.allThreadsStopped, true);
        const threads = (await dc.threadsRequest()).body.threads;
        assert.ok(threads.length >= 2);
        await dc.stackTraceRequest({ threadId: ev.body.threadId });

        // restart while the program runs: a new process, running again.
        await dc.continueRequest({ threadId: ev.body.threadId });
        dc.output.stdout = '';
        const cont = dc.waitForEvent('continued');
        await dc.restartRequest({});
        await cont;
        await until(() => /pid=\d+/.test(dc.output.stdout), 'the restarted program');
        const pid2 = dc.output.stdout.match(/pid=(\d+)/)[1];
        assert.notEqual(pid1, pid2);
        await until(() => !fs.existsSync(`/proc/${pid1}`) || fs.readFileSync(`/proc/${pid1}/stat`, 'utf8').includes(') Z'), 'the old process to die', 10000);

        // A request that needs the stopped program is refused while it runs.
        await assert.rejects(dc.evaluateRequest({ expression: 'ticks', context: 'repl' }), /running/);

        // Breakpoints set while the program runs take effect.
        ev = dc.waitForEvent('stopped');
        const set = await dc.setBreakpointsRequest({ source: { path: src }, breakpoints: [{ line: tick }] });
        assert.equal(set.body.breakpoints[0].verified, true);
        ev = await ev;
        assert.equal(ev.body.reason, 'breakpoint');
        assert.equal((await topFrame(dc, ev.body.threadId)).line, tick);

        // exceptionInfo when not on an exception is an error, not a crash.
        await assert.rejects(dc.exceptionInfoRequest({ threadId: ev.body.threadId }));

        const terminated = dc.waitForEvent('terminated');
        await dc.terminateRequest({});
        await terminated;
        await until(() => !fs.existsSync(`/proc/${pid2}`) || fs.readFileSync(`/proc/${pid2}/stat`, 'utf8').includes(') Z'), 'the program to die', 10000);
      } finally {
        await stopAndKill(dc);
      }
    });

    test('disconnect with terminateDebuggee kills the program and ends the adapter', async () => {
      config();
      const dc = await client();
      try {
        await start(dc, 'launch', { mode: 'exec', program: v.bins.spin }, null, true);
        await until(() => /pid=\d+/.test(dc.output.stdout), 'the program to start');
        const pid = dc.output.stdout.match(/pid=(\d+)/)[1];
        const exit = new Promise((r) => dc._adapterProcess.on('exit', (code) => r(code)));
        await dc.disconnectRequest({ terminateDebuggee: true });
        assert.equal(await exit, 0);
        await until(() => !fs.existsSync(`/proc/${pid}`) || fs.readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z'), 'the program to die', 10000);
      } finally {
        await stopAndKill(dc);
      }
    });

    test('attach to a running process, then detach leaving it running', async () => {
      const cfg = config();
      const src = path.join(cfg.repo, 'testdata/spin/main.go');
      const tick = bpLine(src, 'tick');
      const child = cp.spawn(v.bins.spin, [], { stdio: ['ignore', 'pipe', 'inherit'] });
      const dc = await client();
      try {
        let out = '';
        child.stdout.on('data', (d) => (out += d));
        await until(() => /pid=\d+/.test(out), 'spin to start');
        const { stopped } = await start(dc, 'attach', { mode: 'local', processId: child.pid, stopOnEntry: true });
        assert.equal(stopped.body.reason, 'entry');
        await dc.setBreakpointsRequest({ source: { path: src }, breakpoints: [{ line: tick }] });
        let ev = dc.waitForEvent('stopped');
        await dc.continueRequest({ threadId: stopped.body.threadId });
        ev = await ev;
        assert.equal(ev.body.reason, 'breakpoint');
        const f = await topFrame(dc, ev.body.threadId);
        const n = Number((await dc.evaluateRequest({ expression: 'n', frameId: f.id, context: 'watch' })).body.result);
        assert.ok(n >= 1, `n = ${n}`);
        await dc.disconnectRequest({ terminateDebuggee: false });
        // Still alive and not traced any more.
        await new Promise((r) => setTimeout(r, 200));
        const status = fs.readFileSync(`/proc/${child.pid}/status`, 'utf8');
        assert.match(status, /TracerPid:\s+0\n/);
        assert.doesNotMatch(status, /State:\s+[ZXt]/);
      } finally {
        child.kill('SIGKILL');
        await stopAndKill(dc);
      }
    });

    test('exception breakpoints: unrecovered panic, exceptionInfo, stderr output, exit status', async () => {
      config();
      const dc = await client();
      try {
        const { configured, stopped } = await start(dc, 'launch', { mode: 'exec', program: v.bins.panicker }, (dc) =>
          dc.setExceptionBreakpointsRequest({ filters: ['panic'] }),
        );
        assert.equal(configured.body.breakpoints[0].verified, true);
        assert.equal(stopped.body.reason, 'exception');
        const info = await dc.exceptionInfoRequest({ threadId: stopped.body.threadId });
        assert.equal(info.body.exceptionId, 'panic');
        assert.match(info.body.description, /boom: fuse/);
        const st = await dc.stackTraceRequest({ threadId: stopped.body.threadId });
        assert.ok(st.body.stackFrames.some((f) => f.name === 'main.explode'), JSON.stringify(st.body.stackFrames.map((f) => f.name)));
        await until(() => dc.output.stdout === 'to stdout\n' && dc.output.stderr === 'to stderr\n', `separate stdout and stderr, got ${JSON.stringify(dc.output)}`, 10000);
        const exited = dc.waitForEvent('exited');
        await dc.continueRequest({ threadId: stopped.body.threadId });
        assert.equal((await exited).body.exitCode, 2);
        assert.match(dc.output.stderr, /panic: boom: fuse/);
      } finally {
        await stopAndKill(dc);
      }
    });

    test('exception breakpoints: fatal runtime error (deadlock)', async () => {
      config();
      const dc = await client();
      try {
        const { stopped } = await start(dc, 'launch', { mode: 'exec', program: v.bins.deadlock }, (dc) =>
          dc.setExceptionBreakpointsRequest({ filters: ['panic', 'fatal'] }),
        );
        assert.equal(stopped.body.reason, 'exception');
        const info = await dc.exceptionInfoRequest({ threadId: stopped.body.threadId });
        assert.equal(info.body.exceptionId, 'fatal error');
        assert.match(info.body.description, /all goroutines are asleep - deadlock/);
        const exited = dc.waitForEvent('exited');
        await dc.continueRequest({ threadId: stopped.body.threadId });
        assert.equal((await exited).body.exitCode, 2);
        await until(() => /fatal error: all goroutines are asleep/.test(dc.output.stderr), 'the fatal error on stderr', 10000);
      } finally {
        await stopAndKill(dc);
      }
    });

    test('test mode and substitutePath', async () => {
      const cfg = config();
      const pkg = path.join(cfg.repo, 'testdata/testpkg');
      const line = bpLine(path.join(pkg, 'calc_test.go'), 'test');
      // The editor sees the sources under /remote/src; the binary says pkg.
      const remote = '/remote/src/testpkg';
      const outDir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'stillgo-dap-test-'));
      const testBin = path.join(outDir, 'pkg.test');
      const dc = await client({ STILLGO_GO: v.goBin, ...v.goEnv });
      try {
        const { configured, stopped } = await start(
          dc,
          'launch',
          {
            mode: 'test',
            program: pkg,
            // args as one string (split like shell words, quotes group),
            // as newer VS Code Go configurations allow.
            args: "-test.run 'TestAdd$' -test.v",
            output: testBin,
            substitutePath: [{ from: remote, to: pkg }],
          },
          (dc) => dc.setBreakpointsRequest({ source: { path: `${remote}/calc_test.go` }, breakpoints: [{ line, condition: 'c.a == 20' }] }),
        );
        assert.equal(configured.body.breakpoints[0].verified, true);
        assert.equal(configured.body.breakpoints[0].source.path, `${remote}/calc_test.go`);
        assert.ok(fs.existsSync(testBin), 'the test binary is built at the absolute output path');
        assert.equal(stopped.body.reason, 'breakpoint');
        const f = await topFrame(dc, stopped.body.threadId);
        assert.equal(f.name, 'testpkg.TestAdd');
        assert.equal(f.source.path, `${remote}/calc_test.go`);
        assert.equal((await dc.evaluateRequest({ expression: 'c.b', frameId: f.id, context: 'watch' })).body.result, '22');
        const exited = dc.waitForEvent('exited');
        await dc.setBreakpointsRequest({ source: { path: `${remote}/calc_test.go` }, breakpoints: [] });
        await dc.continueRequest({ threadId: stopped.body.threadId });
        assert.equal((await exited).body.exitCode, 0);
        assert.match(dc.output.stdout, /--- PASS: TestAdd/);
      } finally {
        await stopAndKill(dc);
        fs.rmSync(outDir, { recursive: true, force: true });
      }
    });

    for (const freezeWorld of [true, false]) {
      test(`evaluate call honours freezeWorld: ${freezeWorld}`, async () => {
        const cfg = config();
        const src = path.join(cfg.repo, 'tests/dap-client/fixtures/freeze/main.go');
        const dc = await client();
        try {
          const { stopped } = await start(dc, 'launch', { mode: 'exec', program: v.bins.freeze, freezeWorld }, (dc) =>
            dc.setBreakpointsRequest({ source: { path: src }, breakpoints: [{ line: bpLine(src, 'probe') }] }),
          );
          assert.equal(stopped.body.reason, 'breakpoint');
          const tid = stopped.body.threadId;
          const fid = (await topFrame(dc, tid)).id;
          // The client library puts no time limit on requests: a call that
          // hangs must fail the test, not hang the suite.
          const ev = (expression, context) =>
            Promise.race([
              dc.evaluateRequest({ expression, frameId: fid, context }),
              new Promise((_, reject) => setTimeout(() => reject(new Error(`evaluate ${expression}: no answer in 30 s`)), 30000).unref()),
            ]);
          // A background goroutine ticks every millisecond: frozen, it
          // cannot move during a call that sleeps 50 ms; thawed, it does.
          const t0 = (await ev('ticks', 'watch')).body.result;
          assert.equal((await ev('call nap()', 'repl')).body.result, '2');
          const t1 = (await ev('ticks', 'watch')).body.result;
          if (freezeWorld) assert.equal(t1, t0, 'frozen: no other goroutine ran during the call');
          else assert.ok(Number(t1) > Number(t0), `thawed: the ticker ran during the call (${t0} -> ${t1})`);
          // A call that waits for a goroutine the freeze holds is reported
          // (and thawed so it completes); thawed, it just returns.
          if (freezeWorld) {
            await assert.rejects(ev('call recvFeed()', 'watch'), /blocked while the other goroutines were frozen.*chan receive/s);
          } else {
            assert.equal((await ev('call recvFeed()', 'watch')).body.result, '1');
          }
          // The program is healthy afterwards: calls work, it runs on.
          assert.equal((await ev('call nop()', 'hover')).body.result, '7');
          const again = dc.waitForEvent('stopped');
          await dc.continueRequest({ threadId: tid });
          assert.equal((await again).body.reason, 'breakpoint');
          assert.ok(Number(await evalIn(dc, tid, 'ticks')) > Number(t1), 'the ticker runs again after continue');
        } finally {
          await stopAndKill(dc);
        }
      });
    }

    for (const freezeSteps of [true, false]) {
      test(`next honours freezeSteps: ${freezeSteps}`, async () => {
        const cfg = config();
        const src = path.join(cfg.repo, 'tests/dap-client/fixtures/freeze/main.go');
        const dc = await client();
        try {
          const { stopped } = await start(dc, 'launch', { mode: 'exec', program: v.bins.freeze, freezeSteps }, (dc) =>
            dc.setBreakpointsRequest({ source: { path: src }, breakpoints: [{ line: bpLine(src, 'probe') }] }),
          );
          assert.equal(stopped.body.reason, 'breakpoint');
          const tid = stopped.body.threadId;
          // No breakpoint on the way: the nexts go round main's loop, over
          // its 10 ms sleep, while the ticker would tick every millisecond.
          await dc.setBreakpointsRequest({ source: { path: src }, breakpoints: [] });
          const t0 = await evalIn(dc, tid, 'ticks');
          for (let i = 0; i < 6; i++) {
            const st = dc.waitForEvent('stopped');
            await dc.nextRequest({ threadId: tid });
            assert.equal((await st).body.reason, 'step');
          }
          const t1 = await evalIn(dc, tid, 'ticks');
          if (freezeSteps) assert.equal(t1, t0, 'frozen steps: the ticker did not run');
          else assert.ok(Number(t1) > Number(t0), `steps: the ticker ran (${t0} -> ${t1})`);
        } finally {
          await stopAndKill(dc);
        }
      });
    }

    test('threads lists 100,000 goroutines', async () => {
      const cfg = config();
      const src = path.join(cfg.repo, 'tests/dap-client/fixtures/many/main.go');
      const line = bpLine(src, 'parked');
      const dc = await client();
      try {
        const { stopped } = await start(dc, 'launch', { mode: 'exec', program: v.bins.many }, (dc) =>
          dc.setBreakpointsRequest({ source: { path: src }, breakpoints: [{ line }] }),
        );
        assert.equal(stopped.body.reason, 'breakpoint');
        const t0 = Date.now();
        const threads = (await dc.threadsRequest()).body.threads;
        const ms = Date.now() - t0;
        console.log(`# go${v.version}: threads listed ${threads.length} goroutines in ${ms} ms`);
        assert.ok(threads.length > 100000, `${threads.length} threads`);
        assert.ok(ms < 20000, `threads took ${ms} ms`);
      } finally {
        await stopAndKill(dc);
      }
    });
  });
}

describe('server mode', () => {
  /** Starts `stillgo dap` with args; resolves with { proc, port } once listening. */
  function listen(args) {
    return new Promise((resolve, reject) => {
      const proc = cp.spawn(BIN, ['dap', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      proc.stdout.on('data', (d) => {
        out += d;
        const m = out.match(/DAP server listening at: .*:(\d+)\n/);
        if (m) resolve({ proc, port: Number(m[1]), stderr: () => err });
      });
      proc.stderr.on('data', (d) => (err += d));
      proc.on('exit', (code) => reject(new Error(`exited ${code}: ${err}`)));
    });
  }

  test('--listen serves one client; accepts dlv flags; a second client is turned away', async () => {
    config();
    const { proc, port } = await listen([
      '--listen=127.0.0.1:0',
      '--log',
      '--log-output=dap,debugger',
      '--check-go-version=false',
      '--only-same-user=false',
    ]);
    const dc = new DebugClient(BIN, 'dap', 'go');
    dc.defaultTimeout = TIMEOUT;
    try {
      await dc.start(port);
      const init = await dc.initializeRequest();
      assert.equal(init.body.supportsConfigurationDoneRequest, true);
      // A second client gets a message and a closed connection.
      const second = await new Promise((resolve, reject) => {
        let data = '';
        const s = net.createConnection(port, '127.0.0.1');
        s.on('data', (d) => (data += d));
        s.on('end', () => resolve(data));
        s.on('error', reject);
      });
      assert.match(second, /one client at a time/);
      // The first client still works.
      const th = await dc.threadsRequest();
      assert.deepEqual(th.body.threads, []);
      await dc.disconnectRequest({});
      const code = await new Promise((r) => proc.on('exit', r));
      assert.equal(code, 0);
    } finally {
      dc.stopAdapter();
      proc.kill('SIGKILL');
    }
  });

  test('-l HOST:PORT works too', async () => {
    config();
    const { proc, port } = await listen(['-l', '127.0.0.1:0']);
    try {
      assert.ok(port > 0);
    } finally {
      proc.kill('SIGKILL');
    }
  });

  test('non-loopback addresses need --allow-non-loopback, and then warn', async () => {
    config();
    const r = cp.spawnSync(BIN, ['dap', '--listen=0.0.0.0:0'], { encoding: 'utf8', timeout: 20000 });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /not a loopback address/);
    const { proc, stderr } = await listen(['--listen=0.0.0.0:0', '--allow-non-loopback']);
    try {
      await until(() => /WARNING/.test(stderr()), 'the warning', 5000);
    } finally {
      proc.kill('SIGKILL');
    }
  });
});

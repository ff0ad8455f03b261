/**
 * The `myko` command as a user runs it: a child process, its exit code, its
 * output, its environment, its signals.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { exited, startTestServer, tempDir, TestClient } from './testing/index.js';
import { cleanEnv, cliPath, countRows, freePort, run, startServing } from './cli/harness.js';

const version = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Start `myko serve ...` and resolve with the port it announces once listening; `cwd` and `script` run it as `npm start` does. */
function serve(args: string[], env: Record<string, string>, how: { cwd?: string; script?: string } = {}) {
  return startServing(process.execPath, [how.script ?? cliPath, 'serve', ...args], env, { cwd: how.cwd });
}

async function stop(proc: ChildProcess): Promise<number | null> {
  proc.kill('SIGTERM');
  return exited(proc);
}

test('myko --help prints the usage with the environment variables, and exits 0', async () => {
  const [long, short, v] = await Promise.all([run(['--help']), run(['-h']), run(['--version'])]);
  for (const r of [long!, short!]) {
    assert.equal(r.code, 0, r.stderr);
    for (const s of ['Usage', 'myko serve', '--port', 'MYKO_PORT', 'MYKO_HOST', 'MYKO_DATA_DIR', 'MYKO_LOG_LEVEL', 'MYKO_MAX_FRAME_BYTES', '/health'])
      assert.ok(r.stdout.includes(s), `help mentions ${s}`);
    assert.equal(r.stderr, '');
  }
  assert.equal(v!.code, 0);
  assert.equal(v!.stdout.trim(), version);
});

test('`npm install` links the `myko` command: node_modules/.bin/myko runs the CLI', async () => {
  const bin = fileURLToPath(new URL('../../../node_modules/.bin/myko', import.meta.url));
  assert.ok(existsSync(bin), `${bin} exists after npm install`);
  const r = await new Promise<{ code: number | null; stdout: string }>((resolve, reject) => {
    // Run as a shell would: the link's own shebang, not `node <file>`.
    const proc = spawn(bin, ['--version'], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    proc.once('error', reject);
    proc.once('close', (code) => resolve({ code, stdout }));
  });
  assert.equal(r.code, 0);
  assert.equal(r.stdout.trim(), version);
});

test('bad flags, bad values and unknown commands exit non-zero with a message saying what is wrong', async () => {
  const dataDir = tempDir('myko-cli-bad-');
  try {
    const cases: [string[], Record<string, string>, RegExp][] = [
      [['serve', '--port', 'abc'], {}, /port.*abc/],
      [['serve', '--port', '70000'], {}, /port/],
      [['serve', '--port', '-1'], {}, /port/],
      [['serve', '--log-level', 'loud'], {}, /--log-level/],
      [['serve', '--sqlite-sync', 'sometimes'], {}, /--sqlite-sync/],
      [['serve', '--max-frame-bytes', '10'], {}, /--max-frame-bytes/],
      [['serve'], { MYKO_PORT: 'abc' }, /port.*abc/],
      [['serve', '--bogus'], {}, /bogus/],
      [['launch'], {}, /unknown command launch/],
    ];
    // Two at a time (one per core): none gets far enough to touch the directory, and nine process starts
    // at once on a loaded 2-core machine took longer than the exit deadline.
    const results: Awaited<ReturnType<typeof run>>[] = [];
    for (let i = 0; i < cases.length; i += 2)
      results.push(...(await Promise.all(cases.slice(i, i + 2).map(([args, env]) => run([...args, '--data-dir', dataDir], env)))));
    for (const [i, [args, env, message]] of cases.entries()) {
      const r = results[i]!;
      const what = `${args.join(' ')} ${JSON.stringify(env)}`;
      assert.notEqual(r.code, 0, `${what} exits non-zero`);
      assert.notEqual(r.code, null, `${what} exits by itself`);
      assert.match(r.stderr, message, `${what}: ${r.stderr}`);
      assert.match(r.stderr, /^myko( serve)?: /, 'the message says who is talking');
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('defaults with no flags and no environment: 0.0.0.0:5155, ./data, info logs of one line per connection open and close and per error, quiet at steady state', async (t) => {
  const cwd = tempDir('myko-cli-defaults-');
  const busy = await new Promise<boolean>((resolve) => {
    const probe = createServer().once('error', () => resolve(true));
    probe.listen(5155, '0.0.0.0', () => probe.close(() => resolve(false)));
  });
  if (busy) return t.skip('port 5155 is in use on this machine');
  const spawnedHere: ChildProcess[] = [];
  try {
    const proc = spawn(process.execPath, [cliPath, 'serve'], { cwd, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    spawnedHere.push(proc);
    const lines: Record<string, any>[] = [];
    let buf = '';
    proc.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        lines.push(JSON.parse(buf.slice(0, i)));
        buf = buf.slice(i + 1);
      }
    });
    const until = async (pred: () => boolean, what: string) => {
      for (const end = Date.now() + 10_000; !pred(); await new Promise((r) => setTimeout(r, 20))) if (Date.now() > end) throw new Error(`timed out: ${what}; log: ${JSON.stringify(lines)}`);
    };
    await until(() => lines.some((l) => l.msg === 'listening'), 'listening');
    assert.equal(lines.find((l) => l.msg === 'listening')!.bind, '0.0.0.0:5155');
    assert.ok(existsSync(join(cwd, 'data', 'myko.db')), 'the store is ./data/myko.db');
    const bootLines = lines.length;
    const c = await TestClient.connect('ws://127.0.0.1:5155/myko');
    // Steady state: many events and a live query add no log lines.
    c.send({ event: 'ws:m:query', data: { queryId: 'GetAllCues', queryItemType: 'Cue', query: { tx: 'q' } } });
    for (let i = 0; i < 200; i++) c.send({ event: 'ws:m:event', data: { itemType: 'Cue', changeType: 'SET', item: { id: `c${i % 20}`, i } } });
    await c.sync();
    // One bad frame: one error line (warn or above), naming the client.
    c.ws.send('{not json');
    await c.next((f) => f.event === 'ws:m:error');
    await c.close();
    await until(() => lines.some((l) => l.msg === 'connection closed'), 'the close line');
    const mine = lines.slice(bootLines);
    assert.deepEqual(mine.filter((l) => l.level === 30).map((l) => l.msg), ['connection open', 'connection closed'], JSON.stringify(mine));
    const errors = mine.filter((l) => l.level >= 40);
    assert.equal(errors.length, 1, `one line for the bad frame: ${JSON.stringify(mine)}`);
    assert.equal(errors[0]!.clientId, c.clientId);
    assert.ok(mine.every((l) => l.level >= 30), 'nothing below info at the default level');
    proc.kill('SIGTERM');
    assert.equal(await exited(proc), 0);
  } finally {
    for (const p of spawnedHere) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    rmSync(cwd, { recursive: true, force: true });
  }
});

test('serve honours MYKO_PORT, MYKO_HOST and MYKO_DATA_DIR, and flags win over them', async () => {
  const envDir = tempDir('myko-cli-env-');
  const flagDir = tempDir('myko-cli-flag-');
  try {
    // From the environment alone.
    const envPort = await freePort();
    const a = await serve([], { MYKO_PORT: String(envPort), MYKO_HOST: '127.0.0.1', MYKO_DATA_DIR: envDir });
    assert.equal(a.port, envPort);
    assert.equal(a.host, '127.0.0.1');
    const c = await TestClient.connect(`ws://127.0.0.1:${envPort}/myko`);
    assert.ok(c.clientId);
    c.send({ event: 'ws:m:event', data: { itemType: 'EnvProbe', changeType: 'SET', item: { id: 'e' } } });
    await c.sync();
    await c.close();
    assert.equal(await stop(a.proc), 0);
    assert.equal(countRows(envDir, 'EnvProbe'), 1, 'the store is in MYKO_DATA_DIR');

    // Flags over the environment.
    const flagPort = await freePort();
    const b = await serve(['--port', String(flagPort), '--host', '127.0.0.1', '--data-dir', flagDir], {
      MYKO_PORT: String(envPort),
      MYKO_HOST: '0.0.0.0',
      MYKO_DATA_DIR: envDir,
    });
    assert.equal(b.port, flagPort);
    assert.equal(b.host, '127.0.0.1');
    const d = await TestClient.connect(`ws://127.0.0.1:${flagPort}/myko`);
    d.send({ event: 'ws:m:event', data: { itemType: 'FlagProbe', changeType: 'SET', item: { id: 'f' } } });
    await d.sync();
    await d.close();
    assert.equal(await stop(b.proc), 0);
    assert.ok(existsSync(join(flagDir, 'myko.db')));
    assert.equal(countRows(flagDir, 'FlagProbe'), 1, 'the store is in --data-dir');
    assert.equal(countRows(envDir, 'FlagProbe'), 0, 'not in MYKO_DATA_DIR');
  } finally {
    rmSync(envDir, { recursive: true, force: true });
    rmSync(flagDir, { recursive: true, force: true });
  }
});

test('SIGTERM (and SIGINT): clients get a close frame with 1001, and the process exits 0', async () => {
  const dataDir = tempDir('myko-cli-term-');
  try {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const s = await serve(['--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir], {});
      const url = `ws://127.0.0.1:${s.port}/myko`;
      const clients = [await TestClient.connect(url), await TestClient.connect(url)];
      clients[0]!.send({ event: 'ws:m:event', data: { itemType: 'Before', changeType: 'SET', item: { id: signal } } });
      await clients[0]!.sync();
      s.proc.kill(signal);
      const closes = await Promise.all(clients.map((c) => c.closed));
      for (const cl of closes) {
        assert.equal(cl.code, 1001, `${signal}: close code`);
        assert.equal(cl.reason, 'MYKO_SHUTTING_DOWN');
      }
      assert.equal(await exited(s.proc), 0, `${signal}: exit code`);
      assert.equal(s.proc.signalCode, null, 'exited by itself, not killed by the signal');
    }
    assert.equal(countRows(dataDir, 'Before'), 2, 'what was written before the signal is kept');
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('shutdown: writes accepted before it are flushed to the log, and a connection attempted during it is refused with 503 MYKO_SHUTTING_DOWN', async () => {
  const dataDir = tempDir('myko-cli-flush-');
  /** Try a WebSocket handshake: how it was refused, or 'opened'. */
  const attempt = (url: string) =>
    new Promise<{ status?: number; body?: string; error?: string }>((resolve) => {
      const ws = new WebSocket(url);
      ws.once('open', () => (ws.close(), resolve({ error: 'opened' })));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      });
      ws.once('error', (err) => resolve({ error: (err as NodeJS.ErrnoException).code ?? err.message }));
    });
  try {
    const ts = await startTestServer({ dataDir });
    const c = await TestClient.connect(ts.url);
    // The handshake check itself, made deterministic: once the server is marked as stopping (stop()'s
    // first step), an upgrade gets 503 with the code, not a connection that would be retired at once.
    ts.server.ctx.stopping = true;
    const during = await attempt(ts.url);
    assert.equal(during.status, 503, JSON.stringify(during));
    assert.deepEqual(JSON.parse(during.body!), { code: 'MYKO_SHUTTING_DOWN', message: 'the server is shutting down' });
    // Accepted (submitted to the writer) but not yet committed when stop() begins.
    const accepted = ts.server.emit(Array.from({ length: 2000 }, (_, i) => ({ itemType: 'InFlight', changeType: 'SET' as const, item: { id: `f${i}`, payload: 'x'.repeat(200) } })));
    const stopping = ts.server.stop();
    // The real path, racing stop(): refused at the handshake, reset by the closing listener, or refused by a closed port; never served.
    const racing = await attempt(ts.url);
    if (racing.status !== undefined) assert.equal(JSON.parse(racing.body!).code, 'MYKO_SHUTTING_DOWN');
    else assert.ok(['ECONNREFUSED', 'ECONNRESET'].includes(racing.error!), JSON.stringify(racing));
    assert.deepEqual(await c.closed, { code: 1001, reason: 'MYKO_SHUTTING_DOWN' });
    assert.equal((await accepted).length, 2000);
    await stopping;
    assert.equal(countRows(dataDir, 'InFlight'), 2000, 'every accepted event is in the log after stop()');
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('`npm start` (node packages/server/dist/cli.js serve, from the repository root) serves the built dashboard at /', async () => {
  const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
  const script = join('packages', 'server', 'dist', 'cli.js');
  assert.ok(existsSync(join(repoRoot, script)), `${script} is what npm start runs`);
  assert.ok(
    existsSync(join(repoRoot, 'apps', 'dashboard', 'dist', 'www', 'index.html')),
    'the dashboard is built (npm install and npm run build do it): apps/dashboard/dist/www/index.html',
  );
  const dataDir = tempDir('myko-cli-dashboard-');
  try {
    // The port comes from MYKO_PORT as npm start takes no flags.
    const s = await serve([], { MYKO_PORT: String(await freePort()), MYKO_HOST: '127.0.0.1', MYKO_DATA_DIR: dataDir }, { cwd: repoRoot, script });
    try {
      const http = `http://127.0.0.1:${s.port}`;
      const index = await fetch(`${http}/`);
      assert.equal(index.status, 200);
      assert.equal(index.headers.get('content-type'), 'text/html; charset=utf-8');
      const html = await index.text();
      assert.match(html, /<div id="app"><\/div>/);
      // Vite's hashed bundle and stylesheet.
      const js = /<script[^>]+src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
      const css = /<link[^>]+href="(\/assets\/[^"]+\.css)"/.exec(html)?.[1];
      assert.ok(js && css, `index.html references the built assets:\n${html}`);
      const asset = await fetch(`${http}${js}`);
      assert.equal(asset.status, 200);
      assert.equal(asset.headers.get('content-type'), 'text/javascript; charset=utf-8');
      assert.ok((await asset.text()).length > 1000, 'the bundle has content');
      assert.equal((await fetch(`${http}${css}`, { method: 'HEAD' })).status, 200);
    } finally {
      assert.equal(await stop(s.proc), 0);
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

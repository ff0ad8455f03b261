import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { startTestServer, exited, TestClient, sleep, type TestServer } from '@myko/server/testing';
import { rshipPlugin } from '@myko/rship/server';

/**
 * The example executor as a child process (`node dist/main.js --url ...`)
 * against a real server; a raw TestClient plays the controller / UI.
 */

const mainJs = fileURLToPath(new URL('./main.js', import.meta.url));
const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

interface Executor {
  proc: ChildProcess;
  lines: string[];
  /** Resolves with the first output line (seen or future) matching `re`. */
  line(re: RegExp, timeoutMs?: number): Promise<string>;
}

function startExecutor(url: string, ...args: string[]): Executor {
  const proc = spawn(process.execPath, [mainJs, '--url', url, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(proc);
  proc.once('exit', () => children.delete(proc));
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  let buf = '';
  const onData = (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts);
    for (const w of [...waiters]) w();
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  return {
    proc,
    lines,
    line(re, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const l = lines.find((x) => re.test(x));
          if (!l) return;
          waiters.delete(check);
          clearTimeout(t);
          resolve(l);
        };
        const t = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no output line matching ${re} within ${timeoutMs} ms; output:\n${lines.join('\n')}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
  };
}

/** One query's live result as a controller sees it. */
function view(c: TestClient, queryId: string, queryItemType: string, params: Record<string, unknown> = {}) {
  const tx = randomUUID();
  const items = new Map<string, any>();
  const waiters = new Set<() => void>();
  let responses = 0;
  c.ws.on('message', (raw: Buffer) => {
    const f = JSON.parse(raw.toString());
    if (f.event !== 'ws:m:query-response' || f.data?.tx !== tx) return;
    responses++;
    if (f.data.sequence === 0) items.clear();
    for (const id of f.data.deletes ?? []) items.delete(id);
    for (const u of f.data.upserts ?? []) items.set(u.item.id, u.item);
    for (const w of [...waiters]) w();
  });
  c.send({ event: 'ws:m:query', data: { queryId, queryItemType, query: { tx, ...params } } });
  return {
    items,
    until(pred: (m: Map<string, any>) => boolean, timeoutMs = 3000): Promise<void> {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (responses === 0 || !pred(items)) return;
          waiters.delete(check);
          clearTimeout(t);
          resolve();
        };
        const t = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`${queryId}: condition not met within ${timeoutMs} ms; items: ${JSON.stringify([...items.values()]).slice(0, 2000)}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
  };
}

async function command(c: TestClient, commandId: string, params: Record<string, unknown>) {
  const tx = randomUUID();
  c.send({ event: 'ws:m:command', data: { commandId, command: { tx, ...params } } });
  const f = await c.next((x) => (x.event === 'ws:m:command-response' || x.event === 'ws:m:command-error') && x.data?.tx === tx, 5000);
  return f.event === 'ws:m:command-response' ? { ok: true, response: f.data.response } : { ok: false, code: f.data.code, message: f.data.message };
}

const statusesOf = (m: Map<string, any>) => Object.fromEntries([...m.values()].map((s) => [s.targetId, s.status]));

let ts: TestServer;
before(async () => {
  ts = await startTestServer({ plugins: [rshipPlugin()] });
});
after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await ts.close();
});

test('banana-stand example: the seed Banana Stand registers, and a controller drives it (result, thrown error, rejected payload)', async () => {
  const ex = startExecutor(ts.url, '--instance-id', 'stand-1', '--pulse-ms', '60000');
  await ex.line(/registered as client/);
  const ctl = await TestClient.connect(ts.url);
  const targets = view(ctl, 'GetAllTargets', 'Target');
  const statuses = view(ctl, 'GetTargetStatussByQuery', 'TargetStatus', { instanceId: 'stand-1' });
  await targets.until((m) => m.has('banana-stand') && m.has('cash-register'));
  const stand = targets.items.get('banana-stand');
  assert.equal(stand.name, 'The Banana Stand');
  assert.equal(stand.bgColor, '#ffff00');
  assert.equal(stand.fgColor, '#000000');
  assert.equal(stand.serviceId, 'bluth-company');
  assert.deepEqual(stand.actionIds, ['banana-stand:burn', 'banana-stand:fill-with-money']);
  assert.deepEqual(stand.emitterIds, ['banana-stand:banana-sold', 'banana-stand:banana-tossed', 'banana-stand:dollar-taken']);
  assert.deepEqual(stand.subTargets, ['cash-register']);
  assert.deepEqual(targets.items.get('cash-register').parentTargets, ['banana-stand']);
  await statuses.until((m) => statusesOf(m)['banana-stand'] === 'online' && statusesOf(m)['cash-register'] === 'online');
  const burn = ts.server.state.get('Action', 'banana-stand:burn')!;
  assert.deepEqual((burn.schema as any).properties.intensity, { type: 'number', minimum: 0, maximum: 10 });

  assert.deepEqual(await command(ctl, 'ExecTargetAction', { action: { id: 'banana-stand:fill-with-money' }, data: { amount: 250 } }), { ok: true, response: { cash: 250 } });
  assert.deepEqual(await command(ctl, 'ExecTargetAction', { action: { id: 'banana-stand:burn' }, data: { intensity: 7 } }), {
    ok: true,
    response: { burning: true, intensity: 7 },
  });
  // The handler throws while the stand burns: the controller gets its message and code.
  assert.deepEqual(await command(ctl, 'ExecTargetAction', { action: { id: 'banana-stand:fill-with-money' }, data: { amount: 5 } }), {
    ok: false,
    code: 'STAND_ON_FIRE',
    message: 'The Banana Stand is on fire (intensity 7): the money would burn',
  });
  // Out of range: refused by the server, the executor never hears of it.
  const before = ex.lines.filter((l) => l.includes('burn:')).length;
  const bad = await command(ctl, 'ExecTargetAction', { action: { id: 'banana-stand:burn' }, data: { intensity: 11 } });
  assert.equal(bad.ok, false);
  assert.equal(bad.code, 'RSHIP_BAD_PAYLOAD');
  assert.match(bad.message, /data\.intensity must be <= 10/);
  assert.deepEqual(await command(ctl, 'ExecTargetAction', { action: { id: 'cash-register:open-drawer' }, data: {} }), { ok: true, response: { cash: 250 } });
  assert.equal(ex.lines.filter((l) => l.includes('burn:')).length, before, 'the bad payload was not handled');

  // SIGTERM: offline first, then a clean exit.
  ex.proc.kill('SIGTERM');
  assert.equal(await exited(ex.proc), 0);
  await statuses.until((m) => statusesOf(m)['banana-stand'] === 'offline' && statusesOf(m)['cash-register'] === 'offline');
  assert.ok(ex.lines.some((l) => l.includes('SIGTERM: going offline')));
  await ctl.close();
});

test('banana-stand example: SIGKILL → offline within a second; restarted without the cash register → online again, stale status set offline', async () => {
  const ctl = await TestClient.connect(ts.url);
  const statuses = view(ctl, 'GetTargetStatussByQuery', 'TargetStatus', { instanceId: 'stand-2' });
  const instances = view(ctl, 'GetInstancesByIds', 'Instance', { ids: ['stand-2'] });
  const first = startExecutor(ts.url, '--instance-id', 'stand-2');
  await statuses.until((m) => statusesOf(m)['banana-stand'] === 'online' && statusesOf(m)['cash-register'] === 'online', 5000);

  first.proc.kill('SIGKILL');
  const killedAt = Date.now();
  await exited(first.proc);
  await statuses.until((m) => statusesOf(m)['banana-stand'] === 'offline' && statusesOf(m)['cash-register'] === 'offline', 1000);
  const offlineAfter = Date.now() - killedAt;
  assert.ok(offlineAfter < 1000, `offline after ${offlineAfter} ms`);
  await instances.until((m) => m.get('stand-2')?.status === 'Unavailable', 1000);

  // A stale online status for this instance, left by a connection the server
  // no longer knows (here written with an explicit dead clientId): only the
  // executor's reconciliation can put it right.
  const ghost = await TestClient.connect(ts.url);
  ghost.send({ event: 'ws:m:event', data: { itemType: 'TargetStatus', changeType: 'SET', item: { targetId: 'cash-register', instanceId: 'stand-2', status: 'online', clientId: 'gone-client' } } });
  await statuses.until((m) => statusesOf(m)['cash-register'] === 'online');
  await ghost.close();

  const second = startExecutor(ts.url, '--instance-id', 'stand-2', '--no-cash-register');
  const registered = await second.line(/registered as client/);
  assert.match(registered, /set stale target statuses offline: stand-2:cash-register/);
  await statuses.until((m) => statusesOf(m)['banana-stand'] === 'online' && statusesOf(m)['cash-register'] === 'offline');
  await instances.until((m) => m.get('stand-2')?.status === 'Available');
  assert.deepEqual(await command(ctl, 'ExecTargetAction', { action: { id: 'banana-stand:burn' }, data: { intensity: 0 } }), {
    ok: true,
    response: { burning: false, intensity: 0 },
  });
  second.proc.kill('SIGINT');
  assert.equal(await exited(second.proc), 0);
  await ctl.close();
});

test('banana-stand example: pulses reach a watcher about once a second', async () => {
  const ctl = await TestClient.connect(ts.url);
  const got: { at: number; count: number; sentAt: number }[] = [];
  ctl.ws.on('message', (raw: Buffer) => {
    const f = JSON.parse(raw.toString());
    if (f.event !== 'ws:m:query-response' || f.data?.tx !== 'sold') return;
    for (const u of f.data.upserts) got.push({ at: Date.now(), count: u.item.data.count, sentAt: u.item.data.at });
  });
  ctl.send({ event: 'ws:m:query', data: { queryId: 'GetPulsesByIds', queryItemType: 'Pulse', query: { tx: 'sold', ids: ['banana-stand:banana-sold'] } } });
  await ctl.sync();
  const ex = startExecutor(ts.url, '--instance-id', 'stand-3');
  await ex.line(/registered as client/);
  const start = got.length;
  await sleep(4300);
  const fresh = got.slice(start).filter((p) => p.count >= 1);
  assert.ok(fresh.length >= 3 && fresh.length <= 5, `${fresh.length} pulses in 4.3 s: ${JSON.stringify(fresh)}`);
  for (let i = 1; i < fresh.length; i++) {
    assert.equal(fresh[i]!.count, fresh[i - 1]!.count + 1, 'one banana per pulse');
    const gap = fresh[i]!.at - fresh[i - 1]!.at;
    assert.ok(gap > 700 && gap < 1300, `pulse gap ${gap} ms`);
  }
  for (const p of fresh) assert.ok(p.at - p.sentAt < 250, `pulse latency ${p.at - p.sentAt} ms`);
  ex.proc.kill('SIGTERM');
  assert.equal(await exited(ex.proc), 0);
  await ctl.close();
});

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { spawnServer, exited, tempDir, TestClient, testPostgres } from '../testing/index.js';
import { SilentProxy } from '../fault/silent-proxy.js';

/**
 * The owner challenge across a cluster (gateway/owner-challenge.ts): an
 * executor's old socket, on member B, dies silently; it registers again
 * through member A. A asks B to challenge the old connection; B retires it;
 * A applies the registration once the retirement reaches its state.
 */
let db: Awaited<ReturnType<typeof testPostgres>>;
const dirs: string[] = [];
before(async () => {
  db = await testPostgres();
});
after(async () => {
  await db?.drop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function member() {
  const dataDir = tempDir();
  dirs.push(dataDir);
  return spawnServer({
    dataDir,
    env: {
      MYKO_POSTGRES_URL: db!.url, MYKO_POSTGRES_SCHEMA: db!.schema, MYKO_LOG_LEVEL: 'info',
      MYKO_OWNER_CHALLENGE_MS: '500', MYKO_HEARTBEAT_INTERVAL_MS: '10000', MYKO_HEARTBEAT_TIMEOUT_MS: '30000',
    },
  });
}

/** A current executor's registration (TouchDesigner's shape, with the seed Target fields). */
function registration() {
  const ev = (itemType: string, item: object) => ({ itemType, changeType: 'SET', item, tx: randomUUID(), createdAt: new Date().toISOString() });
  return {
    event: 'ws:m:event-batch',
    data: [
      ev('Instance', { id: 'oc-inst', name: 'I', serviceId: 's', serviceTypeCode: 'x', clientId: null }),
      ev('Target', { id: 'oc-t', name: 'T', serviceId: 's', actionIds: ['oc-go'], emitterIds: [], bgColor: '#000', fgColor: '#fff' }),
      ev('Action', { id: 'oc-go', name: 'Go', schema: null, targetId: 'oc-t', serviceId: 's' }),
      ev('TargetStatus', { targetId: 'oc-t', instanceId: 'oc-inst', status: 'online' }),
    ],
  };
}

function answering(c: TestClient, tag: string): void {
  c.ws.on('message', (raw: Buffer) => {
    const f = JSON.parse(raw.toString());
    if (f.event === 'ws:m:command' && f.data.commandId === 'ExecTargetAction') c.send({ event: 'ws:m:command-response', data: { tx: f.data.command.tx, response: tag } });
  });
}

test('an executor whose socket on member B died silently registers again through member A: B retires the old socket, the registration takes effect, actions go to the new socket', async (t) => {
  if (!db) return t.skip('no PostgreSQL');
  const [a, b] = [await member(), await member()];
  const proxy = await SilentProxy.start({ host: '127.0.0.1', port: b.port });
  try {
    const old = await TestClient.connect(proxy.url());
    answering(old, 'old');
    old.send(registration());
    await old.sync();
    const fresh = await TestClient.connect(a.url);
    answering(fresh, 'new');
    // Wait until A has B's registration (shared log), so that A sees the conflict.
    const probeTx = 'seen';
    for (let i = 0; ; i++) {
      fresh.send({ event: 'ws:m:query', data: { queryId: 'GetInstancesByIds', queryItemType: 'Instance', query: { tx: `${probeTx}${i}`, ids: ['oc-inst'] } } });
      const r = await fresh.next((f) => f.event === 'ws:m:query-response' && f.data.tx === `${probeTx}${i}`);
      if (r.data.upserts[0]?.item.clientId === old.clientId) break;
      assert.ok(i < 100, 'A never saw the registration made on B');
      await new Promise((r) => setTimeout(r, 50));
    }

    proxy.silence();
    const t0 = performance.now();
    fresh.send(registration());
    fresh.send({ event: 'ws:m:query', data: { queryId: 'GetTargetStatussByQuery', queryItemType: 'TargetStatus', query: { tx: 'q', instanceId: 'oc-inst' } } });
    const q = await fresh.next((f) => f.event === 'ws:m:query-response' && f.data.tx === 'q', 10_000);
    const ms = performance.now() - t0;
    assert.deepEqual(fresh.all('ws:m:error'), [], 'nothing was refused');
    assert.deepEqual(q.data.upserts.map((u: any) => [u.item.status, u.item.clientId]), [['online', fresh.clientId]]);
    assert.ok(ms < 500 + 3000, `took ${ms.toFixed(0)} ms`);

    const ctl = await TestClient.connect(b.url);
    ctl.send({ event: 'ws:m:command', data: { commandId: 'ExecTargetAction', command: { tx: 'x', action: { id: 'oc-go' }, data: {} } } });
    const r = await ctl.next((f) => f.data?.tx === 'x' && (f.event === 'ws:m:command-response' || f.event === 'ws:m:command-error'), 5000);
    assert.equal(r.data.response, 'new', JSON.stringify(r));
    old.ws.terminate();
    await Promise.all([fresh.close(), ctl.close()]);
  } finally {
    await proxy.close();
    for (const m of [a, b]) m.proc.kill('SIGTERM');
    await Promise.all([a, b].map((m) => exited(m.proc)));
  }
});

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import pg from 'pg';
import { spawnServer, exited, tempDir, TestClient, sleep, testPostgres, type AnyFrame, until, liveResult } from '../testing/index.js';
import { PostgresEventStore } from '../store/postgres/index.js';

/**
 * Three server processes sharing the real PostgreSQL of this machine, a fresh
 * schema per run. Each test starts its own members.
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

async function member(extraEnv: Record<string, string> = {}) {
  const dataDir = tempDir();
  dirs.push(dataDir);
  return spawnServer({ dataDir, env: { MYKO_POSTGRES_URL: db!.url, MYKO_POSTGRES_SCHEMA: db!.schema, MYKO_LOG_LEVEL: 'info', ...extraEnv } });
}
type Member = Awaited<ReturnType<typeof member>>;
async function stopAll(ms: Member[]) {
  for (const m of ms) if (m.proc.exitCode === null && m.proc.signalCode === null) m.proc.kill('SIGTERM');
  await Promise.all(ms.map((m) => exited(m.proc)));
}

const resp = (tx: string) => (f: AnyFrame) => f.event === 'ws:m:query-response' && f.data.tx === tx;

test('writes through any member converge on every member, in one order', async (t) => {
  if (!db) return t.skip('no PostgreSQL');
  const ms = [await member(), await member(), await member()];
  try {
    const clients = await Promise.all(ms.map((m) => TestClient.connect(m.url)));
    for (const c of clients) c.send({ event: 'ws:m:query', data: { queryId: 'GetAllFaders', queryItemType: 'Fader', query: { tx: 'all' } } });
    await Promise.all(clients.map((c) => c.next(resp('all'))));
    // Every member writes the same 20 faders at once, 10 rounds: the last writer in log order wins everywhere.
    for (let round = 0; round < 10; round++)
      clients.forEach((c, i) =>
        c.send({ event: 'ws:m:event-batch', data: Array.from({ length: 20 }, (_, k) => ({ itemType: 'Fader', changeType: 'SET', item: { id: `f${k}`, by: i, round } })) }),
      );
    await until(() => clients.every((c) => liveResult(c, 'all').size === 20 && [...liveResult(c, 'all').values()].every((x) => x.round === 9)), 15_000, 'all rounds everywhere');
    await sleep(300);
    const views = clients.map((c) => JSON.stringify([...liveResult(c, 'all').values()].sort((a, b) => (a.id < b.id ? -1 : 1)).map((x) => [x.id, x.by, x.round])));
    assert.equal(views[1], views[0]);
    assert.equal(views[2], views[0]);
    // Server items: one per live member.
    clients[0]!.send({ event: 'ws:m:query', data: { queryId: 'GetAllServers', queryItemType: 'Server', query: { tx: 'srv' } } });
    await until(() => liveResult(clients[0]!, 'srv').size === 3, 5000, 'three Server items');
    for (const s of liveResult(clients[0]!, 'srv').values()) assert.ok(s.port > 0 && s.version && s.startedAt && s.address);
    await Promise.all(clients.map((c) => c.close()));
  } finally {
    await stopAll(ms);
  }
});

/** A login role without superuser or pg_read_all_stats (idempotent: roles outlive the test schema), and a URL that uses it. */
async function plainRole(name: string, setup: string[] = []): Promise<string> {
  const c = new pg.Client({ connectionString: db!.url });
  await c.connect();
  try {
    await c.query(`DO $$ BEGIN CREATE ROLE ${name} LOGIN NOSUPERUSER; EXCEPTION WHEN duplicate_object THEN NULL; END $$`);
    for (const q of setup) await c.query(q);
  } finally {
    await c.end();
  }
  const u = new URL(db!.url);
  u.username = name;
  return u.toString();
}

test('an event whose transaction commits after a later one is applied, before it, on every member', async (t) => {
  if (!db) return t.skip('no PostgreSQL');
  // Members and the foreign writer run as different plain roles, as a reference server sharing the
  // database would: a member cannot see the writer's xact_start in pg_stat_activity, and must still wait.
  const database = new URL(db.url).pathname.slice(1);
  const memberUrl = await plainRole('myko_test_member', [`GRANT CREATE ON DATABASE "${database}" TO myko_test_member`]);
  // A schema of its own, created (and so owned) by the member role.
  const own = (await testPostgres())!;
  t.after(() => own.drop());
  const env = { MYKO_POSTGRES_URL: memberUrl, MYKO_POSTGRES_SCHEMA: own.schema };
  const ms = [await member(env), await member(env)];
  const foreignUrl = await plainRole('myko_test_foreign', [
    `GRANT USAGE ON SCHEMA "${own.schema}" TO myko_test_foreign`,
    `GRANT SELECT, INSERT ON "${own.schema}".myko_events TO myko_test_foreign`,
    `GRANT USAGE ON ALL SEQUENCES IN SCHEMA "${own.schema}" TO myko_test_foreign`,
  ]);
  const a = new pg.Client({ connectionString: foreignUrl });
  const b = new pg.Client({ connectionString: foreignUrl });
  // A reporting session idle in a read-only transaction: it holds no transaction id and must not stall the members.
  const idle = new pg.Client({ connectionString: db.url });
  await a.connect();
  await b.connect();
  await idle.connect();
  try {
    await idle.query('BEGIN');
    await idle.query('SELECT count(*) FROM pg_class');
    const watchers = await Promise.all(ms.map((m) => TestClient.connect(m.url)));
    for (const w of watchers) w.send({ event: 'ws:m:query', data: { queryId: 'GetAllCues', queryItemType: 'Cue', query: { tx: 'cues' } } });
    await Promise.all(watchers.map((w) => w.next(resp('cues'))));
    const row = (label: string) => [
      'Cue', 'late', 'SET', '2026-01-01T00:00:00Z', label, 'foreign-writer',
      JSON.stringify({ itemType: 'Cue', changeType: 'SET', item: { id: 'late', label }, createdAt: '2026-01-01T00:00:00Z', tx: label, sourceId: 'foreign-writer' }),
    ];
    const insert = `INSERT INTO "${own.schema}".myko_events (item_type, item_id, change_type, created_at, tx, source_id, event) VALUES ($1,$2,$3,$4,$5,$6,$7) RETURNING id`;
    // A writer that does not take the members' lock: A draws the lower id, B the higher one and commits first.
    await a.query('BEGIN');
    const idA = Number((await a.query(insert, row('first'))).rows[0].id);
    await b.query('BEGIN');
    const idB = Number((await b.query(insert, row('second'))).rows[0].id);
    await b.query('COMMIT');
    assert.ok(idB > idA);
    await sleep(700);
    for (const w of watchers) assert.equal(liveResult(w, 'cues').get('late'), undefined, 'nothing is applied past the open transaction');
    await a.query('COMMIT');
    for (const w of watchers) {
      await until(() => liveResult(w, 'cues').get('late')?.label === 'second', 5000, 'both events applied');
      // Both were seen, A's first: a diff with label 'first' arrives only if A was applied before B in a separate flush,
      // so check the order on the log position instead: the member's state ends with B's value and never regressed to A's.
      const labels = w.all('ws:m:query-response', 'cues').flatMap((f) => f.data.upserts.map((u: any) => u.item.label));
      assert.notEqual(labels.at(-1), 'first');
    }
    // A rolled-back id leaves a hole the members move past.
    await a.query('BEGIN');
    await a.query(insert, row('never'));
    await a.query('ROLLBACK');
    await b.query(insert, row('after-hole'));
    for (const w of watchers) await until(() => liveResult(w, 'cues').get('late')?.label === 'after-hole', 5000, 'moved past the hole');
    await Promise.all(watchers.map((w) => w.close()));
  } finally {
    await idle.query('ROLLBACK').catch(() => undefined);
    await idle.end();
    await a.end();
    await b.end();
    await stopAll(ms);
  }
});

test('boot read: a foreign transaction open below the table\'s end is waited for, and its row is in the loaded state', async (t) => {
  if (!db) return t.skip('no PostgreSQL');
  // The store a booting member opens (its migration done), read while another writer holds an id below the end.
  // Through a member this cannot be timed from outside: its migration (CREATE TRIGGER) waits for the open writer.
  const store = await PostgresEventStore.open({ url: db.url, schema: db.schema, serverId: 'boot-read-test' });
  const a = new pg.Client({ connectionString: db.url });
  const b = new pg.Client({ connectionString: db.url });
  await a.connect();
  await b.connect();
  try {
    const row = (id: string) => [
      'Cue', id, 'SET', '2026-01-01T00:00:00Z', id, 'foreign-writer',
      JSON.stringify({ itemType: 'Cue', changeType: 'SET', item: { id, label: id }, createdAt: '2026-01-01T00:00:00Z', tx: id, sourceId: 'foreign-writer' }),
    ];
    const insert = `INSERT INTO "${db.schema}".myko_events (item_type, item_id, change_type, created_at, tx, source_id, event) VALUES ($1,$2,$3,$4,$5,$6,$7) RETURNING id`;
    // A draws the lower id and stays open; B commits a higher one: the table's end is past A's id.
    await a.query('BEGIN');
    const idA = Number((await a.query(insert, row('boot-late'))).rows[0].id);
    const idB = Number((await b.query(insert, row('boot-after'))).rows[0].id);
    assert.ok(idB > idA);
    let loaded = false;
    const reading = store.loadCheckpoint().then((cp) => ((loaded = true), cp));
    await sleep(700);
    assert.equal(loaded, false, 'the boot read waits while a writer holds an id below its position');
    await a.query('COMMIT');
    const cp = await reading;
    assert.ok(cp.position >= idB);
    const ids = new Set([...cp.items].map((x) => x.item.id));
    assert.ok(ids.has('boot-after'));
    assert.ok(ids.has('boot-late'), 'the row committed late, below the position, is in the state');
  } finally {
    await a.query('ROLLBACK').catch(() => undefined);
    await a.end();
    await b.end();
    await store.close();
  }
});

test('a command for an executor on another member is routed there and answered back', async (t) => {
  if (!db) return t.skip('no PostgreSQL');
  const ms = [await member(), await member()];
  try {
    const executor = await TestClient.connect(ms[1]!.url);
    executor.ws.on('message', (raw: Buffer) => {
      const f = JSON.parse(raw.toString());
      if (f.event === 'ws:m:command' && f.data.commandId === 'ExecTargetAction')
        executor.send({ event: 'ws:m:command-response', data: { tx: f.data.command.tx, response: { ranOn: 'B', data: f.data.command.data } } });
    });
    const ev = (itemType: string, item: object) => ({ itemType, changeType: 'SET', item });
    executor.send({ event: 'ws:m:event-batch', data: [
      ev('Instance', { id: 'inst', name: 'I', serviceId: 's', serviceTypeCode: 'x' }),
      ev('Action', { id: 'go', name: 'Go', schema: { type: 'object', required: ['n'] }, targetId: 'tgt', serviceId: 's' }),
      ev('Target', { id: 'tgt', name: 'Target', serviceId: 's', actionIds: ['go'], emitterIds: [], bgColor: '#000', fgColor: '#fff' }),
      ev('TargetStatus', { targetId: 'tgt', instanceId: 'inst', status: 'online' }),
    ] });
    await executor.sync();
    const ctl = await TestClient.connect(ms[0]!.url);
    ctl.send({ event: 'ws:m:query', data: { queryId: 'GetAllTargetStatuss', queryItemType: 'TargetStatus', query: { tx: 'st' } } });
    await until(() => liveResult(ctl, 'st').get('inst:tgt')?.status === 'online', 5000, 'status replicated to A');
    ctl.send({ event: 'ws:m:command', data: { commandId: 'ExecTargetAction', command: { tx: 'x1', action: { id: 'go' }, data: { n: 1 } } } });
    const r = await ctl.next((f) => f.event === 'ws:m:command-response' && f.data.tx === 'x1', 5000);
    assert.deepEqual(r.data.response, { ranOn: 'B', data: { n: 1 } });
    ctl.send({ event: 'ws:m:command', data: { commandId: 'ExecTargetAction', command: { tx: 'x2', action: { id: 'go' }, data: {} } } });
    assert.equal((await ctl.next((f) => f.event === 'ws:m:command-error' && f.data.tx === 'x2', 5000)).data.code, 'RSHIP_BAD_PAYLOAD');

    // Pulses reach watchers on other members without entering the table.
    ctl.send({ event: 'ws:m:query', data: { queryId: 'GetAllPulses', queryItemType: 'Pulse', query: { tx: 'p' } } });
    await ctl.next(resp('p'));
    const pool = new pg.Pool({ connectionString: db.url });
    const count = () => pool.query(`SELECT count(*)::int AS n FROM "${db!.schema}".myko_events`).then((r) => r.rows[0].n as number);
    const before = await count();
    for (let i = 0; i < 20; i++) executor.send({ event: 'ws:m:event', data: { itemType: 'Pulse', changeType: 'SET', item: { emitterId: 'em', data: i } } });
    await until(() => liveResult(ctl, 'p').get('em')?.data === 19, 10_000, 'pulse on A');
    assert.equal(await count(), before);
    await pool.end();
    await executor.close();
    await ctl.close();
  } finally {
    await stopAll(ms);
  }
});

test('ownership: a member started after an executor registered its targets still refuses another client\'s writes to them', async (t) => {
  if (!db) return t.skip('no PostgreSQL');
  const ms = [await member()];
  try {
    const executor = await TestClient.connect(ms[0]!.url);
    const target = { id: 'owned-t', name: 'T', serviceId: 's', actionIds: [], emitterIds: [], bgColor: '#fff', fgColor: '#000' };
    executor.send({ event: 'ws:m:event', data: { itemType: 'Target', changeType: 'SET', item: target } });
    await executor.sync();
    // Started after the write: it learns the writer from the shared table at boot, not from a live event.
    ms.push(await member());
    const intruder = await TestClient.connect(ms[1]!.url);
    intruder.send({ event: 'ws:m:event', data: { itemType: 'Target', changeType: 'SET', tx: 'grab', item: { ...target, name: 'mine' } } });
    const refused = await intruder.next((f) => f.event === 'ws:m:error');
    assert.equal(refused.data.code, 'MYKO_FORBIDDEN');
    assert.match(refused.data.message, new RegExp(`belongs to client ${executor.clientId}`));
    intruder.send({ event: 'ws:m:event', data: { itemType: 'Target', changeType: 'DEL', tx: 'drop', item: { id: 'owned-t' } } });
    assert.equal((await intruder.next((f) => f.event === 'ws:m:error' && f !== refused)).data.code, 'MYKO_FORBIDDEN');
    // Once the executor is gone its claim lapses, on every member.
    await executor.close();
    const watcher = await TestClient.connect(ms[1]!.url);
    watcher.send({ event: 'ws:m:query', data: { queryId: 'GetAllClients', queryItemType: 'Client', query: { tx: 'cl' } } });
    await until(() => liveResult(watcher, 'cl').get(executor.clientId!) === undefined && watcher.all('ws:m:query-response', 'cl').length > 0, 10_000, 'the executor\'s Client item gone');
    intruder.send({ event: 'ws:m:event', data: { itemType: 'Target', changeType: 'SET', item: { ...target, name: 'mine' } } });
    await intruder.sync();
    watcher.send({ event: 'ws:m:query', data: { queryId: 'GetAllTargets', queryItemType: 'Target', query: { tx: 'tg' } } });
    await until(() => liveResult(watcher, 'tg').get('owned-t')?.name === 'mine', 5000, 'the lapsed target taken over');
    await Promise.all([intruder.close(), watcher.close()]);
  } finally {
    await stopAll(ms);
  }
});

test('kill -9 of a member: the others carry on, its executor goes offline, nothing committed is lost, a restart catches up', async (t) => {
  if (!db) return t.skip('no PostgreSQL');
  const ms = [await member(), await member(), await member()];
  try {
    const watcher = await TestClient.connect(ms[0]!.url);
    watcher.send({ event: 'ws:m:query', data: { queryId: 'GetAllTargetStatussByQuery', queryItemType: 'TargetStatus', query: { tx: 'st', instanceId: 'doomed' } } });
    watcher.send({ event: 'ws:m:query', data: { queryId: 'GetAllTicks', queryItemType: 'Tick', query: { tx: 'ticks' } } });
    await watcher.next(resp('ticks'));
    const exec = await TestClient.connect(ms[1]!.url);
    exec.send({ event: 'ws:m:event-batch', data: [
      { itemType: 'Instance', changeType: 'SET', item: { id: 'doomed', name: 'D', serviceId: 's', serviceTypeCode: 'x' } },
      { itemType: 'TargetStatus', changeType: 'SET', item: { targetId: 't', instanceId: 'doomed', status: 'online' } },
    ] });
    await until(() => liveResult(watcher, 'st').get('doomed:t')?.status === 'online', 5000, 'online');
    // Writers on all three.
    const writers = await Promise.all(ms.map((m) => TestClient.connect(m.url)));
    let n = 0;
    const write = () => writers.forEach((w, i) => w.ws.readyState === 1 && w.send({ event: 'ws:m:event', data: { itemType: 'Tick', changeType: 'SET', item: { id: `w${i}-${n}` } } }));
    for (; n < 20; n++) write();
    // Everything written so far is committed and seen (the watcher only sees committed events) before the kill.
    await until(() => liveResult(watcher, 'ticks').size >= 60, 10_000, 'the writes before the kill');
    ms[1]!.proc.kill('SIGKILL');
    await exited(ms[1]!.proc);
    const seenBeforeKill = liveResult(watcher, 'ticks').size;
    for (; n < 40; n++) write();
    await until(() => liveResult(watcher, 'st').get('doomed:t')?.status === 'offline', 12_000, 'executor targets offline after the kill');
    await until(() => [...liveResult(watcher, 'ticks').keys()].filter((k) => !k.startsWith('w1-')).length === 80, 10_000, 'the others carried on');
    assert.ok(seenBeforeKill >= 60);
    // Restarted: catches up before it serves.
    const again = await member();
    ms.push(again);
    const late = await TestClient.connect(again.url);
    late.send({ event: 'ws:m:query', data: { queryId: 'GetAllTicks', queryItemType: 'Tick', query: { tx: 'ticks' } } });
    const first = await late.next(resp('ticks'));
    assert.deepEqual(new Set(first.data.upserts.map((u: any) => u.item.id)), new Set(liveResult(watcher, 'ticks').keys()));
    await Promise.all([watcher.close(), late.close(), ...writers.filter((w) => w.ws.readyState === 1).map((w) => w.close())]);
  } finally {
    await stopAll(ms.filter((m) => m !== ms[1]));
  }
});

test('PostgreSQL restarted under load: writes fail clearly while it is down, members resume without loss or duplicates', async (t) => {
  if (!db) return t.skip('no PostgreSQL');
  const { execFile } = await import('node:child_process');
  const { existsSync, readdirSync } = await import('node:fs');
  if (!existsSync('/etc/postgresql')) return t.skip('pg_ctlcluster not available to restart PostgreSQL');
  const version = readdirSync('/etc/postgresql')[0]!;
  const ms = [await member(), await member()];
  try {
    const w = await TestClient.connect(ms[0]!.url);
    const watcher = await TestClient.connect(ms[1]!.url);
    watcher.send({ event: 'ws:m:query', data: { queryId: 'GetAllBeats', queryItemType: 'Beat', query: { tx: 'b' } } });
    await watcher.next(resp('b'));
    let batch = 0;
    let restarted = false;
    const ctlLog: string[] = [];
    const failed = new Set<string>();
    const codes: string[] = [];
    w.ws.on('message', (raw: Buffer) => {
      const f = JSON.parse(raw.toString());
      if (f.event === 'ws:m:error') codes.push(f.data.code);
      if (f.event === 'ws:m:error' && f.data.code === 'MYKO_STORE_FAILED') failed.add(f.data.tx);
    });
    const deadline = Date.now() + 25_000;
    while (Date.now() < deadline) {
      const tx = `batch-${batch}`;
      w.send({ event: 'ws:m:event-batch', data: Array.from({ length: 5 }, (_, k) => ({ itemType: 'Beat', changeType: 'SET', tx, item: { id: `${batch}-${k}` } })) });
      batch++;
      // Down for a while (writes meanwhile must fail), then up again.
      if (batch === 20) {
        // Stop (fast mode; retried if pg_ctlcluster refuses), stay down 4 s (longer than the pool's 2 s connect timeout), start again.
        const ctl = (action: string, then: (ok: boolean) => void) =>
          execFile('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', action, '-m', 'fast'].slice(0, action === 'stop' ? 6 : 4), (err, _o, stderr) => {
            ctlLog.push(`${action}: ${err ? `${err.message} ${stderr}` : 'ok'}`);
            then(!err);
          });
        const stop = (attempt: number) =>
          ctl('stop', (ok) => {
            if (!ok && attempt < 3) return void setTimeout(() => stop(attempt + 1), 300);
            setTimeout(() => ctl('start', () => (restarted = true)), 4000);
          });
        stop(1);
      }
      if (restarted && batch > 40 && failed.size > 0 && batch - [...failed].map((x) => Number(x.split('-')[1])).reduce((a, b) => Math.max(a, b)) > 15) break;
      await sleep(20);
    }
    assert.ok(restarted, 'PostgreSQL was restarted');
    // A member must ride out the outage, not die of it (a client error with no listener once killed one).
    for (const m of ms) assert.ok(m.proc.exitCode === null && m.proc.signalCode === null, `member on port ${m.port} exited during the outage (${m.proc.exitCode ?? m.proc.signalCode})`);
    assert.ok(failed.size > 0, `writes during the outage were refused with MYKO_STORE_FAILED (sent ${batch} batches; errors: ${codes.join(',') || 'none'}; ${ctlLog.join('; ')})`);
    const expectOk = Array.from({ length: batch }, (_, i) => `batch-${i}`).filter((tx) => !failed.has(tx));
    await until(() => expectOk.every((tx) => liveResult(watcher, 'b').has(`${tx.split('-')[1]}-4`)), 15_000, 'every acknowledged batch reached the other member');
    const check = new pg.Client({ connectionString: db.url });
    await check.connect();
    const dup = await check.query(`SELECT item_id, count(*)::int AS n FROM "${db.schema}".myko_events WHERE item_type = 'Beat' GROUP BY item_id HAVING count(*) > 1`);
    await check.end();
    assert.deepEqual(dup.rows, [], 'no event was written twice');
    // Reconnecting after the outage must not leak connections (2 members: pools of 8 and a LISTEN each).
    const probe = new pg.Client({ connectionString: db.url });
    await probe.connect();
    await sleep(1500); // time for a runaway reconnect loop to show
    const conns = (await probe.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database()`)).rows[0].n as number;
    await probe.end();
    assert.ok(conns < 40, `connections after recovery: ${conns}`);
    await w.close();
    await watcher.close();
  } finally {
    await stopAll(ms);
    // Whatever happened above, leave PostgreSQL running for the tests after this one.
    const { execFileSync } = await import('node:child_process');
    const ready = () => {
      try {
        execFileSync('pg_isready', ['-h', '127.0.0.1', '-q']);
        return true;
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 50 && !ready(); i++) {
      if (i % 10 === 0) execFile('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'start'], () => undefined);
      await sleep(200);
    }
  }
});

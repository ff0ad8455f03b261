/**
 * kill -9 under write load, many times (short: 3 rounds; soak: 50). Each
 * round starts the server as a child process on the same data directory and:
 *   - a writer sends `ws:m:event-batch` frames of B distinct FaultTick items,
 *     every event of a batch carrying the batch's tx;
 *   - a commander runs the built-in `CreateRestorePoint {name}` one after the
 *     other: a response means its RestorePoint event is committed;
 *   - a watcher holds a live count report (GetFaultTicksCount) and a live
 *     query of this round's ticks, and records what it has SEEN;
 * then the server (sqliteSync full and normal in turn) is killed with SIGKILL
 * at a random moment, and
 * `myko verify` must pass on what is left. After each restart (and in the log
 * at the end): every batch the watcher saw and every acknowledged restore
 * point is there, no batch is stored in part, the count never goes back, and
 * each round's stored batches are a prefix of what the writer sent.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { exited, sleep, spawnServer, tempDir } from '../testing/index.js';
import { alive, collectLog, machine, mykoVerify, readLog, scale, soak, stopServer } from './support.js';
import { RawSocket } from './raw-socket.js';

const rounds = scale(3, 50);
const B = 20; // events per batch

type Tick = { id: string; round: number; batch: number; j: number };

async function mykoSocket(url: string): Promise<RawSocket> {
  const s = await RawSocket.connect(url);
  await s.next((m) => m.event === 'ws:m:command' && m.data?.commandId === 'SetClientId');
  return s;
}

/** A one-off query on a fresh connection: the whole current result, by id. */
async function queryOnce(url: string, queryId: string, itemType: string, params: Record<string, unknown> = {}): Promise<Map<string, Record<string, unknown>>> {
  const s = await mykoSocket(url);
  try {
    s.send({ event: 'ws:m:query', data: { queryId, queryItemType: itemType, query: { tx: 'once', ...params } } });
    const r = await s.next((m) => m.event === 'ws:m:query-response' && m.data?.tx === 'once', 15_000);
    return new Map((r.data.upserts as { item: Record<string, unknown> & { id: string } }[]).map((u) => [u.item.id, u.item]));
  } finally {
    await s.close();
  }
}

async function reportOnce(url: string, reportId: string): Promise<number> {
  const s = await mykoSocket(url);
  try {
    s.send({ event: 'ws:m:report', data: { reportId, report: { tx: 'once' } } });
    return (await s.next((m) => m.event === 'ws:m:report-response' && m.data?.tx === 'once', 15_000)).data.response as number;
  } finally {
    await s.close();
  }
}

/** What one round saw and was told before the kill. */
interface RoundRecord {
  round: number;
  sent: number;
  seenTicks: Set<string>;
  seenCount: number;
  acked: Map<string, string>; // restore point id → name
  killAfterMs: number;
}

/** Every batch the watcher saw must be whole, and so must every batch stored. */
function batchesOf(ticks: Iterable<Tick>): Map<string, number> {
  const out = new Map<string, number>();
  for (const t of ticks) out.set(`${t.round}/${t.batch}`, (out.get(`${t.round}/${t.batch}`) ?? 0) + 1);
  return out;
}

/** After a restart: everything a past round saw or was acknowledged is served. */
async function checkSurvived(url: string, records: RoundRecord[], context: string): Promise<void> {
  const points = await queryOnce(url, 'GetAllRestorePoints', 'RestorePoint');
  const count = await reportOnce(url, 'GetFaultTicksCount');
  for (const r of records) {
    const ticks = await queryOnce(url, 'GetFaultTicksByQuery', 'FaultTick', { round: r.round });
    const missing = [...r.seenTicks].filter((id) => !ticks.has(id));
    assert.deepEqual(missing.slice(0, 10), [], `${context}: round ${r.round}: ${missing.length} ticks the watcher saw are gone`);
    for (const [batch, n] of batchesOf(ticks.values() as Iterable<Tick>)) assert.equal(n, B, `${context}: batch ${batch} stored in part (${n} of ${B})`);
    for (const [id, name] of r.acked) assert.equal(points.get(id)?.name, name, `${context}: round ${r.round}: acknowledged restore point ${name} is gone`);
  }
  const last = records.at(-1);
  if (last) assert.ok(count >= last.seenCount, `${context}: count ${count} after the restart < ${last.seenCount} seen before the kill`);
}

async function oneRound(dataDir: string, round: number, records: RoundRecord[]): Promise<RoundRecord> {
  // Both durability modes: `normal` must survive a process kill too (README), only not power loss.
  const server = await spawnServer({ dataDir, env: { MYKO_SQLITE_SYNC: round % 2 === 0 ? 'full' : 'normal' } });
  const log = collectLog(server.proc);
  await checkSurvived(server.url, records, `round ${round} start`);

  const watcher = await mykoSocket(server.url);
  watcher.send({ event: 'ws:m:report', data: { reportId: 'GetFaultTicksCount', report: { tx: 'count' } } });
  watcher.send({ event: 'ws:m:query', data: { queryId: 'GetFaultTicksByQuery', queryItemType: 'FaultTick', query: { tx: 'ticks', round } } });
  await watcher.next((m) => m.event === 'ws:m:query-response' && m.data?.tx === 'ticks');
  const writer = await mykoSocket(server.url);
  const commander = await mykoSocket(server.url);

  const rec: RoundRecord = { round, sent: 0, seenTicks: new Set(), seenCount: 0, acked: new Map(), killAfterMs: 0 };
  let running = true;
  const pump = (async () => {
    while (running && writer.open) {
      if (writer.ws.bufferedAmount < 64 * 1024) {
        const n = rec.sent++;
        const tx = `r${round}-b${n}`;
        writer.send({
          event: 'ws:m:event-batch',
          data: Array.from({ length: B }, (_, j) => ({ itemType: 'FaultTick', changeType: 'SET', item: { id: `r${round}-b${n}-e${j}`, round, batch: n, j }, tx })),
        });
      }
      await sleep(1);
    }
  })();
  const commands = (async () => {
    for (let i = 0; running && commander.open; i++) {
      const tx = `rp-${round}-${i}`;
      const name = `fault-r${round}-c${i}`;
      commander.send({ event: 'ws:m:command', data: { commandId: 'CreateRestorePoint', command: { tx, name } } });
      const m = await commander.next((f) => (f.event === 'ws:m:command-response' || f.event === 'ws:m:command-error') && f.data?.tx === tx, 30_000).catch(() => undefined);
      if (!m) break; // the server died
      assert.equal(m.event, 'ws:m:command-response', `CreateRestorePoint failed: ${JSON.stringify(m)}`);
      rec.acked.set(m.data.response.id as string, name);
    }
  })();

  // Under load: some batches seen and some commands acknowledged, then a kill at a random moment.
  const deadline = Date.now() + 15_000;
  const seenBatches = () => watcher.messages.filter((m) => m.event === 'ws:m:query-response' && m.data?.tx === 'ticks' && m.data.upserts.length > 0).length;
  while ((seenBatches() < 3 || rec.acked.size < 1) && Date.now() < deadline) await sleep(2);
  assert.ok(seenBatches() >= 3 && rec.acked.size >= 1, `round ${round}: writes and commands went through before the kill (seen ${seenBatches()}, acked ${rec.acked.size})`);
  rec.killAfterMs = Math.floor(Math.random() * 400);
  await sleep(rec.killAfterMs);
  assert.ok(alive(server.proc), `round ${round}: the server is alive until killed: ${JSON.stringify(log.lines.slice(-5))}`);
  server.proc.kill('SIGKILL');
  await exited(server.proc);
  running = false;
  // Closed: every frame the dead server managed to send has been read, so what was seen is final.
  await Promise.all([watcher.closed, writer.closed, commander.closed]);
  await Promise.all([pump, commands]);

  for (const m of watcher.messages) {
    if (m.event === 'ws:m:report-response' && m.data?.tx === 'count') rec.seenCount = Math.max(rec.seenCount, m.data.response as number);
    if (m.event === 'ws:m:query-response' && m.data?.tx === 'ticks') {
      const ticks = (m.data.upserts as { item: Tick }[]).map((u) => u.item);
      // A live diff carries whole batches: a batch is committed, and so seen, all at once.
      for (const [batch, n] of batchesOf(ticks)) assert.equal(n, B, `round ${round}: the watcher saw part of batch ${batch} (${n} of ${B})`);
      for (const t of ticks) rec.seenTicks.add(t.id);
    }
  }
  assert.deepEqual(
    log.lines.filter((l) => l.level >= 50),
    [],
    `round ${round}: the server logged errors before the kill`,
  );
  const v = mykoVerify(dataDir);
  assert.equal(v.status, 0, `round ${round}: myko verify after kill -9: ${v.output}`);
  return rec;
}

test(`kill -9 under write load, ${rounds} rounds: every batch seen and every acknowledged command survives; no half batch; myko verify passes each time`, { timeout: soak ? 3_600_000 : 60_000 }, async () => {
  const dataDir = tempDir('myko-fault-kill9-');
  const t0 = Date.now();
  try {
    const records: RoundRecord[] = [];
    for (let round = 0; round < rounds; round++) records.push(await oneRound(dataDir, round, records));

    // A last start: everything is there; a clean stop; the log checked row by row.
    const server = await spawnServer({ dataDir });
    await checkSurvived(server.url, records, 'final start');
    assert.equal(await stopServer(server.proc), 0, 'a clean stop');
    const v = mykoVerify(dataDir);
    assert.equal(v.status, 0, `myko verify at the end: ${v.output}`);

    const rows = readLog(dataDir, 'FaultTick');
    const ticks = rows.map((r) => ({ ...(JSON.parse(r.event) as { item: Tick }).item, tx: r.tx }));
    assert.equal(new Set(ticks.map((t) => t.id)).size, ticks.length, 'no event stored twice');
    for (const t of ticks) assert.equal(t.tx, `r${t.round}-b${t.batch}`, 'each event carries its batch tx');
    const logged = new Set(ticks.map((t) => t.id));
    let stored = 0;
    for (const r of records) {
      const perBatch = batchesOf(ticks.filter((t) => t.round === r.round));
      for (const [batch, n] of perBatch) assert.equal(n, B, `batch ${batch}: ${n} of ${B} events in the log`);
      const batches = [...perBatch.keys()].map((k) => Number(k.split('/')[1])).sort((a, b) => a - b);
      assert.deepEqual(batches, Array.from({ length: batches.length }, (_, i) => i), `round ${r.round}: the stored batches are a prefix of those sent`);
      assert.ok(batches.length <= r.sent);
      const lost = [...r.seenTicks].filter((id) => !logged.has(id));
      assert.deepEqual(lost.slice(0, 10), [], `round ${r.round}: ${lost.length} ticks the watcher saw are not in the log`);
      stored += batches.length;
    }
    const points = readLog(dataDir, 'RestorePoint').map((r) => r.item_id);
    for (const r of records) for (const id of r.acked.keys()) assert.ok(points.includes(id), `restore point ${id} in the log`);
    const seen = records.reduce((a, r) => a + r.seenTicks.size / B, 0);
    const acked = records.reduce((a, r) => a + r.acked.size, 0);
    console.log(
      `kill -9: ${rounds} rounds survived with zero loss: ${stored} batches stored (${seen} seen by the watcher before a kill, ` +
        `${records.reduce((a, r) => a + r.sent, 0)} sent), ${acked} acknowledged restore points all kept, myko verify passed ${rounds + 1} times; ` +
        `kill delays ${records.map((r) => r.killAfterMs).join(',')} ms; ${((Date.now() - t0) / 1000).toFixed(1)} s; ${machine()}`,
    );
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});


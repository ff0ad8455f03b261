#!/usr/bin/env node
// Cluster mode: events/s through 3 members sharing PostgreSQL, the time from a
// write on member A to its diff on member B, and the boot of a new member from a
// large table, each beside a baseline measured in the same run (raw inserts; a
// bare LISTEN/NOTIFY round trip; the boot's DISTINCT ON read from a bare client).
//   node bench/cluster.mjs   (MYKO_TEST_POSTGRES_URL or the local server)
import pg from 'pg';
import WebSocket from 'ws';
import { machineLine, pct, startServer, stopServer, writeSection } from './section.mjs';

const url = process.env.MYKO_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `myko_bench_${process.pid}`;
const EVENTS = Number(process.env.BENCH_CLUSTER_EVENTS ?? 60_000);
const ROUNDS = Number(process.env.BENCH_CLUSTER_ROUNDS ?? 1020);
const BOOT_EVENTS = Number(process.env.BENCH_CLUSTER_BOOT_EVENTS ?? 1_000_000);
const BOOT_ITEMS = Number(process.env.BENCH_CLUSTER_BOOT_ITEMS ?? 100_000);
const admin = new pg.Client({ connectionString: url });
await admin.connect();
const members = [];
const cleanup = async () => {
  for (const m of members) await stopServer(m).catch(() => undefined);
  await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
  await admin.end().catch(() => undefined);
};
process.on('SIGINT', () => void cleanup().then(() => process.exit(1)));

const connect = (u) =>
  new Promise((resolve, reject) => {
    const ws = new WebSocket(u);
    ws.once('error', reject);
    ws.on('message', (raw) => {
      const f = JSON.parse(raw.toString());
      if (f.event === 'ws:m:command' && f.data.commandId === 'SetClientId') resolve(ws);
    });
  });

try {
  for (let i = 0; i < 3; i++) members.push(await startServer([], { MYKO_POSTGRES_URL: url, MYKO_POSTGRES_SCHEMA: schema, MYKO_LOG_LEVEL: 'info' }));

  // Throughput: one writer per member, 256-event batches, until a watcher on every member counts them all.
  const watchers = await Promise.all(members.map((m) => connect(m.url)));
  const counts = watchers.map(() => 0);
  watchers.forEach((w, i) => {
    w.on('message', (raw) => {
      const f = JSON.parse(raw.toString());
      if (f.event === 'ws:m:report-response') counts[i] = f.data.response;
    });
    w.send(JSON.stringify({ event: 'ws:m:report', data: { reportId: 'GetTicksCount', report: { tx: 'n' } } }));
  });
  const writers = await Promise.all(members.map((m) => connect(m.url)));
  const per = Math.floor(EVENTS / 3 / 256) * 256;
  const total = per * 3;
  const t0 = performance.now();
  writers.forEach((w, wi) => {
    let sent = 0;
    const pump = () => {
      while (sent < per && w.bufferedAmount < 1 << 20) {
        const batch = Array.from({ length: 256 }, (_, k) => ({ itemType: 'Tick', changeType: 'SET', item: { id: `m${wi}-${sent + k}`, payload: 'x'.repeat(64) } }));
        w.send(JSON.stringify({ event: 'ws:m:event-batch', data: batch }));
        sent += 256;
      }
      if (sent < per) setTimeout(pump, 5);
    };
    pump();
  });
  while (counts.some((c) => c < total)) {
    if (performance.now() - t0 > 240_000) throw new Error(`cluster ingest stalled at ${counts}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const clusterMs = performance.now() - t0;

  // Baselines: the rows the members stored (read back from the log, as the SQLite baseline of bench/run.mjs
  // reads the server's), inserted straight, 256 per statement, by one client:
  // - `raw_events`: into a table of the same layout with the same indexes (the like-for-like baseline);
  // - `raw_bare`: the same rows into a heap table without indexes (what the indexes cost PostgreSQL itself;
  //   before, this bench's only baseline was synthetic rows without their identity into such a table).
  const stored = (
    await admin.query(
      `SELECT item_type, item_id, change_type, created_at, tx, source_id, event::text AS event FROM "${schema}".myko_events WHERE item_type = 'Tick' ORDER BY id`,
    )
  ).rows;
  await admin.query(`CREATE TABLE "${schema}".raw_events (LIKE "${schema}".myko_events INCLUDING ALL)`);
  await admin.query(`CREATE TABLE "${schema}".raw_bare (LIKE "${schema}".myko_events INCLUDING DEFAULTS)`);
  const rawInsert = async (table) => {
    const r0 = performance.now();
    for (let i = 0; i < stored.length; i += 256) {
      const slice = stored.slice(i, i + 256);
      await admin.query(
        `INSERT INTO "${schema}".${table} (item_type, item_id, change_type, created_at, tx, source_id, event)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[], $7::jsonb[])`,
        ['item_type', 'item_id', 'change_type', 'created_at', 'tx', 'source_id', 'event'].map((c) => slice.map((r) => r[c])),
      );
    }
    return performance.now() - r0;
  };
  const rawMs = await rawInsert('raw_events');
  const bareMs = await rawInsert('raw_bare');
  // Latency: a SET on A, until its diff arrives on B; beside it, in the same loop (one round of each in
  // turn, so the machine's noise falls on all three alike), two round trips through PostgreSQL alone:
  // - the baseline, a NOTIFY on one connection to a LISTEN on another (no durable write: a
  //   transaction that only notifies writes no WAL to flush);
  // - the floor of "committed before applied": one row INSERTed and NOTIFY sent in one transaction,
  //   committed durably (synchronous_commit on, PostgreSQL's default), to the LISTEN. A→B pays that
  //   commit on A before B hears of the event; the plain NOTIFY does not.
  const a = await connect(members[0].url);
  const b = await connect(members[1].url);
  let resolveDiff;
  b.on('message', (raw) => {
    const f = JSON.parse(raw.toString());
    if (f.event === 'ws:m:query-response' && f.data.sequence > 0) resolveDiff?.();
  });
  b.send(JSON.stringify({ event: 'ws:m:query', data: { queryId: 'GetAllProbes', queryItemType: 'Probe', query: { tx: 'p' } } }));
  const listener = new pg.Client({ connectionString: url });
  await listener.connect();
  await listener.query(`LISTEN bench_${process.pid}`);
  let resolveNote;
  listener.on('notification', () => resolveNote?.());
  await admin.query(`CREATE TABLE "${schema}".notify_floor (id bigserial PRIMARY KEY, v text NOT NULL)`);
  await new Promise((r) => setTimeout(r, 300));
  const lat = [];
  const base = [];
  const floor = [];
  const timed = async (into, i, send) => {
    const s = performance.now();
    await send();
    if (i >= 20) into.push(performance.now() - s);
  };
  for (let i = 0; i < ROUNDS; i++) {
    await timed(lat, i, () => {
      const got = new Promise((r) => (resolveDiff = r));
      a.send(JSON.stringify({ event: 'ws:m:event', data: { itemType: 'Probe', changeType: 'SET', item: { id: 'p', i } } }));
      return got;
    });
    await timed(base, i, () => {
      const got = new Promise((r) => (resolveNote = r));
      return Promise.all([got, admin.query(`SELECT pg_notify('bench_${process.pid}', $1)`, [String(i)])]);
    });
    await timed(floor, i, () => {
      const got = new Promise((r) => (resolveNote = r));
      const commit = admin.query(
        `WITH row AS (INSERT INTO "${schema}".notify_floor (v) VALUES ($1) RETURNING id) SELECT pg_notify('bench_${process.pid}', id::text) FROM row`,
        ['x'.repeat(300)],
      );
      return Promise.all([got, commit]);
    });
  }
  await listener.end();
  for (const ws of [...watchers, ...writers, a, b]) ws.close();

  // Boot of a new member from a large table: BOOT_EVENTS more events (BOOT_ITEMS items, several events each),
  // written server-side in SQL, then a 4th member started; it serves only once state is loaded and caught up.
  await admin.query(
    `INSERT INTO "${schema}".myko_events (item_type, item_id, change_type, created_at, tx, source_id, event)
     SELECT 'Big', 'b' || (g % $2), 'SET', now(), 't' || g, 'bench',
            jsonb_build_object('itemType', 'Big', 'changeType', 'SET', 'createdAt', '2026-01-01T00:00:00.000Z', 'tx', 't' || g, 'sourceId', 'bench',
                               'item', jsonb_build_object('id', 'b' || (g % $2), 'n', g, 'payload', repeat('x', 64)))
     FROM generate_series(1, $1) AS g`,
    [BOOT_EVENTS, BOOT_ITEMS],
  );
  await admin.query(`VACUUM ANALYZE "${schema}".myko_events`);
  const tableRows = Number((await admin.query(`SELECT count(*) AS n FROM "${schema}".myko_events`)).rows[0].n);
  // Baseline: the boot's own read (the latest event per item, DISTINCT ON over the index) run by a bare client.
  const q0 = performance.now();
  const latest = await admin.query(`SELECT DISTINCT ON (item_type, item_id) event FROM "${schema}".myko_events ORDER BY item_type, item_id, id DESC`);
  const readMs = performance.now() - q0;
  const fourth = await startServer([], { MYKO_POSTGRES_URL: url, MYKO_POSTGRES_SCHEMA: schema, MYKO_LOG_LEVEL: 'info' });
  members.push(fourth);
  const bootMs = fourth.readyMs;

  const eps = total / (clusterMs / 1000);
  const rawEps = stored.length / (rawMs / 1000);
  const bareEps = stored.length / (bareMs / 1000);
  const md = `
## Cluster: 3 members on PostgreSQL

Machine: ${machineLine()}; PostgreSQL on the same 2 cores. Command: \`node bench/cluster.mjs\`.

| measure | Myko cluster | baseline | ratio |
| --- | ---: | ---: | ---: |
| events/s, 3 writers (one per member), 256-event batches, until every member has applied all ${total.toLocaleString('en')} | ${Math.round(eps).toLocaleString('en')} | raw INSERTs of the rows the members stored, 256 per statement, into a table with the log's indexes: ${Math.round(rawEps).toLocaleString('en')} | ${(eps / rawEps).toFixed(2)} |
| the same, baseline without indexes | | into a heap table without indexes: ${Math.round(bareEps).toLocaleString('en')} | ${(eps / bareEps).toFixed(2)} |
| write on A → diff on B, p50 / p99 (${ROUNDS - 20} rounds) | ${pct(lat, 50).toFixed(2)} / ${pct(lat, 99).toFixed(2)} ms | NOTIFY → LISTEN round trip: ${pct(base, 50).toFixed(2)} / ${pct(base, 99).toFixed(2)} ms | ${(pct(lat, 50) / pct(base, 50)).toFixed(1)} / ${(pct(lat, 99) / pct(base, 99)).toFixed(1)} |
| the same | | the floor: a row INSERTed and NOTIFY sent in one durably committed transaction → LISTEN: ${pct(floor, 50).toFixed(2)} / ${pct(floor, 99).toFixed(2)} ms | ${(pct(lat, 50) / pct(floor, 50)).toFixed(1)} / ${(pct(lat, 99) / pct(floor, 99)).toFixed(1)} |

Boot of a 4th member from a table of ${tableRows.toLocaleString('en')} events (${latest.rows.length.toLocaleString('en')} items): **${(bootMs / 1000).toFixed(2)} s** from spawn to serving (process start, migration check, state from the table, catch-up); the bare \`DISTINCT ON\` read of the latest event per item from a plain client takes ${(readMs / 1000).toFixed(2)} s (ratio ${(bootMs / readMs).toFixed(1)}).

The raw INSERTs replay the ${stored.length.toLocaleString('en')} rows the members stored (with their identity, as stored), from one client; the second line inserts the same rows into a table without indexes. (Before 2026-12-06 the baseline inserted smaller synthetic rows, without their identity, into a table without indexes: 110,776/s in the quiet run of that day.)

A→B includes A's durable commit (under the cluster's append lock), the NOTIFY, B's read of the new rows and its diff. Measured from the client on A to the client on B, so it is an upper bound of the servers' share. The three round trips are measured in one loop, one of each in turn. The plain NOTIFY commits nothing durable; the floor's transaction does, as A's append must before B may apply the event (committed before applied), so its tail is the disk's flush.
`;
  console.log(md);
  writeSection('cluster', md);
} finally {
  await cleanup();
}

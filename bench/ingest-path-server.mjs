// The ingest scenario's second floor: a server that does only what the durable log needs, through
// Myko's own store path, measured by bench/run.mjs with the same clients as Myko.
//
// Per frame it parses the clients' `ws:m:event-batch`, hashes each item and identifies each event with
// the server's own functions (core/hash.ts, core/identity.ts), and queues the batch; one group commit at a
// time goes through the server's SQLite store on its store thread (the same encoding, hop, statements and
// fsync as `myko serve`); after each commit it sends the count to the watchers of `GetBenchsCount`.
// There is no validation, no state, no checkpoint, no live query machinery, no metrics and no
// acknowledgement: whatever Myko spends beyond this server is what those cost. It accepts the
// arguments bench/run.mjs gives `myko serve` that matter here, and answers /health.
import http from 'node:http';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { WebSocketServer } from 'ws';
import { root } from './section.mjs';

const dist = (p) => import(path.join(root, 'packages/server/dist', p));
const { SqliteEventStore } = await dist('store/sqlite/index.js');
const { IdentityTracker, EVENT_DHASH, EVENT_DHASH_OF } = await dist('core/identity.js');
const { hashItem, lastDataHash } = await dist('core/hash.js');

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const store = new SqliteEventStore({ dataDir: arg('data-dir'), sync: arg('sqlite-sync', 'full') });
await store.preallocateWal();
// As `myko serve`: the connection on its own thread, unless `--sqlite-thread off`.
if (arg('sqlite-thread', process.env.MYKO_SQLITE_THREAD ?? 'on') !== 'off') await store.useThread();
const identity = new IdentityTracker(store.serverId);
let position = await store.lastPosition();
let count = 0;
const watchers = new Set();
/** Submissions (a frame's events each) waiting for the next group commit. */
const queue = [];
let committing = false;
const MAX_BATCH = 10_000;

/** The event normalisation makes of a client's SET, without the checks (core/normalize.ts). */
function event(raw, clientId) {
  const item = hashItem(raw.item, true);
  const dHash = lastDataHash();
  return {
    itemType: raw.itemType,
    changeType: raw.changeType,
    item,
    createdAt: raw.createdAt ?? new Date().toISOString(),
    tx: raw.tx || randomUUID(),
    sourceId: raw.sourceId || store.serverId,
    [EVENT_DHASH]: dHash,
    [EVENT_DHASH_OF]: item,
    clientId,
  };
}

const report = () => `{"event":"ws:m:report-response","data":{"tx":"r","response":${count}}}`;

/** One commit at a time; whatever arrives meanwhile goes into the next (whole submissions, up to MAX_BATCH events). */
async function commit() {
  if (committing) return;
  committing = true;
  try {
    while (queue.length > 0) {
      let n = 0;
      let k = 0;
      while (k < queue.length && (k === 0 || n + queue[k].length <= MAX_BATCH)) n += queue[k++].length;
      const events = queue.splice(0, k).flat();
      const staged = identity.stage(events);
      const stored = await store.append(events);
      identity.commit(staged);
      position = stored.at(-1)?.position ?? position;
      count += events.length;
      const text = report();
      for (const w of watchers) w.send(text);
    }
  } finally {
    committing = false;
  }
}

const server = http.createServer((req, res) => {
  res.writeHead(req.url === '/health' ? 200 : 404, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ status: 'ok', position }));
});
const wss = new WebSocketServer({ server, path: '/myko', perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
wss.on('connection', (ws) => {
  const clientId = randomUUID();
  ws.on('message', (data) => {
    const frame = JSON.parse(data.toString());
    if (frame.event === 'ws:m:event-batch') {
      queue.push(frame.data.map((raw) => event(raw, clientId)));
      setImmediate(commit);
    } else if (frame.event === 'ws:m:report' && frame.data?.reportId === 'GetBenchsCount') {
      watchers.add(ws);
      ws.send(report());
    }
  });
  ws.on('close', () => watchers.delete(ws));
});
server.listen(Number(arg('port')), arg('host', '127.0.0.1'));

process.on('SIGTERM', async () => {
  while (committing || queue.length > 0) await new Promise((r) => setTimeout(r, 5));
  wss.close();
  server.close();
  await store.close();
  process.exit(0);
});

/**
 * Fuzzing the HTTP side of the one port: the `/api/*` routes, `/health*`,
 * `/metrics`, the dashboard's static files, and the WebSocket handshake
 * (upgrade headers, subprotocols, `?dialect=`, `?access_token=`), with
 * generated raw requests written straight to a TCP socket, against a server
 * child process.
 *
 * For every request: the server answers with a well-formed HTTP status line
 * and never with a 5xx other than 503 (a 500 would be a bug of ours caught by
 * a guard), or closes the socket; the process stays up and logs no error.
 * After each batch a valid client still works (readiness, a WebSocket write
 * read back through a query), and at the end `myko verify` passes.
 *
 * Short: 600 requests from a fixed seed; soak (MYKO_SOAK=1): 20,000 from a
 * random one (printed; MYKO_FUZZ_SEED=N replays it).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { connect } from 'node:net';
import fc from 'fast-check';
import { spawnServer, tempDir, TestClient } from '../testing/index.js';
import { alive, collectLog, mykoVerify, scale, soak, stopServer } from './support.js';

const total = scale(600, 20_000);
const batchSize = 40;
const seed = Number(process.env.MYKO_FUZZ_SEED ?? (soak ? Math.floor(Math.random() * 2 ** 31) : 20_261_202));
const dataDir = tempDir('myko-fault-http-fuzz-');
let server: Awaited<ReturnType<typeof spawnServer>>;
let log: ReturnType<typeof collectLog>;

before(async () => {
  console.log(`http fuzz: seed ${seed} (MYKO_FUZZ_SEED=${seed} replays it), ${total} requests${soak ? ' (soak)' : ''}`);
  server = await spawnServer({ dataDir, env: { MYKO_MAX_MESSAGES_PER_SECOND: '100000' } });
  log = collectLog(server.proc);
});
after(() => {
  if (server && alive(server.proc)) server.proc.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

// ---- generated requests --------------------------------------------------------------------------

const word = fc.oneof(
  fc.constantFrom('GetAllCues', 'Cue', 'Target', 'id', 'name', 'asc', 'desc', '..', '.', '%', '%2F', '%ZZ', '%ff', '%00', '\u00e9', '\ud800'),
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 8 }),
  fc.integer({ min: -1e12, max: 1e12 }).map(String),
  fc.constantFrom('x'.repeat(5000), '['.repeat(300), '{"a":'.repeat(100)),
);
const enc = (s: string) => {
  try {
    return encodeURIComponent(s);
  } catch {
    return escape(s); // a lone surrogate: its raw %uD800 form, itself bad input
  }
};
const segment = fc.oneof(word.map(enc), word.map((w) => w.replace(/[^\x21-\x7e]/g, '')));
const path = fc.tuple(
  fc.constantFrom('/api/history', '/api/items', '/api/events', '/api/stats', '/api/verify', '/api', '/api/', '/health', '/health/live', '/health/ready', '/health/x', '/metrics', '/', '/index.html', '/assets', '/myko', '/models', '/eventrpc', '//', '/..%2f..%2fetc%2fpasswd'),
  fc.array(segment, { maxLength: 4 }),
).map(([p, segs]) => [p, ...segs].join('/').replace(/\/{3,}/g, '//'));
const param = fc.tuple(fc.constantFrom('sort', 'dir', 'offset', 'limit', 'where', 'types', 'itemType', 'access_token', 'dialect', 'asOf', 'x'), word).map(([k, v]) => `${k}=${enc(v)}`);
const target = fc.tuple(path, fc.array(param, { maxLength: 5 })).map(([p, ps]) => (ps.length ? `${p}?${ps.join('&')}` : p));
const method = fc.constantFrom('GET', 'GET', 'GET', 'POST', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'BREW', 'get');
const headerValue = fc.oneof(word.map((w) => w.replace(/[\r\n]/g, '')), fc.constantFrom('websocket', 'Upgrade', '13', '8', 'dGhlIHNhbXBsZSBub25jZQ==', 'short', 'Bearer x.y.z', 'Bearer ', 'myko.seed', 'myko.current, myko.seed', 'chat'));
const headerName = fc.constantFrom('Upgrade', 'Connection', 'Sec-WebSocket-Key', 'Sec-WebSocket-Version', 'Sec-WebSocket-Protocol', 'Sec-WebSocket-Extensions', 'Authorization', 'Content-Type', 'Content-Length', 'Accept', 'Origin', 'X-Junk');
/** A WebSocket handshake with every header present, some of them wrong. */
const upgradeHeaders = fc.record({
  Upgrade: fc.constantFrom('websocket', 'WebSocket', 'h2c', ''),
  Connection: fc.constantFrom('Upgrade', 'keep-alive, Upgrade', 'close'),
  'Sec-WebSocket-Key': fc.constantFrom('dGhlIHNhbXBsZSBub25jZQ==', 'bad', ''),
  'Sec-WebSocket-Version': fc.constantFrom('13', '8', 'x'),
  'Sec-WebSocket-Protocol': fc.constantFrom('myko.seed', 'myko.current', 'chat', 'myko.seed, myko.current', ''),
  Authorization: fc.constantFrom('Bearer x.y.z', 'Basic Zm9vOmJhcg==', 'Bearer', ''),
});
const body = fc.oneof(fc.constant(''), fc.json(), fc.string({ maxLength: 200 }), fc.constant('{"a":'.repeat(2000)));

type Req = { label: string; bytes: Buffer };
const request: fc.Arbitrary<Req> = fc.oneof(
  { weight: 5, arbitrary: fc.tuple(method, target, fc.array(fc.tuple(headerName, headerValue), { maxLength: 6 }), body).map(([m, t, hs, b]) => ({
    label: 'request',
    bytes: Buffer.from(`${m} ${t} HTTP/1.1\r\nHost: x\r\n${hs.map(([k, v]) => `${k}: ${v}\r\n`).join('')}${b ? `Content-Length: ${Buffer.byteLength(b)}\r\n` : ''}Connection: close\r\n\r\n${b}`),
  })) },
  { weight: 3, arbitrary: fc.tuple(target, upgradeHeaders).map(([t, hs]) => ({
    label: 'handshake',
    bytes: Buffer.from(`GET ${t} HTTP/1.1\r\nHost: x\r\n${Object.entries(hs).filter(([, v]) => v !== '').map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`),
  })) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 2000 }).map((b) => ({ label: 'garbage', bytes: Buffer.from(b) })) },
  { weight: 1, arbitrary: fc.tuple(method, fc.constantFrom(100_000, 70_000)).map(([m, n]) => ({ label: 'huge', bytes: Buffer.from(`${m} /api/items/${'a'.repeat(n)} HTTP/1.1\r\nHost: x\r\n\r\n`) })) },
);

// ---- one request on its own socket ---------------------------------------------------------------

/** Send raw bytes, return the status code of the first response line (or why there was none). */
function send(bytes: Buffer): Promise<{ status?: number; line?: string; closed?: string }> {
  return new Promise((resolve) => {
    const sock = connect(server.port, '127.0.0.1');
    let buf = '';
    let done = false;
    const finish = (r: { status?: number; line?: string; closed?: string }) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    // An event stream (SSE) or an accepted WebSocket stays open: the status line is all we need.
    const timer = setTimeout(() => finish({ closed: buf ? `timeout after ${JSON.stringify(buf.slice(0, 80))}` : 'timeout' }), 10_000);
    sock.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n');
      if (end < 0) return;
      const line = buf.slice(0, end);
      const m = /^HTTP\/1\.1 (\d{3}) /.exec(line);
      finish(m ? { status: Number(m[1]), line } : { line });
    });
    sock.on('error', (err: NodeJS.ErrnoException) => finish({ closed: err.code ?? err.message }));
    sock.on('close', () => finish({ closed: 'closed' }));
    sock.write(bytes);
  });
}

test('fuzz HTTP routes and the WebSocket handshake: well-formed answers, never a 500, the server stays up and keeps serving', { timeout: soak ? 3_600_000 : 120_000 }, async () => {
  const valid = await TestClient.connect(`ws://127.0.0.1:${server.port}/myko`);
  valid.send({ event: 'ws:m:query', data: { queryId: 'GetAllProbes', queryItemType: 'Probe', query: { tx: 'probes' } } });
  // Found by this fuzzer: a request target of '//' made `new URL` throw in the server's request and upgrade handlers.
  for (const extra of ['', 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n'])
    assert.equal((await send(Buffer.from(`GET // HTTP/1.1\r\nHost: x\r\n${extra}\r\n`))).status, 400);
  const statuses: Record<string, number> = {};
  let sent = 0;
  for (let batch = 0; sent < total; batch++) {
    const reqs = fc.sample(request, { seed: seed + batch, numRuns: Math.min(batchSize, total - sent) });
    const logFrom = log.lines.length;
    // Two at a time: a fuzzer that exhausts the 2 cores tests the machine, not the server.
    for (let i = 0; i < reqs.length; i += 2) {
      const pair = reqs.slice(i, i + 2);
      const answers = await Promise.all(pair.map((r) => send(r.bytes)));
      answers.forEach((a, k) => {
        const r = pair[k]!;
        const what = `batch ${batch} (seed ${seed}) ${r.label}: ${JSON.stringify(r.bytes.subarray(0, 200).toString('latin1'))}`;
        const key = a.status !== undefined ? String(a.status) : a.line !== undefined ? 'no status line' : a.closed!;
        statuses[key] = (statuses[key] ?? 0) + 1;
        if (a.status !== undefined) assert.ok(a.status < 500 || a.status === 503, `${what}: answered ${a.line}`);
        else assert.equal(a.line, undefined, `${what}: a response that is not HTTP/1.1: ${a.line}`);
        assert.ok(a.closed !== 'timeout', `${what}: no answer within 10 s`);
      });
      sent += pair.length;
    }
    assert.ok(alive(server.proc), `batch ${batch}: the server exited`);
    assert.deepEqual(log.lines.slice(logFrom).filter((l) => typeof l.level === 'number' && l.level >= 50), [], `batch ${batch}: the server logged errors`);
    // A valid client still works: readiness, and a write read back through its live query.
    assert.equal((await send(Buffer.from('GET /health/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'))).status, 200);
    valid.send({ event: 'ws:m:event', data: { itemType: 'Probe', changeType: 'SET', item: { id: `p${batch}` } } });
    await valid.next((f) => f.event === 'ws:m:query-response' && f.data.tx === 'probes' && f.data.upserts.some((u: any) => u.item.id === `p${batch}`));
  }
  console.log(`http fuzz: ${sent} requests; answers ${JSON.stringify(statuses)}`);
  // Most requests reached a route and were answered, rather than all bouncing off the parser.
  const answered = Object.entries(statuses).filter(([k]) => /^\d+$/.test(k)).reduce((a, [, n]) => a + n, 0);
  assert.ok(answered > sent / 2, `only ${answered} of ${sent} requests got an HTTP answer`);
  await valid.close();
  assert.equal(await stopServer(server.proc), 0);
  const v = mykoVerify(dataDir);
  assert.equal(v.status, 0, v.output);
});

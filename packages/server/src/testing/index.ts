/**
 * Test support: a real server on a real port with a throwaway data directory,
 * and a small WebSocket client that records frames and waits for them. No
 * mocks: tests talk to the server exactly as clients do.
 */
import { before, after } from 'node:test';
import { cpSync, createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import { tmpdir } from 'node:os';
import { makeSnapshotDigest, segmentHash } from '../store/sqlite/checkpoint.js';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Socket } from 'node:net';
import { tcpSocketOf } from './json-client.js';
import WebSocket from 'ws';
import { Encoder } from 'cbor-x';
import { MykoServer, type MykoServerOptions } from '../server.js';

/**
 * Every directory tempDir made in this process, removed when the process exits (each test file runs in
 * a process of its own), so the suite leaves nothing behind: the read-ahead tests' logs alone were
 * 230 MB of the temp directory per run, on machines whose disk is sometimes nearly full.
 */
const madeDirs = new Set<string>();

/** A new empty directory for one test's data, removed at the end of the test file's process. */
export function tempDir(prefix = 'myko-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (madeDirs.size === 0) process.once('exit', () => madeDirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  madeDirs.add(dir);
  return dir;
}

/** A snapshot entry as store/sqlite/checkpoint.ts saves it: `item` null for a deleted item. */
export type SnapshotEntry = [itemType: string, id: string, item: Record<string, unknown> | null, pids: string[]];

/**
 * Edit the saved snapshot's entries in place (each segment of myko_snapshot parsed, edited, written back).
 * `consistent`: also rewrite each segment's hash and the checkpoint digest, as someone who knew the format
 * would: a change then only a comparison with the log can find. `edit` returns the entries to keep.
 */
export function editSnapshot(db: Database.Database, edit: (entries: SnapshotEntry[]) => SnapshotEntry[], opts: { consistent?: boolean } = {}): void {
  const rows = db.prepare(`SELECT seq, body FROM myko_snapshot ORDER BY seq`).all() as { seq: number; body: string }[];
  for (const r of rows) {
    const body = JSON.stringify(edit(JSON.parse(r.body) as SnapshotEntry[]));
    if (opts.consistent) db.prepare(`UPDATE myko_snapshot SET body = ?, hash = ? WHERE seq = ?`).run(body, segmentHash(body).toString('hex'), r.seq);
    else db.prepare(`UPDATE myko_snapshot SET body = ? WHERE seq = ?`).run(body, r.seq);
  }
  if (opts.consistent) db.prepare(`UPDATE myko_meta SET value = ? WHERE key = 'checkpoint_digest'`).run(makeSnapshotDigest(db)());
}

/** A copy of a (stopped) server's data directory, its database edited by `edit`: for tests of what verify and boot find. */
export function tamperedCopy(dir: string, edit: (db: Database.Database) => void): string {
  const copy = tempDir();
  cpSync(dir, copy, { recursive: true });
  const db = new Database(join(copy, 'myko.db'));
  try {
    edit(db);
  } finally {
    db.close();
  }
  return copy;
}

export interface TestServer {
  server: MykoServer;
  dataDir: string;
  url: string;
  /** Stop and remove the data directory. */
  close(): Promise<void>;
}

/** An in-process server on port 0 with its own temporary data directory. */
export async function startTestServer(opts: MykoServerOptions & { dataDir?: string; keepData?: boolean } = {}): Promise<TestServer> {
  const dataDir = opts.dataDir ?? tempDir();
  const server = await MykoServer.start({
    ...opts,
    config: { port: 0, host: '127.0.0.1', logLevel: 'silent', ...opts.config, dataDir },
  });
  return {
    server,
    dataDir,
    url: server.url(),
    close: async () => {
      await server.stop();
      if (!opts.keepData && !opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

const cbor = new Encoder({ useRecords: false, mapsAsObjects: true });

export type AnyFrame = { event: string; data: any; tx?: string };

/** A raw protocol client: sends frames, records every frame received, waits for matches. */
export class TestClient {
  readonly frames: AnyFrame[] = [];
  readonly raw: (string | Buffer)[] = [];
  clientId: string | undefined;
  private waiters: { pred: (f: AnyFrame) => boolean; resolve: (f: AnyFrame) => void; from: number }[] = [];
  closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const frame = (isBinary ? cbor.decode(data) : JSON.parse(data.toString())) as AnyFrame;
      this.raw.push(isBinary ? data : data.toString());
      if (frame.event === 'ws:m:command' && frame.data?.commandId === 'SetClientId') this.clientId = frame.data.command.clientId;
      this.frames.push(frame);
      for (const w of [...this.waiters]) if (w.pred(frame)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(frame);
      }
    });
    this.closed = new Promise((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
  }

  static async connect(url: string, opts: { protocols?: string[]; waitForId?: boolean } = {}): Promise<TestClient> {
    const ws = new WebSocket(url, opts.protocols);
    const c = new TestClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    if (opts.waitForId !== false) await c.next((f) => f.event === 'ws:m:command' && f.data?.commandId === 'SetClientId');
    return c;
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  sendCbor(frame: unknown): void {
    this.ws.send(cbor.encode(frame));
  }

  /** The first frame (already received or future) matching `pred`, counting from frame index `from`. */
  next(pred: (f: AnyFrame) => boolean, timeoutMs = 3000, from = 0): Promise<AnyFrame> {
    for (let i = from; i < this.frames.length; i++) if (pred(this.frames[i]!)) return Promise.resolve(this.frames[i]!);
    return new Promise((resolve, reject) => {
      const w = { pred, resolve: (f: AnyFrame) => (clearTimeout(t), resolve(f)), from };
      const t = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for a frame; got: ${JSON.stringify(this.frames.slice(-5), (_k, v) => (typeof v === 'bigint' ? `${v}n` : v))}`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  /** Wait for a frame received after this call. */
  nextNew(pred: (f: AnyFrame) => boolean, timeoutMs = 3000): Promise<AnyFrame> {
    return this.next(pred, timeoutMs, this.frames.length);
  }

  /** The client's TCP socket (tcpSocketOf). */
  get socket(): Socket {
    return tcpSocketOf(this.ws);
  }

  /** The text of the `ws:m:query-response` of query `tx` with `sequence` received so far, as it came. */
  rawQueryResponse(tx: string, sequence: number): string | undefined {
    const start = '{"event":"ws:m:query-response","data":{"tx":' + JSON.stringify(tx) + ',"sequence":' + sequence + ',';
    return this.raw.find((r): r is string => typeof r === 'string' && r.startsWith(start));
  }

  /** Frames of kind `event` (and tx, when given) received so far. */
  all(event: string, tx?: string): AnyFrame[] {
    return this.frames.filter((f) => f.event === event && (tx === undefined || f.data?.tx === tx || f.tx === tx));
  }

  /** Round trip a ping: everything the server sent before its echo has arrived. */
  async sync(): Promise<void> {
    const id = Math.random().toString(36).slice(2);
    this.send({ event: 'ws:m:ping', data: { id, timestamp: Date.now() } });
    await this.next((f) => f.event === 'ws:m:ping' && f.data?.id === id);
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close();
    await this.closed;
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll `cond` every 20 ms until it holds; after `ms`, fail naming `what`. */
export async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(20);
  }
}

/**
 * The current result of a live query (or, with `event: 'ws:m:view-response'`, a view) as a client holds
 * it: rebuilt from its responses, a sequence 0 starting over; `from` skips the frames received before it.
 */
export function liveResult(c: TestClient, tx: string, opts: { event?: string; from?: number } = {}): Map<string, any> {
  const event = opts.event ?? 'ws:m:query-response';
  const m = new Map<string, any>();
  for (const f of c.frames.slice(opts.from ?? 0)) {
    if (f.event !== event || f.data?.tx !== tx) continue;
    if (f.data.sequence === 0) m.clear();
    for (const u of f.data.upserts) m.set(u.item.id, u.item);
    for (const id of f.data.deletes) m.delete(id);
  }
  return m;
}

const cliPath = fileURLToPath(new URL('../cli.js', import.meta.url));

/** Children spawned by this test process: killed when it exits, so a failed or interrupted test leaves no server behind. */
const spawned = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of spawned) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

/** The server as a child process (for kill -9 and restart tests). Resolves once it listens. */
export async function spawnServer(opts: { dataDir: string; port?: number; env?: Record<string, string> }): Promise<{ proc: ChildProcess; port: number; url: string }> {
  const proc = spawn(process.execPath, [cliPath, 'serve', '--port', String(opts.port ?? 0), '--host', '127.0.0.1', '--data-dir', opts.dataDir], {
    env: { ...process.env, MYKO_LOG_LEVEL: 'info', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  spawned.add(proc);
  proc.once('exit', () => spawned.delete(proc));
  // MYKO_TEST_LOG_DIR keeps every child's log lines (one file per child) for a failure seen only in a full run.
  if (process.env.MYKO_TEST_LOG_DIR) {
    const sink = createWriteStream(join(process.env.MYKO_TEST_LOG_DIR, `server-${process.pid}-${proc.pid}.log`));
    proc.stdout!.on('data', (d: Buffer) => sink.write(d));
    proc.stderr!.on('data', (d: Buffer) => sink.write(d));
    proc.once('exit', () => sink.end());
  }
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 15000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /"url":"ws:\/\/[^:]+:(\d+)\/myko"/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(Number(m[1]));
      }
    });
    proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    // Clear the start timeout too: left running, it kept a test process alive 15 s after a failed start.
    proc.once('exit', (code) => (clearTimeout(t), reject(new Error(`server exited with ${code}: ${out}`))));
  });
  return { proc, port, url: `ws://127.0.0.1:${port}/myko` };
}

export function exited(proc: ChildProcess): Promise<number | null> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(proc.exitCode);
  return new Promise((r) => proc.once('exit', (code) => r(code)));
}


/**
 * PostgreSQL for cluster tests: `MYKO_TEST_POSTGRES_URL` (default the local
 * trust-auth server) and a fresh schema per call, dropped by `drop()`.
 * Without a reachable server the caller skips with a loud message, except
 * under CI=true, where this throws: cluster tests must run in CI.
 */
export async function testPostgres(): Promise<{ url: string; schema: string; drop(): Promise<void> } | undefined> {
  const url = process.env.MYKO_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
  } catch (err) {
    if (process.env.CI === 'true') throw new Error(`PostgreSQL at ${url} is required under CI=true: ${(err as Error).message}`);
    console.warn(`\n!!! SKIPPING PostgreSQL tests: cannot reach ${url} (${(err as Error).message}). Set MYKO_TEST_POSTGRES_URL. !!!\n`);
    return undefined;
  }
  await client.end();
  const schema = `myko_t_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  return {
    url,
    schema,
    drop: async () => {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await c.end();
    },
  };
}

/**
 * The two stores a behaviour is tested on: SQLite, and PostgreSQL in a fresh schema made before the
 * file's tests and dropped after them (this registers those hooks). `opts()` is undefined when
 * PostgreSQL is not reachable (outside CI: the test skips).
 */
export function storeBackends(): { name: 'SQLite' | 'PostgreSQL'; opts(): MykoServerOptions | undefined }[] {
  let db: Awaited<ReturnType<typeof testPostgres>>;
  before(async () => {
    db = await testPostgres();
  });
  after(async () => {
    await db?.drop();
  });
  return [
    { name: 'SQLite', opts: () => ({}) },
    { name: 'PostgreSQL', opts: () => (db ? { config: { postgresUrl: db.url, postgresSchema: db.schema } } : undefined) },
  ];
}

/** A TCP proxy whose link can die without FIN or RST (fault/silent-proxy.ts). */
export { SilentProxy } from '../fault/silent-proxy.js';
export { connectMcp, callTool, mcpUrl, type ToolOutcome } from './mcp-client.js';
export { reactionTestPlugin } from './reaction-plugin.js';

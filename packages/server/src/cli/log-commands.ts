import { accessSync, constants, createReadStream, createWriteStream, existsSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { Writable } from 'node:stream';
import type { ServerConfig } from '../config.js';
import type { EventStore, NewEvent } from '../store/event-store.js';
import { SqliteEventStore } from '../store/sqlite/index.js';
import { verifyLog } from '../log/verify.js';
import { progressBar } from './progress.js';

/**
 * The store a CLI command works on: the cluster's PostgreSQL when a URL is
 * configured (members may keep running), else the data directory (stop its
 * server first: one process per data directory). `readOnly` (verify): the data
 * directory's lock is taken with a write transaction held open, so nothing
 * writes while the command's own threads read it too (store/sqlite/open.ts); a
 * server still cannot open it meanwhile, nor it one a server has open.
 */
export async function openStore(config: ServerConfig, readOnly = false): Promise<EventStore> {
  if (config.postgresUrl)
    // Loaded only for a cluster's store: the PostgreSQL client is not what a data directory needs.
    return (await import('../store/postgres/index.js')).PostgresEventStore.open({ url: config.postgresUrl, schema: config.postgresSchema, serverId: config.serverId || 'myko-cli' });
  return new SqliteEventStore({ dataDir: config.dataDir, sync: config.sqliteSync, ...(readOnly ? { lock: 'write' as const } : {}) });
}

/**
 * Run `myko verify|history|export|import` and return its exit code. Only
 * import may create a store, and only once its input is known to be readable;
 * the others on a data directory without one (a typo in --data-dir) fail
 * instead of verifying, listing or exporting a brand-new empty log.
 */
export async function runLogCommand(cmd: string, args: string[], values: Record<string, unknown>, config: ServerConfig): Promise<number> {
  const say = (message: string) => (process.stderr.write(`myko ${cmd}: ${message}\n`), 1);
  const dir = resolve(config.dataDir);
  const sqlite = !config.postgresUrl;
  const dirExisted = existsSync(dir);
  if (cmd === 'import') {
    if (typeof values.in !== 'string') return process.stderr.write('myko import: --in FILE is required\nsee: myko import --help\n'), 2;
    try {
      accessSync(values.in, constants.R_OK);
      if (!statSync(values.in).isFile()) return say(`--in ${values.in} is not a file`);
    } catch (err) {
      return say(`cannot read --in ${values.in}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  } else if (sqlite && !existsSync(join(dir, 'myko.db'))) {
    return say(
      `no store in ${dir} (${dirExisted ? 'no myko.db there' : 'no such directory'}): check --data-dir / MYKO_DATA_DIR` +
        (config.dataDir === './data' ? ' (the default is ./data, relative to the working directory)' : ''),
    );
  }
  let store: EventStore;
  try {
    store = await openStore(config, cmd === 'verify');
  } catch (err) {
    return say((err as Error).message);
  }
  let code = 1;
  try {
    if (cmd === 'verify') code = await runVerify(store, process.stdout);
    else if (cmd === 'history') code = await runHistory(store, args[0]!, args[1]!, values.json === true, process.stdout);
    else if (cmd === 'export') code = await runExport(store, values.out as string | undefined, process.stdout);
    else code = await runImport(store, values.in as string, process.stdout);
  } catch (err) {
    say((err as Error).message);
  } finally {
    await store.close();
  }
  // A failed import into a directory it created leaves nothing behind (it holds only the empty store).
  if (cmd === 'import' && code !== 0 && sqlite && !dirExisted) rmSync(dir, { recursive: true, force: true });
  return code;
}

/** `myko verify`: exit 0 when every event checks out, 1 with the first failure otherwise. */
export async function runVerify(store: EventStore, out: Writable): Promise<number> {
  const bar = progressBar('verify');
  const result = await verifyLog(store, { onProgress: (d, t) => bar.update(d, t) });
  bar.end();
  if (result.ok) {
    out.write(`ok: ${result.checked} events verified in ${result.ms} ms (last position ${result.lastPosition})\n`);
    return 0;
  }
  const f = result.failure!;
  out.write(
    `MISMATCH at position ${f.position}` +
      (f.itemType ? ` (${f.itemType} ${f.itemId}${f.eventId ? `, event ${f.eventId}` : ''})` : '') +
      `: ${f.reason}\n${result.checked} events before it verified\n`,
  );
  return 1;
}

/** `myko history ITEMTYPE ID`: one line per event, oldest first; `--json` prints the stored events. */
export async function runHistory(store: EventStore, itemType: string, id: string, json: boolean, out: Writable): Promise<number> {
  const events = await store.readHistory(itemType, id);
  if (events.length === 0) {
    out.write(`no events for ${itemType} ${id}\n`);
    return 1;
  }
  for (const e of events) {
    if (json) out.write(JSON.stringify(e) + '\n');
    else out.write(`${e.position}\t${e.createdAt}\t${e.changeType}\t${e.identity?._id.slice(0, 12) ?? '-'}\t${e.changeType === 'SET' ? JSON.stringify(e.item) : ''}\n`);
  }
  return 0;
}

/** `myko export [--out FILE]`: the whole log as NDJSON, one stored event per line, in order. */
export async function runExport(store: EventStore, file: string | undefined, out: Writable): Promise<number> {
  const sink: Writable = file ? createWriteStream(file) : out;
  const total = await store.lastPosition();
  const bar = progressBar('export');
  let after = 0;
  let n = 0;
  for (;;) {
    const events = await store.readAfter(after, 5000);
    if (events.length === 0) break;
    const text = events.map((e) => JSON.stringify(e)).join('\n') + '\n';
    if (!sink.write(text)) await new Promise((r) => sink.once('drain', r));
    after = events[events.length - 1]!.position;
    n += events.length;
    bar.update(n, total);
  }
  bar.end();
  if (file) await new Promise<void>((resolve, reject) => sink.end((err?: Error | null) => (err ? reject(err) : resolve())));
  process.stderr.write(`exported ${n} events\n`);
  return 0;
}

/** A line or a verification that makes the whole import fail. */
class ImportFailed extends Error {}

/**
 * `myko import --in FILE`: into an empty store only, keeping every event's
 * identity (ids, parents, source, chain), then verified as a whole. All or
 * nothing: the appends and the verification run inside `store.atomically`, so
 * a bad line, a failed append or a log that does not verify leaves the store
 * empty and the import can simply be run again.
 */
export async function runImport(store: EventStore, file: string, out: Writable): Promise<number> {
  if ((await store.lastPosition()) > 0) {
    out.write('import needs an empty store: this data directory already has events\n');
    return 1;
  }
  const total = statSync(file).size;
  const atomically = store.atomically?.bind(store) ?? (<T>(fn: () => Promise<T>) => fn());
  let n = 0;
  try {
    return await atomically(async () => {
      const input = createReadStream(file);
      const lines = createInterface({ input, crlfDelay: Infinity });
      const bar = progressBar('import', { unit: 'bytes' });
      let batch: NewEvent[] = [];
      let lineNo = 0;
      for await (const line of lines) {
        lineNo++;
        if (line.trim() === '') continue;
        let e: NewEvent & { position?: number };
        try {
          e = JSON.parse(line) as NewEvent & { position?: number };
        } catch (err) {
          throw new ImportFailed(`line ${lineNo}: not JSON: ${(err as Error).message}`);
        }
        delete e.position;
        batch.push(e);
        if (batch.length >= 5000) {
          await store.append(batch);
          n += batch.length;
          batch = [];
          // bytesRead runs ahead of the lines handed out by at most one read chunk.
          bar.update(input.bytesRead, total);
        }
      }
      if (batch.length > 0) await store.append(batch);
      n += batch.length;
      bar.update(total, total);
      bar.end();
      out.write(`imported ${n} events\n`);
      const code = await runVerify(store, out);
      if (code !== 0) throw new ImportFailed('the imported log does not verify');
      return code;
    });
  } catch (err) {
    out.write(`import failed: ${(err as Error).message}\nnothing imported: the store is left empty\n`);
    return 1;
  }
}

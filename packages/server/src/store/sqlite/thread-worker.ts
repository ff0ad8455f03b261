import { parentPort, workerData } from 'node:worker_threads';
import { openDatabase, type OpenOptions } from './open.js';
import { makeStoreOps, type StoreOp } from './ops.js';
import { checkpointWalOffCommitPath } from './wal-checkpoint.js';
import { WriteSlot } from './write-slot.js';

/**
 * The store thread (thread.ts starts it): while the server serves, it runs the store's calls on a
 * connection of its own, so the inserts, the checkpoint's segments and the fsync of every batch's
 * commit run beside the event loop instead of on it. Calls are answered one at a time, in the order sent: SQLite has one writer anyway,
 * and the writer sends one append at a time.
 *
 * Its connection is the process's second one (`lock: 'shared'`): the server's own stays open for the
 * small appends it makes itself while this thread is idle (index.ts), and counts the rows it writes in
 * `callerChanges`, so the WAL checkpoints run here see every row written.
 */
export interface ThreadInit {
  open: OpenOptions;
  /** One BigInt64: rows the caller's connection has written (Atomics.add there, Atomics.load here). */
  callerChanges: SharedArrayBuffer;
  /** write-slot.ts: the caller's appends and this thread's WAL checkpoints never run at once. */
  writeSlot: SharedArrayBuffer;
}
export type ThreadRequest = { id: number; op: StoreOp | 'close'; args: unknown[] };
export type ThreadReply = { id: number; value?: unknown; error?: { message: string; code?: string } };

const port = parentPort!;
const init = workerData as ThreadInit;
let opened: ReturnType<typeof openDatabase>;
try {
  opened = openDatabase(init.open);
} catch (err) {
  port.postMessage({ id: 0, error: describe(err) } satisfies ThreadReply);
  process.exit(0);
}
const { db } = opened;
const ops = makeStoreOps(db);
const callerChanges = new BigInt64Array(init.callerChanges);
const slot = new WriteSlot(init.writeSlot);
checkpointWalOffCommitPath(db, {
  otherChanges: () => Number(Atomics.load(callerChanges, 0)),
  // An append on the caller's connection is one small commit: 20 ms is far past one, even a slow fsync.
  exclusive: { take: () => slot.takeForCheckpoint(20), release: () => slot.releaseCheckpoint() },
});
port.postMessage({ id: 0, value: 'ready' } satisfies ThreadReply);

port.on('message', (req: ThreadRequest) => {
  let reply: ThreadReply;
  try {
    if (req.op === 'close') {
      if (db.open) db.close();
      reply = { id: req.id, value: undefined };
    } else reply = { id: req.id, value: (ops[req.op] as (...a: unknown[]) => unknown)(...req.args) };
  } catch (err) {
    reply = { id: req.id, error: describe(err) };
  }
  port.postMessage(reply);
  if (req.op === 'close') port.close();
});

function describe(err: unknown): { message: string; code?: string } {
  const code = (err as { code?: unknown }).code;
  return { message: (err as Error)?.message ?? String(err), ...(typeof code === 'string' ? { code } : {}) };
}

import type { Db } from './open.js';
import { makeAppendRows } from './append.js';
import { makeCountHistory, makeLastPosition, makeReadAfterRows, makeReadHistoryRows, makeReadRawAfter, makeReadRawColumnsAfter, makeReadTxRows } from './read.js';
import { makeCheckpointClaims, makeLoadCheckpoint, makeReadHead, makeSaveCheckpoint } from './checkpoint.js';
import type { StoreClaims } from '../event-store.js';
import { preallocateWal } from './wal-prealloc.js';

/**
 * Every statement the store runs, at the level of rows and text: what goes in is already encoded and
 * what comes out is not parsed. The same functions run on the server's thread (SqliteEventStore alone)
 * or on the store thread (thread-worker.ts), which then owns the connection; only strings and numbers
 * cross between the two.
 */
export function makeStoreOps(db: Db) {
  const head = makeReadHead(db);
  const checkpointClaims = makeCheckpointClaims(db);
  const statements = new Map<string, ReturnType<Db['prepare']>>();
  const statement = (sql: string) => {
    let s = statements.get(sql);
    if (!s) statements.set(sql, (s = db.prepare(sql)));
    return s;
  };
  return {
    append: makeAppendRows(db),
    readAfter: makeReadAfterRows(db),
    readHistory: makeReadHistoryRows(db),
    readTx: makeReadTxRows(db),
    countHistory: makeCountHistory(db),
    lastPosition: makeLastPosition(db),
    readRawAfter: makeReadRawAfter(db),
    readRawColumnsAfter: makeReadRawColumnsAfter(db),
    loadCheckpoint: makeLoadCheckpoint(db),
    saveCheckpoint: makeSaveCheckpoint(db),
    claims: (opts?: { digest?: boolean }): StoreClaims => {
      const h = head();
      const checkpoint = checkpointClaims(opts?.digest ?? true);
      return { ...(h ? { head: h } : {}), ...(checkpoint ? { checkpoint } : {}) };
    },
    /** Before serving writes, wherever the connection then lives (wal-prealloc.ts). */
    preallocateWal: (): number => preallocateWal(db),
    /** Side tables beside the log (reactions/cursor-store.ts); statements are prepared once per text. */
    sql: (mode: SqlMode, sql: string, params: readonly unknown[] = []): unknown => {
      if (mode === 'exec') return void db.exec(sql);
      // Parameters are whatever the caller binds; better-sqlite3 checks them.
      const s = statement(sql) as unknown as Record<'run' | 'get' | 'all', (...a: readonly unknown[]) => unknown>;
      const p = params;
      return mode === 'run' ? void s.run(...p) : mode === 'get' ? s.get(...p) : s.all(...p);
    },
  };
}

export type SqlMode = 'exec' | 'run' | 'get' | 'all';
export type StoreOps = ReturnType<typeof makeStoreOps>;
export type StoreOp = keyof StoreOps;

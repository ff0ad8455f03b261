import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { joinTexts } from './joined-texts.js';
import { makeReadAfterRows } from './read.js';

/**
 * The read-ahead thread of a boot's replay (read-ahead.ts starts it): it reads the log's rows in
 * order through a read-only connection of its own and sends them on, a few chunks ahead of the
 * event loop, which parses and reduces them meanwhile. SQLite's own reading (the B-tree walk and the
 * copy of each row's text into a JavaScript string) was a third of a replay's time on one thread.
 *
 * Each chunk crosses as the rows' positions and their texts joined into one string (joined-texts.ts:
 * one copy, no object per row). At most `ahead` chunks are unanswered: the event loop asks for the
 * next one as it takes one, so a slow reducer holds a bounded number of rows in memory.
 */
export interface ReadAheadInit {
  file: string;
  /** Rows with after < position ≤ upTo, in order. */
  after: number;
  upTo: number;
  chunk: number;
  ahead: number;
}
export type ReadAheadChunk = { positions: Float64Array; texts: string; count: number; done: boolean } | { error: string };

const port = parentPort!;
const init = workerData as ReadAheadInit;
let credit = init.ahead;
let after = init.after;
let done = false;

try {
  const db = new Database(init.file, { readonly: true, fileMustExist: true });
  const readAfter = makeReadAfterRows(db);
  const pump = (): void => {
    try {
      while (credit > 0 && !done) {
        const rows = readAfter(after, init.chunk, { upTo: init.upTo });
        const count = rows.length;
        const positions = new Float64Array(count);
        const texts = new Array<string>(count);
        for (let i = 0; i < count; i++) {
          positions[i] = rows[i]!.id;
          texts[i] = rows[i]!.event;
        }
        if (count > 0) after = positions[count - 1]!;
        done = count < init.chunk || after >= init.upTo;
        credit--;
        port.postMessage({ positions, texts: joinTexts(texts), count, done } satisfies ReadAheadChunk, [positions.buffer as ArrayBuffer]);
      }
      if (done) db.close();
    } catch (err) {
      port.postMessage({ error: (err as Error).message } satisfies ReadAheadChunk);
    }
  };
  port.on('message', () => {
    credit++;
    pump();
  });
  pump();
} catch (err) {
  port.postMessage({ error: (err as Error).message } satisfies ReadAheadChunk);
}

import { Worker } from 'node:worker_threads';
import type { StoredEvent } from '../event-store.js';
import { StoreError } from '../event-store.js';
import { splitTexts } from './joined-texts.js';
import { parseEvent } from './read.js';
import type { ReadAheadChunk, ReadAheadInit } from './read-ahead-worker.js';

/** Chunks the read-ahead thread may hold ready beyond the one being reduced. */
const AHEAD = 3;

/**
 * The events with `after` < position ≤ `upTo` of the log in `file`, in order, in chunks of at most
 * `chunk`, read on a thread of its own (read-ahead-worker.ts) while the caller parses and reduces the
 * chunks before them. For a boot's replay of a long log: on the 1M-event bench log the read alone took
 * a third of a one-thread replay. The file must not change meanwhile below `upTo` (a log only grows, and
 * nothing writes while a server boots).
 *
 * Ending the iteration early (break, throw) stops the thread. A row that does not parse fails the
 * iteration with its position, as a replay on one thread fails on it. If the thread cannot read (it
 * failed to open the file, or died), `rest` gives the events after the last chunk yielded: the replay
 * goes on on the caller's connection, as it would without a thread.
 */
export async function* readAhead(
  file: string,
  after: number,
  upTo: number,
  chunk: number,
  rest: (after: number) => AsyncIterable<StoredEvent[]>,
): AsyncGenerator<StoredEvent[]> {
  const worker = new Worker(new URL('./read-ahead-worker.js', import.meta.url), {
    workerData: { file, after, upTo, chunk, ahead: AHEAD } satisfies ReadAheadInit,
  });
  const ready: ReadAheadChunk[] = [];
  let failed = false;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  worker.on('message', (m: ReadAheadChunk) => {
    ready.push(m);
    notify();
  });
  const fail = () => {
    failed = true;
    notify();
  };
  worker.on('error', fail);
  worker.on('exit', fail);
  try {
    for (;;) {
      while (ready.length === 0 && !failed) await new Promise<void>((r) => (wake = r));
      const m = ready.shift();
      if (m === undefined || 'error' in m) break; // the thread could not read: the caller's connection reads the rest
      if (!m.done) worker.postMessage(0); // room for one more chunk ahead
      const texts = splitTexts(m.texts, m.count, 'log rows');
      const events = new Array<StoredEvent>(m.count);
      for (let i = 0; i < m.count; i++) {
        try {
          events[i] = parseEvent(texts[i]!, m.positions[i]!);
        } catch (err) {
          throw new StoreError(`the log's row at position ${m.positions[i]} does not parse: ${(err as Error).message}`);
        }
      }
      if (m.count > 0) {
        after = m.positions[m.count - 1]!;
        yield events;
      }
      if (m.done) return;
    }
  } finally {
    worker.removeAllListeners('exit');
    await worker.terminate();
  }
  yield* rest(after);
}

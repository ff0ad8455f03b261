// The ingest scenario's floor: the work every event of that load needs whatever the server's design,
// measured alone in the bench's own process, beside the raw insert of the same run.
//
// A server that keeps this log must at least:
//   1. parse the client's frames (the JSON text the clients send; the WebSocket framing is left out);
//   2. compute each event's identity (WIRE.md 1.5, seed 003): the item's hash, the dHash, the `_id` and
//      the chain, four SHA-256 and the canonical texts they hash, with the server's own functions;
//   3. write each stored event as the log's row text (one JSON.stringify of the event as stored);
//   4. insert the rows, in transactions the size of the server's group commits (the raw insert).
// Everything else the server does for this load (WebSocket I/O, validation, the hop to the store thread,
// reducing state, the live count, the checkpoint, acknowledgements, and the garbage of all of that) is
// left out. So the floor is a lower bound of the server's CPU per event, not a design: where it already
// takes most of a target's budget, the target is out of reach of any server keeping the same log.
import path from 'node:path';
import { root, selfCpuMs } from './section.mjs';

const { hashItem, lastDataHash } = await import(path.join(root, 'packages/server/dist/core/hash.js'));
const { computeIdentity, EVENT_DHASH, EVENT_DHASH_OF } = await import(path.join(root, 'packages/server/dist/core/identity.js'));

/** CPU µs per event of `fn` over `events` events, the lowest of `reps` runs (noise only adds). */
function lowest(reps, events, fn) {
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const c0 = selfCpuMs();
    fn();
    best = Math.min(best, ((selfCpuMs() - c0) * 1000) / events);
  }
  return best;
}

/**
 * The floor's three steps before the insert, CPU µs per event each (the insert is the raw insert at the
 * server's group size, measured by the caller). `frames`: every client's frame texts; `rows`: the rows the
 * server stored (its log read back, as arrays of columns), whose column `eventColumn` holds each stored event.
 */
export function ingestFloor({ frames, rows, eventColumn, reps = 3 }) {
  const texts = frames.flat();
  const total = rows.length;
  let parsed = [];
  const parse = lowest(reps, total, () => {
    parsed = texts.map((t) => JSON.parse(t).data);
  });
  const events = parsed.flat();
  if (events.length !== total) throw new Error(`floor: the frames hold ${events.length} events, the log ${total}`);
  const stored = rows.map((r) => JSON.parse(r[eventColumn]));
  const src = stored[0]?.identity?.src ?? 'server';
  let check;
  const identity = lowest(reps, total, () => {
    let chain = '';
    for (let i = 0; i < total; i++) {
      const e = events[i];
      const item = hashItem(e.item, true);
      // The dHash travels on the event as normalisation carries it (identity.ts EVENT_DHASH).
      const ev = { itemType: e.itemType, changeType: e.changeType, item, createdAt: e.createdAt, [EVENT_DHASH]: lastDataHash(), [EVENT_DHASH_OF]: item };
      const id = computeIdentity(ev, [], src, chain);
      chain = id.chain;
      if (i === 0) check = { hash: item.hash, dHash: id.dHash };
    }
  });
  // The same identity the server gave the first event: the floor hashes what the server hashes.
  const first = stored[0];
  if (first && (check.hash !== first.item.hash || check.dHash !== first.identity.dHash))
    throw new Error('floor: the identity computed here differs from the one the server stored');
  let bytes = 0;
  const rowText = lowest(reps, total, () => {
    bytes = 0;
    for (let i = 0; i < total; i++) bytes += JSON.stringify(stored[i]).length;
  });
  return { parse, identity, rowText, rowChars: bytes / Math.max(1, total) };
}

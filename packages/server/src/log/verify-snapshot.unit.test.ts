import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { dataHash } from '../core/identity.js';
import { ItemMap } from '../core/item-map.js';
import type { Checkpoint, DerivedFields } from '../store/event-store.js';
import { snapshotAgainstLog, snapshotFacts, snapshotProblem, snapshotSummary, summaryAgainstLog, type ItemRecord } from './verify-snapshot.js';

/**
 * `myko verify` decides the snapshot by the worker's summary when it agrees with the log's records, and
 * item by item otherwise (snapshotProblem). These tests hold that decision to the item-by-item one
 * (snapshotAgainstLog) over random logs and snapshots, and check that an exact snapshot is decided by the
 * summary alone: the comparison of 100,000 objects the summary replaces is what made it worth having.
 */

// Rig's emitterIds are filled by state (core/backrefs.ts): its snapshot items may differ from their last SET.
const derived: DerivedFields = { Rig: ['emitterIds'] };
const types = ['Lamp', 'Rig'] as const;
const ids = ['a', 'b', 'c', 'd'] as const;
const item = (id: string, v: number) => ({ id, v });

interface Rec {
  itemType: string;
  id: string;
  /** The item's value in the log, or null once deleted. */
  v: number | null;
  pids: string[];
}

const pid = fc.constantFrom('p1', 'p2', 'p3');
const rec = fc.record({ itemType: fc.constantFrom(...types), id: fc.constantFrom(...ids), v: fc.option(fc.integer({ min: 0, max: 3 }), { nil: null }), pids: fc.array(pid, { maxLength: 2 }) });
/** What a snapshot may get wrong, applied to the entry at `at` (modulo the entries). */
const mutation = fc.record({
  kind: fc.constantFrom('value', 'delete', 'revive', 'drop', 'extra', 'pids', 'reorder', 'duplicatePid'),
  at: fc.nat(),
  v: fc.integer({ min: 0, max: 3 }),
  pid,
});

function expectedOf(recs: Rec[], oddPid: boolean): ItemMap<ItemRecord> {
  const m = new ItemMap<ItemRecord>();
  for (const r of recs) m.set(r.itemType, r.id, { itemType: r.itemType, id: r.id, dHash: r.v === null ? null : dataHash(item(r.id, r.v)), pids: [...r.pids] });
  // A parent the log holds as other than a string (verify.ts keeps it as a String object), where the
  // snapshot has the string of the same text: never equal to it.
  if (oddPid) {
    const r = [...m.values()].find((x) => x.pids.length > 0);
    if (r) r.pids[0] = new String(r.pids[0]) as unknown as string;
  }
  return m;
}

function checkpointOf(entries: Rec[]): Checkpoint {
  return {
    position: 1,
    eventId: null,
    chain: '',
    items: entries.filter((e) => e.v !== null).map((e) => ({ itemType: e.itemType, item: item(e.id, e.v!) })),
    leaves: entries.map((e) => ({ itemType: e.itemType, id: e.id, pids: e.pids })),
    derived,
  };
}

function mutate(recs: Rec[], muts: { kind: string; at: number; v: number; pid: string }[]): Rec[] {
  let out = recs.map((r) => ({ ...r, pids: [...r.pids] }));
  for (const m of muts) {
    if (m.kind === 'extra') {
      const free = types.flatMap((t) => ids.map((id) => [t, id] as const)).find(([t, id]) => !out.some((r) => r.itemType === t && r.id === id));
      if (free) out.push({ itemType: free[0], id: free[1], v: m.v, pids: [m.pid] });
      continue;
    }
    if (out.length === 0) continue;
    const i = m.at % out.length;
    const e = out[i]!;
    if (m.kind === 'value') e.v = m.v;
    else if (m.kind === 'delete') e.v = null;
    else if (m.kind === 'revive') e.v ??= m.v;
    else if (m.kind === 'drop') out = out.filter((_, k) => k !== i);
    else if (m.kind === 'pids') e.pids = e.pids.length > 0 ? e.pids.slice(1) : [m.pid];
    else if (m.kind === 'reorder') e.pids.reverse();
    else if (m.kind === 'duplicatePid' && e.pids.length > 0) e.pids[e.pids.length - 1] = e.pids[0]!;
  }
  return out;
}

/** One entry per (type, id), as a log's records and a snapshot's entries are. */
const unique = (recs: Rec[]) => recs.filter((r, i) => recs.findIndex((x) => x.itemType === r.itemType && x.id === r.id) === i);

test('snapshotProblem: the summary, with the item-by-item fallback, decides as the item-by-item comparison over random snapshots', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(rec, { maxLength: 8 }), fc.array(mutation, { maxLength: 3 }), fc.boolean(), async (raw, muts, oddPid) => {
      const recs = unique(raw);
      const expected = expectedOf(recs, oddPid);
      const cp = checkpointOf(mutate(recs, muts));
      const viaSummary: { itemType: string; id: string }[] = [];
      const itemByItem: { itemType: string; id: string }[] = [];
      const got = await snapshotProblem(snapshotSummary(cp), async () => cp, expected, derived, viaSummary);
      const want = snapshotAgainstLog(snapshotFacts(cp), expected, derived, itemByItem);
      assert.deepEqual(got, want);
      assert.deepEqual(viaSummary, itemByItem);
    }),
    { numRuns: 2000, seed: 20261207 },
  );
});

test('summaryAgainstLog: a snapshot that holds exactly what the log does agrees without the item-by-item comparison; a derived item that differs from its SET goes to recheck', () => {
  const recs: Rec[] = [
    { itemType: 'Lamp', id: 'a', v: 1, pids: ['p1'] },
    { itemType: 'Lamp', id: 'b', v: null, pids: ['p2', 'p3'] },
    { itemType: 'Rig', id: 'c', v: 2, pids: [] },
    { itemType: 'Rig', id: 'd', v: 0, pids: ['p1'] },
  ];
  const expected = expectedOf(recs, false);
  // The leaves in another order, and the entries too: both sides are sets.
  const same = checkpointOf([...recs].reverse().map((r) => ({ ...r, pids: [...r.pids].reverse() })));
  const recheck: { itemType: string; id: string }[] = [];
  assert.equal(summaryAgainstLog(snapshotSummary(same), expected, derived, recheck), undefined);
  assert.deepEqual(recheck, []);

  // The Rig's snapshot item holds other data (state's emitterIds): agreed, and set aside for recheckDerived.
  const rigDiffers = checkpointOf(recs.map((r) => (r.id === 'c' ? { ...r, v: 3 } : r)));
  assert.equal(summaryAgainstLog(snapshotSummary(rigDiffers), expected, derived, recheck), undefined);
  assert.deepEqual(recheck, [{ itemType: 'Rig', id: 'c' }]);

  // A Lamp's data differs: the summary disagrees, and the item-by-item comparison names it.
  const lampDiffers = checkpointOf(recs.map((r) => (r.id === 'a' ? { ...r, v: 2 } : r)));
  assert.equal(summaryAgainstLog(snapshotSummary(lampDiffers), expected, derived, []), 'differs');
  assert.equal(snapshotAgainstLog(snapshotFacts(lampDiffers), expected, derived, [])?.itemId, 'a');
});

/**
 * Cluster mode's writer (core/writer.ts): committed batches are applied, published and answered in
 * batch order. A batch of pulses alone waits for nothing, and used to overtake an earlier batch still
 * waiting for the tailer: its pulses were shown and published before the older ones, and an older
 * value ended up as the emitter's last (seen as the cluster test "a command for an executor on another
 * member" timing out on the last of 20 pulses).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type { MItem } from '@myko/protocol';
import { tempDir } from '../testing/index.js';
import { SqliteEventStore } from '../store/sqlite/index.js';
import type { NewEvent } from '../store/event-store.js';
import { Registry } from './registry.js';
import { State } from './state.js';
import { Writer } from './writer.js';

const ev = (itemType: string, item: Record<string, unknown> & { id: string }): NewEvent => ({
  itemType,
  changeType: 'SET',
  item: item as MItem,
  createdAt: '2026-12-07T00:00:00.000Z',
  tx: `t-${itemType}-${String(item.n)}`,
  sourceId: 's',
});

test('cluster mode: a later batch of pulses alone waits for an earlier batch the tailer has not applied yet; applied, published and answered in order', async () => {
  const dir = tempDir('myko-writer-');
  const store = new SqliteEventStore({ dataDir: dir, sync: 'normal' });
  try {
    const registry = new Registry();
    registry.register({ name: 'test', itemTypes: [{ name: 'Lamp' }, { name: 'Pulse', persist: false }] });
    const writer = new Writer(store, new State(), registry, 1000);
    let release!: () => void;
    const tailerThere = new Promise<void>((r) => (release = r));
    const caughtUp: number[] = [];
    const published: unknown[] = [];
    writer.cluster = {
      catchUp: (position) => (caughtUp.push(position), tailerThere),
      publishEphemeral: (events) => published.push(...events.map((e) => e.item.n)),
    };
    const applied: unknown[] = [];
    writer.listeners.push((changes) => applied.push(...changes.map((c) => c.next?.n)));
    const answered: string[] = [];

    const first = writer.submit([ev('Lamp', { id: 'lamp', n: 1 }), ev('Pulse', { id: 'em', n: 1 })]).then(() => answered.push('first'));
    await new Promise((r) => setImmediate(r)); // the first batch is committed and waits for the tailer
    assert.deepEqual(caughtUp, [1]);
    const second = writer.submit([ev('Pulse', { id: 'em', n: 2 })]).then(() => answered.push('second'));
    await new Promise((r) => setTimeout(r, 30));
    assert.deepEqual(applied, [], 'the second batch waits for the first');
    assert.deepEqual(published, []);
    assert.deepEqual(answered, []);

    release();
    await Promise.all([first, second]);
    assert.deepEqual(applied, [1, 2], 'pulses applied in order: the last value is the newest');
    assert.deepEqual(published, [1, 2]);
    assert.deepEqual(answered, ['first', 'second']);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('cluster mode: a later batch whose catch-up fails while an earlier one waits is refused after it, and its failure is never an unhandled rejection', async () => {
  const dir = tempDir('myko-writer-');
  const store = new SqliteEventStore({ dataDir: dir, sync: 'normal' });
  const unhandled: unknown[] = [];
  const onUnhandled = (err: unknown) => unhandled.push(err);
  process.on('unhandledRejection', onUnhandled);
  try {
    const registry = new Registry();
    registry.register({ name: 'test', itemTypes: [{ name: 'Lamp' }] });
    const writer = new Writer(store, new State(), registry, 1000);
    let release!: () => void;
    const first = new Promise<void>((r) => (release = r));
    writer.cluster = {
      // The first batch waits for the tailer; the second one's catch-up fails at once (the database went away).
      catchUp: (position) => (position === 1 ? first : Promise.reject(new Error('tailer stopped'))),
      publishEphemeral: () => undefined,
    };
    const order: string[] = [];
    const a = writer.submit([ev('Lamp', { id: 'a', n: 1 })]).then(() => order.push('a ok'));
    await new Promise((r) => setImmediate(r));
    const b = writer.submit([ev('Lamp', { id: 'b', n: 2 })]).then(
      () => order.push('b ok'),
      (err: Error) => order.push(`b refused: ${err.message}`),
    );
    await new Promise((r) => setTimeout(r, 30));
    assert.deepEqual(order, []);
    release();
    await Promise.all([a, b]);
    assert.deepEqual(order, ['a ok', 'b refused: tailer stopped']);
    await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(unhandled, []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

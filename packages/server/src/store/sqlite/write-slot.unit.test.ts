/**
 * write-slot.ts: the event loop's appends and the store thread's WAL checkpoint never hold the slot at
 * once; a checkpoint waiting for it keeps new appends out; one that cannot get it in time gives up.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { WRITE_SLOT_BYTES, WriteSlot } from './write-slot.js';

test('the slot: one holder at a time, appends kept out while a checkpoint holds it, a checkpoint gives up after its wait', () => {
  const slot = new WriteSlot(new SharedArrayBuffer(WRITE_SLOT_BYTES));
  assert.equal(slot.tryTakeForAppend(), true);
  assert.equal(slot.tryTakeForAppend(), false, 'one append at a time');
  const t0 = Date.now();
  assert.equal(slot.takeForCheckpoint(30), false, 'an append in progress: the checkpoint waits, then gives up');
  assert.ok(Date.now() - t0 >= 25, 'it waited');
  slot.releaseAppend();
  assert.equal(slot.tryTakeForAppend(), true, 'a checkpoint that gave up no longer keeps appends out');
  slot.releaseAppend();
  assert.equal(slot.takeForCheckpoint(0), true);
  assert.equal(slot.tryTakeForAppend(), false, 'no append during a checkpoint');
  slot.releaseCheckpoint();
  assert.equal(slot.tryTakeForAppend(), true);
  slot.releaseAppend();
});

test('a checkpoint waiting on another thread takes the slot as soon as the append ends, before the next append', async () => {
  const shared = new SharedArrayBuffer(WRITE_SLOT_BYTES);
  const slot = new WriteSlot(shared);
  assert.equal(slot.tryTakeForAppend(), true);
  // The other thread asks for the slot while this one holds it, and reports when it has it.
  const worker = new Worker(
    `const { workerData, parentPort } = require('node:worker_threads');
     import(workerData.url).then(({ WriteSlot }) => {
       const slot = new WriteSlot(workerData.shared);
       parentPort.postMessage('asking');
       const got = slot.takeForCheckpoint(5000);
       parentPort.postMessage(got ? 'got' : 'gave up');
       setTimeout(() => { slot.releaseCheckpoint(); parentPort.postMessage('released'); }, 50);
     });`,
    { eval: true, workerData: { shared, url: new URL('./write-slot.js', import.meta.url).href } },
  );
  const messages: string[] = [];
  const next = () => new Promise<string>((r) => worker.once('message', (m: string) => (messages.push(m), r(m))));
  assert.equal(await next(), 'asking');
  // Wanted: a new append is refused even before the one in progress ends.
  await new Promise((r) => setTimeout(r, 20));
  slot.releaseAppend();
  assert.equal(await next(), 'got');
  assert.equal(slot.tryTakeForAppend(), false, 'held by the checkpoint');
  assert.equal(await next(), 'released');
  assert.equal(slot.tryTakeForAppend(), true);
  slot.releaseAppend();
  await worker.terminate();
});

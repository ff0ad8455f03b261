import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OrderedPublisher } from './ordered-publisher.js';

test('sends go one at a time, in order, even when an earlier one completes late; what queues meanwhile is packed into the next sends within the byte bound', async () => {
  const sends: number[][] = [];
  const delivered: number[][] = [];
  const errors: string[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const p = new OrderedPublisher<number>(
    async (items) => {
      sends.push(items);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      // The first send is the slowest: sent at once, the later ones would arrive before it.
      await new Promise((r) => setTimeout(r, sends.length === 1 ? 30 : 1));
      inFlight--;
      if (items.includes(13)) throw new Error('connection lost');
      delivered.push(items);
    },
    100,
    (err) => errors.push(err.message),
  );
  p.push(1, 40);
  // Queued while the first is in flight: 2..13 at 40 bytes, two to a send (a third would pass 100).
  for (let i = 2; i <= 13; i++) p.push(i, 40);
  p.push(14, 500); // larger than the bound by itself: sent alone
  p.push(15, 40);
  await p.idle();
  assert.deepEqual(sends, [[1], [2, 3], [4, 5], [6, 7], [8, 9], [10, 11], [12, 13], [14], [15]]);
  assert.deepEqual(delivered.flat(), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 14, 15], 'in order; a failed send is lost, the next ones go on');
  assert.deepEqual(errors, ['connection lost']);
  assert.equal(maxInFlight, 1);
  // Idle again: the next item goes at once, alone.
  p.push(16, 40);
  await p.idle();
  assert.deepEqual(sends.at(-1), [16]);
});

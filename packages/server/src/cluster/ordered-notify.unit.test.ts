import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OrderedNotify } from './ordered-notify.js';

test('payloads are sent one at a time, in order, even when a send completes late; a failed send is reported and the next goes on', async () => {
  const started: string[] = [];
  const delivered: string[] = [];
  const errors: string[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  // Sends that take longer the earlier they are: sent at once, they would arrive in reverse order.
  const delays: Record<string, number> = { a: 30, b: 20, c: 10, d: 0, e: 5 };
  const n = new OrderedNotify(
    async (p) => {
      started.push(p);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((r) => setTimeout(r, delays[p]));
      inFlight--;
      if (p === 'c') throw new Error('connection lost');
      delivered.push(p);
    },
    (err) => errors.push(err.message),
  );
  n.push('a');
  n.push('b');
  n.push('c');
  n.push('d');
  await n.idle();
  n.push('e');
  await n.idle();
  assert.deepEqual(started, ['a', 'b', 'c', 'd', 'e']);
  assert.deepEqual(delivered, ['a', 'b', 'd', 'e']);
  assert.deepEqual(errors, ['connection lost']);
  assert.equal(maxInFlight, 1);
});

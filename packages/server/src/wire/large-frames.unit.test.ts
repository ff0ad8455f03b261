import { test } from 'node:test';
import assert from 'node:assert/strict';
import { largeFramesRetained, takeLargeFrame } from './large-frames.js';
import { allocTextFrame, headerLength } from './ws-frame.js';

// Each test uses a size class of its own: the pool is one per process.

test('sizes outside 64 KiB to 16 MiB are not pooled', () => {
  assert.equal(takeLargeFrame(64 * 1024 - 1), undefined);
  assert.equal(takeLargeFrame(16 * 1024 * 1024 + 1), undefined);
  const small = allocTextFrame(1000, true);
  assert.equal(small.release, undefined, 'a small frame comes from the slab, with nothing to release');
});

test('a released buffer is the next one of its size class; one still taken never is', () => {
  const a = takeLargeFrame(100_000)!;
  assert.equal(a.bytes.length, 100_000);
  assert.equal(a.bytes.buffer.byteLength, 131_072, 'the power of two at or above the size');
  const b = takeLargeFrame(90_000)!;
  assert.notEqual(b.bytes.buffer, a.bytes.buffer, 'a is still taken');
  a.release();
  const c = takeLargeFrame(70_000)!;
  assert.equal(c.bytes.buffer, a.bytes.buffer, 'a was given back: reused');
  assert.equal(c.bytes.length, 70_000);
  b.release();
  c.release();
});

test('release is idempotent: a buffer released twice is handed out once', () => {
  const before = largeFramesRetained();
  const a = takeLargeFrame(300_000)!;
  a.release();
  a.release();
  assert.equal(largeFramesRetained() - before, 524_288);
  const b = takeLargeFrame(300_000)!;
  const c = takeLargeFrame(300_000)!;
  assert.equal(b.bytes.buffer, a.bytes.buffer);
  assert.notEqual(c.bytes.buffer, a.bytes.buffer);
  b.release();
  c.release();
});

test('at most two free buffers are kept per size class', () => {
  const before = largeFramesRetained();
  const taken = [takeLargeFrame(2_000_000)!, takeLargeFrame(2_000_000)!, takeLargeFrame(2_000_000)!];
  for (const t of taken) t.release();
  assert.equal(largeFramesRetained() - before, 2 * 2_097_152);
});

test('a pooled TextFrame: the header in front of the payload, as allocTextFrame always writes it, and a release', () => {
  const n = 200_000;
  const f = allocTextFrame(n, true);
  assert.equal(f.offset, headerLength(n));
  assert.equal(f.bytes.length, f.offset + n);
  assert.deepEqual([...f.bytes.subarray(0, 2)], [0x81, 127]);
  assert.equal(typeof f.release, 'function');
  f.release!();
  const unpooled = allocTextFrame(n);
  assert.equal(unpooled.release, undefined, 'not asked for: never pooled (its bytes may be kept)');
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

/**
 * ws unmasks every client frame (clients must mask, RFC 6455 5.3). Without bufferutil it does so in a
 * JavaScript loop, byte by byte: 1.7% of the event loop during batched ingest (bench/RESULTS.md, issue 15,
 * fourteenth part). bufferutil is an optional dependency whose npm package ships the linux-x64 binary, so
 * on such a host its native code must be what loads; anywhere else ws falls back to its own loop and the
 * server works the same, only slower.
 */
const require = createRequire(import.meta.url);

interface BufferUtil {
  mask(source: Buffer, mask: Buffer, output: Buffer, offset: number, length: number): void;
  unmask(buffer: Buffer, mask: Buffer): void;
}

const prebuilt = process.platform === 'linux' && process.arch === 'x64';

test('bufferutil: its native unmask loads where its package ships a binary, and unmasks as RFC 6455 says', { skip: !prebuilt && `no bufferutil binary is shipped for ${process.platform}-${process.arch}: ws uses its JavaScript loop` }, () => {
  const native = require('bufferutil') as BufferUtil;
  const fallback = require('bufferutil/fallback') as BufferUtil;
  assert.notEqual(native.unmask, fallback.unmask, 'bufferutil fell back to JavaScript: its binary did not load');
  const mask = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
  const text = Buffer.from(JSON.stringify({ event: 'ws:m:event', data: { itemType: 'T', item: { id: 'x'.repeat(100) } } }));
  const masked = Buffer.from(text.map((b, i) => b ^ mask[i & 3]!));
  native.unmask(masked, mask);
  assert.deepEqual(masked, text);
});

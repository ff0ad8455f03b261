import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { allocTextFrame, headerLength } from './ws-frame.js';
import { diffFrame, diffHead, diffJson, diffText, type DiffParts } from './frames.js';

// ws's own framing (what ws.send writes for a server's text frame): header, then payload.
const { Sender } = createRequire(import.meta.url)('ws') as { Sender: { frame(data: Buffer, o: object): Buffer[] } };
const wsBytes = (payload: Buffer) => Buffer.concat(Sender.frame(payload, { fin: true, opcode: 1, mask: false, readOnly: false, rsv1: false }));

test('a TextFrame is byte for byte the frame ws.send writes, at every header size', () => {
  for (const n of [0, 1, 125, 126, 127, 1000, 65535, 65536, 70_000, 2_100_000]) {
    const f = allocTextFrame(n);
    assert.equal(f.offset, headerLength(n));
    f.bytes.fill(0x61, f.offset);
    assert.equal(f.payload.length, n);
    assert.deepEqual(f.bytes, wsBytes(f.payload), `payload of ${n} bytes`);
  }
});

test('diffText: the same frame whether its part after the sequence is shared or built anew', () => {
  const tick = { id: 'tick', n: 'é 1' };
  const base: DiffParts = { kind: 'query', tx: 'sub-1', sequence: 3, itemType: 'Tick', upserts: [tick], deletes: [], totalCount: 1, window: undefined, order: undefined };
  const subs = ['sub-1', 'sub-22', 's"3', 'é'].map((tx, i) => ({ ...base, tx, sequence: i * 7 }));
  for (let round = 0; round < 2; round++)
    for (const p of subs) {
      const f = diffText(p, diffHead(p.kind, p.tx));
      assert.deepEqual(f.payload, Buffer.from(JSON.stringify(diffFrame(p))));
      assert.deepEqual(f.bytes, wsBytes(f.payload));
    }
  // A different content must not be answered from the shared part.
  const next = { ...tick, n: 2 };
  for (const p of [{ ...base, upserts: [next] }, { ...base, totalCount: 2 }, { ...base, deletes: ['x'] }, { ...base, itemType: 'Other' }, { ...base, upserts: [] }])
    assert.deepEqual(diffJson(p), Buffer.from(JSON.stringify(diffFrame(p))));
});

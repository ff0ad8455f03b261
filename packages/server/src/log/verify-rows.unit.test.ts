import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isCanonicalIso } from './verify-rows.js';

// The verifier skips parsing a createdAt that equals its ts when isCanonicalIso says Date would give it back
// unchanged: it must never say so of a string Date changes or refuses.
test('isCanonicalIso is exactly "new Date(s).toISOString() === s" on ISO-shaped strings around every field edge', () => {
  const pad = (n: number, w: number) => String(n).padStart(w, '0');
  const years = [0, 1, 4, 100, 400, 1900, 1970, 2000, 2023, 2024, 2100, 9999];
  let fixed = 0;
  let n = 0;
  for (const y of years)
    for (let mo = 0; mo <= 13; mo++)
      for (const d of [0, 1, 28, 29, 30, 31, 32])
        for (const [h, mi, s] of [[0, 0, 0], [23, 59, 59], [24, 0, 0], [12, 60, 0], [12, 0, 60], [7, 5, 3]] as const) {
          const str = `${pad(y, 4)}-${pad(mo, 2)}-${pad(d, 2)}T${pad(h, 2)}:${pad(mi, 2)}:${pad(s, 2)}.${pad((n * 7) % 1000, 3)}Z`;
          const date = new Date(str);
          const want = !Number.isNaN(date.getTime()) && date.toISOString() === str;
          assert.equal(isCanonicalIso(str), want, str);
          if (want) fixed++;
          n++;
        }
  assert.ok(fixed > 1000);
  for (const s of ['2023-11-14T22:13:20.000z', '2023-11-14T22:13:20Z', '+002023-11-14T22:13:20.000Z', '2023-11-14 22:13:20.000Z', '2023-1a-14T22:13:20.000Z', '2023-11-14T22:13:20.0a0Z', 5, null, undefined])
    assert.equal(isCanonicalIso(s), false, String(s));
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { startTestServer, tempDir } from '../testing/index.js';

test('/health shows the result of --verify-on-boot once it ran (and the dashboard\'s last run starts as it)', async () => {
  const dataDir = tempDir('myko-verify-boot-');
  try {
    const first = await startTestServer({ dataDir });
    await first.server.emit(Array.from({ length: 30 }, (_, i) => ({ itemType: 'Cue', changeType: 'SET' as const, item: { id: `c${i}` } })));
    await first.server.stop();

    const ts = await startTestServer({ dataDir, config: { verifyOnBoot: true } });
    try {
      const res = await fetch(ts.url.replace(/^ws/, 'http').replace(/\/myko$/, '/health'));
      assert.equal(res.status, 200);
      const { verify } = (await res.json()) as { verify: any };
      assert.equal(verify.onBoot, true);
      assert.equal(verify.boot.ok, true, JSON.stringify(verify));
      assert.ok(verify.boot.checked >= 30, `the boot run checked the log: ${JSON.stringify(verify.boot)}`);
      // The run covered the whole log found at boot; the server appended only its own Server item after it.
      assert.equal(verify.boot.lastPosition, verify.boot.checked);
      assert.equal(ts.server.ctx.writer.position, verify.boot.lastPosition + 1);
      assert.ok(!Number.isNaN(Date.parse(verify.boot.at)), 'with the time it ran');
      assert.deepEqual(verify.last, verify.boot, 'the latest run is the boot run until the verifier runs again');
    } finally {
      await ts.server.stop();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

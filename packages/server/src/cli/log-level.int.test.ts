import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { exited, tempDir, TestClient } from '../testing/index.js';
import { cliPath, startServing, until } from './harness.js';

/** The JSON log lines of `output` (pino writes one object a line). */
const lines = (output: string) =>
  output
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, any>);

test('--log-level debug logs each frame (kind, size, client) and each commit (events, time); info logs neither', async () => {
  const dataDir = tempDir('myko-cli-debug-');
  try {
    for (const level of ['debug', 'info']) {
      const s = await startServing(process.execPath, [cliPath, 'serve', '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir, '--plugins', '', '--log-level', level], {});
      const c = await TestClient.connect(`ws://127.0.0.1:${s.port}/myko`);
      c.send({ event: 'ws:m:event', data: { itemType: 'Cue', changeType: 'SET', item: { id: `probe-${level}` } } });
      await c.sync();
      await c.close();
      await until(() => s.output().includes('connection closed'), 'the close line');
      s.proc.kill('SIGTERM');
      assert.equal(await exited(s.proc), 0);
      const log = lines(s.output());
      const frames = log.filter((l) => l.msg === 'frame');
      const commits = log.filter((l) => l.msg === 'commit');
      if (level === 'info') {
        assert.deepEqual([...frames, ...commits], [], 'nothing per frame or commit at info');
        assert.ok(log.every((l) => l.level >= 30));
        continue;
      }
      const event = frames.find((l) => l.kind === 'ws:m:event');
      assert.ok(event, `a debug line for the event frame: ${JSON.stringify(frames)}`);
      assert.equal(event.level, 20);
      assert.equal(event.clientId, c.clientId);
      assert.ok(event.bytes > 50 && event.bytes < 200, `its size in bytes: ${event.bytes}`);
      const commit = commits.find((l) => l.events >= 1);
      assert.ok(commit, `a debug line for the commit: ${JSON.stringify(commits)}`);
      assert.equal(typeof commit.ms, 'number');
      assert.ok(commit.position >= 1);
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

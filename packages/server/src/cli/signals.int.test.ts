/**
 * The commands the README gives to start a server (`npm start`, `npx myko
 * serve`), signalled as a process manager or container runtime does: SIGTERM
 * or SIGINT to that command's PID, nothing else. The server must run its
 * normal shutdown and the whole process tree must go.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { connect } from 'node:net';
import { exited, tempDir, TestClient } from '../testing/index.js';
import { countRows, freePort, repoRoot, startServing, until } from './harness.js';

/** Whether any process of the group led by `pgid` is still alive. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether something accepts TCP connections on the port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

const cases: [command: string, args: string[], signal: NodeJS.Signals][] = [
  ['npm', ['start'], 'SIGTERM'],
  ['npm', ['start'], 'SIGINT'],
  // npx runs the command through `sh -c`, which dies of SIGTERM without passing it on (the server then sees its
  // launcher go) and holds a SIGINT until its child exits, so the server never learns of one: not covered here.
  ['npx', ['myko', 'serve'], 'SIGTERM'],
];

for (const [command, args, signal] of cases) {
  test(`\`${command} ${args.join(' ')}\` signalled with ${signal}: the server shuts down cleanly, keeps what it accepted, and no process is left`, async () => {
    const dataDir = tempDir('myko-cli-signal-');
    const port = await freePort();
    // Its own process group, as under a process manager, so the test can see (and at worst clean up) every process of the tree.
    const s = await startServing(command, args, { MYKO_PORT: String(port), MYKO_HOST: '127.0.0.1', MYKO_DATA_DIR: dataDir, MYKO_PLUGINS: '' }, { cwd: repoRoot, detached: true });
    const pgid = s.proc.pid!;
    try {
      const c = await TestClient.connect(`ws://127.0.0.1:${port}/myko`);
      for (let i = 0; i < 50; i++) c.send({ event: 'ws:m:event', data: { itemType: 'BeforeSignal', changeType: 'SET', item: { id: `b${i}` } } });
      await c.sync();
      process.kill(pgid, signal); // the command's PID only, as a process manager does
      const closed = await Promise.race([c.closed, new Promise((_, reject) => setTimeout(() => reject(new Error('the server did not shut down within 30 s')), 30_000).unref())]);
      assert.deepEqual(closed, { code: 1001, reason: 'MYKO_SHUTTING_DOWN' }, 'clients are told the server is going');
      await exited(s.proc);
      await until(() => !groupAlive(pgid), `every process of \`${command} ${args.join(' ')}\` exits`);
      assert.equal(await listening(port), false, 'the port is closed');
      await until(() => s.output().includes('"msg":"stopped"'), `the normal shutdown ran to its end: ${s.output()}`, 10_000);
      assert.equal(countRows(dataDir, 'BeforeSignal'), 50, 'events accepted before the signal are stored');
    } finally {
      if (groupAlive(pgid)) process.kill(-pgid, 'SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
}

/**
 * The data directory runs out of space, or turns read-only, under a running
 * server (a child process). Needs root for `mount`; without it the tests are
 * skipped with a loud message.
 *
 * Disk full (tmpfs of 2 MiB): write until the store refuses. Every refused
 * write is answered with MYKO_STORE_FAILED naming the cause and the batch's
 * tx, on all three protocols and for commands; the server stays up; reads
 * still answer; what is stored verifies (a copy of the files, checked with
 * `myko verify` while the server runs). Then the tmpfs is grown with
 * `mount -o remount,size=64m` and writes succeed again in the same process.
 * At the end: a clean stop, `myko verify`, and the log holds exactly the
 * writes that were accepted.
 *
 * Read-only: `mount -o remount,ro` of a file system on which a process holds
 * files open for writing is refused by Linux (EBUSY), so it is tried, and
 * what happens is asserted either way. The way a data directory does turn
 * read-only under a running server is a file system error with
 * errors=remount-ro: that is tested on ext4 in a loop file
 * (/sys/fs/ext4/DEV/trigger_fs_error). Writes fail clearly, the server stays
 * up and serves reads; the file system cannot go back to read-write without
 * an unmount and fsck, so service resumes with a restart, with every
 * accepted write there and `myko verify` passing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { sleep, spawnServer } from '../testing/index.js';
import { alive, collectLog, machine, mykoVerify, readLog, replayType, stopServer } from './support.js';
import { RawSocket, type Msg } from './raw-socket.js';

function run(cmd: string, args: string[]): { ok: boolean; out: string; status: number | null } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}`.trim(), status: r.status };
}

/** Unmount, retrying while the killed server's files are being released; lazily as a last resort. */
async function unmount(dir: string): Promise<void> {
  for (let i = 0; i < 20; i++) {
    if (!run('mountpoint', ['-q', dir]).ok) return;
    if (run('umount', [dir]).ok) return;
    await sleep(100);
  }
  run('umount', ['-l', dir]);
}

async function mykoSocket(url: string): Promise<RawSocket> {
  const s = await RawSocket.connect(url);
  await s.next((m) => m.event === 'ws:m:command' && m.data?.commandId === 'SetClientId');
  return s;
}

let pingN = 0;
async function ping(s: RawSocket): Promise<void> {
  const id = `p${++pingN}`;
  s.send({ event: 'ws:m:ping', data: { id } });
  await s.next((m) => m.event === 'ws:m:ping' && m.data?.id === id, 15_000);
}

const pad = 'x'.repeat(1500);
let batchN = 0;
/** Events per batch, by tx. */
const batchSizes = new Map<string, number>();
const total = (txs: string[]) => txs.reduce((n, tx) => n + batchSizes.get(tx)!, 0);

/**
 * One batch of 10 FaultFill items; after the ping that follows it (handled once the batch is settled),
 * it is either committed or refused with an error naming its tx.
 */
async function writeBatch(c: RawSocket, size = 10, padding = pad): Promise<{ tx: string; error: Msg | undefined }> {
  const tx = `fill-${++batchN}`;
  batchSizes.set(tx, size);
  const from = c.messages.length;
  c.send({ event: 'ws:m:event-batch', data: Array.from({ length: size }, (_, j) => ({ itemType: 'FaultFill', changeType: 'SET', item: { id: `${tx}-${j}`, pad: padding }, tx })) });
  await ping(c);
  const error = c.messages.slice(from).find((m) => m.event === 'ws:m:error');
  if (error) assert.equal(error.tx ?? error.data?.tx, tx, `the error names the batch's tx: ${JSON.stringify(error)}`);
  return { tx, error };
}

async function countFills(c: RawSocket): Promise<number> {
  const tx = `count-${++pingN}`;
  c.send({ event: 'ws:m:query', data: { queryId: 'GetAllFaultFills', queryItemType: 'FaultFill', query: { tx } } });
  const r = await c.next((m) => m.event === 'ws:m:query-response' && m.data?.tx === tx, 15_000);
  c.send({ event: 'ws:m:query-cancel', data: { tx } });
  return r.data.totalCount as number;
}

/** A write through each protocol, and a command: the replies, for the caller to judge. */
async function writeEveryWay(base: string, myko: RawSocket, tag: string): Promise<{ command: Msg; models: Msg; rpc: Msg }> {
  myko.send({ event: 'ws:m:command', data: { commandId: 'CreateRestorePoint', command: { tx: `rp-${tag}`, name: `rp-${tag}` } } });
  const command = await myko.next((m) => (m.event === 'ws:m:command-response' || m.event === 'ws:m:command-error') && m.data?.tx === `rp-${tag}`, 15_000);
  const models = await RawSocket.connect(`${base}/models`, { textOnly: true });
  models.send({ $: 'evt', key: `m-${tag}`, target: { key: 'set:FaultFill' }, payload: { id: `models-${tag}` } });
  const modelsRes = await models.next((m) => m.$ === 'evt-res' && m.key === `m-${tag}`, 15_000);
  await models.close();
  const rpc = await RawSocket.connect(`${base}/eventrpc`, { textOnly: true });
  rpc.send({ version: 'v0.0.1', 'app-name': 'fault', 'app-id': 'd', timestamp: 1, 'correlation-id': `r-${tag}`, type: 'command', payload: { id: `FaultFill/rpc-${tag}`, type: 'SET', data: {} } });
  const rpcRes = await rpc.next((m) => m.type === 'result' && m['correlation-id'] === `r-${tag}`, 15_000);
  await rpc.close();
  return { command, models: modelsRes, rpc: rpcRes };
}

/** `myko verify` on a copy of the store's files, while the server holds the originals. */
function verifyCopy(dataDir: string): { status: number | null; output: string; rows: number } {
  const copy = mkdtempSync(join(tmpdir(), 'myko-fault-copy-'));
  try {
    for (const f of ['myko.db', 'myko.db-wal']) if (existsSync(join(dataDir, f))) copyFileSync(join(dataDir, f), join(copy, f));
    const v = mykoVerify(copy);
    return { ...v, rows: readLog(copy, 'FaultFill').length };
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
}

test('disk full: writes refused with MYKO_STORE_FAILED, the server stays up and reads; after growing the disk, writes succeed in the same process; nothing lost', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'myko-fault-full-'));
  const mounted = run('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', dir]);
  if (!mounted.ok) {
    console.warn(`\n!!! SKIPPING the disk-full test: cannot mount a tmpfs (${mounted.out}); it needs root. !!!\n`);
    rmSync(dir, { recursive: true, force: true });
    return t.skip('mount not permitted');
  }
  let server: Awaited<ReturnType<typeof spawnServer>> | undefined;
  try {
    server = await spawnServer({ dataDir: dir });
    const log = collectLog(server.proc);
    const base = `ws://127.0.0.1:${server.port}`;
    const c = await mykoSocket(server.url);
    /** Accepted batches: the log must hold exactly these. */
    const accepted: string[] = [];
    let refused: { tx: string; error: Msg } | undefined;
    while (!refused && accepted.length < 1000) {
      const r = await writeBatch(c);
      if (r.error) refused = { tx: r.tx, error: r.error };
      else accepted.push(r.tx);
    }
    assert.ok(refused, 'the 2 MiB disk filled up');
    // A refused batch leaves room a smaller write may still fit in: full means even one small event is refused.
    let small: Msg | undefined;
    for (let i = 0; i < 300 && !small; i++) {
      const r = await writeBatch(c, 1, '');
      if (r.error) small = r.error;
      else accepted.push(r.tx);
    }
    assert.equal(small?.data?.code, 'MYKO_STORE_FAILED', `a small write is refused too: ${JSON.stringify(small)}`);
    assert.equal(refused.error.data.code, 'MYKO_STORE_FAILED', JSON.stringify(refused.error));
    assert.match(refused.error.data.message, /disk is full/, 'the message names the cause');
    assert.equal(refused.error.data.kind, 'ws:m:event-batch');
    console.log(`disk full: ${total(accepted)} events accepted, then refused: ${JSON.stringify(refused.error.data)}`);

    // Full: every further write is refused the same way, on every protocol; the server stays up and reads.
    const again = await writeBatch(c, 1, '');
    assert.equal(again.error?.data?.code, 'MYKO_STORE_FAILED');
    const full = await writeEveryWay(base, c, 'full');
    assert.equal(full.command.event, 'ws:m:command-error');
    assert.equal(full.command.data.code, 'MYKO_STORE_FAILED', JSON.stringify(full.command));
    assert.equal(full.models.error, true);
    assert.equal(full.models.code, 'MYKO_STORE_FAILED', JSON.stringify(full.models));
    assert.deepEqual([full.rpc.payload.status, full.rpc.payload.code], ['failed', 'MYKO_STORE_FAILED'], JSON.stringify(full.rpc));
    assert.match(full.rpc.payload.errors[0], /disk is full/);
    assert.ok(alive(server.proc), 'the server is up');
    assert.equal(await countFills(c), total(accepted), 'reads answer, with exactly the accepted writes');
    const other = await mykoSocket(server.url);
    assert.equal(await countFills(other), total(accepted), 'a new connection reads too');
    await other.close();

    // Nothing stored is damaged: the files as they are on the full disk verify.
    const copy = verifyCopy(dir);
    assert.equal(copy.status, 0, `myko verify of the full store: ${copy.output}`);
    assert.equal(copy.rows, total(accepted), 'the store holds every accepted write and nothing refused');

    // More space: the same process writes again, on every protocol.
    const grown = run('mount', ['-o', 'remount,size=64m', dir]);
    assert.ok(grown.ok, `remount,size=64m: ${grown.out}`);
    const pid = server.proc.pid;
    const after = await writeBatch(c);
    assert.equal(after.error, undefined, `a write after growing the disk: ${JSON.stringify(after.error)}`);
    accepted.push(after.tx);
    const ok = await writeEveryWay(base, c, 'grown');
    assert.equal(ok.command.event, 'ws:m:command-response', JSON.stringify(ok.command));
    assert.equal(ok.models.error, undefined, JSON.stringify(ok.models));
    assert.equal(ok.rpc.payload.status, 'ok', JSON.stringify(ok.rpc));
    for (let i = 0; i < 20; i++) {
      const r = await writeBatch(c);
      assert.equal(r.error, undefined);
      accepted.push(r.tx);
    }
    assert.equal(await countFills(c), total(accepted) + 2, 'reads show the new writes');
    assert.equal(server.proc.pid, pid);
    assert.ok(alive(server.proc));
    await c.close();

    assert.equal(await stopServer(server.proc), 0, 'a clean stop');
    const v = mykoVerify(dir);
    assert.equal(v.status, 0, `myko verify: ${v.output}`);
    const stored = replayType(readLog(dir, 'FaultFill'));
    const want = [...accepted.flatMap((tx) => Array.from({ length: batchSizes.get(tx)! }, (_, j) => `${tx}-${j}`)), 'models-grown', 'rpc-grown'].sort();
    assert.deepEqual([...stored.keys()].sort(), want, 'the log holds exactly the accepted writes');
    const points = readLog(dir, 'RestorePoint').map((r) => (JSON.parse(r.event) as { item: { name: string } }).item.name);
    assert.deepEqual(points, ['rp-grown'], 'the refused command left nothing, the later one is stored');
    const failures = log.lines.filter((l) => l.level >= 50).map((l) => String(l.msg));
    console.log(
      `disk full: ${total(accepted) + 2} accepted writes all in the log and verified, refusals answered MYKO_STORE_FAILED on /myko, /models, /eventrpc and for a command; ` +
        `server log at error level while full: ${[...new Set(failures)].join('; ') || 'none'}; ${machine()}`,
    );
  } finally {
    if (server && alive(server.proc)) server.proc.kill('SIGKILL');
    if (server) await new Promise((r) => (alive(server!.proc) ? server!.proc.once('exit', r) : r(undefined)));
    await unmount(dir);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('read-only data directory: remount,ro is tried live; an ext4 error (errors=remount-ro) under a running server → writes fail clearly, reads go on; after fsck and a restart every accepted write is there', { timeout: 120_000 }, async (t) => {
  // 1. `mount -o remount,ro` of the live data directory (tmpfs).
  const dir = mkdtempSync(join(tmpdir(), 'myko-fault-ro-'));
  const mounted = run('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', dir]);
  if (!mounted.ok) {
    console.warn(`\n!!! SKIPPING the read-only test: cannot mount (${mounted.out}); it needs root. !!!\n`);
    rmSync(dir, { recursive: true, force: true });
    return t.skip('mount not permitted');
  }
  let server: Awaited<ReturnType<typeof spawnServer>> | undefined;
  let remountOutcome = '';
  try {
    server = await spawnServer({ dataDir: dir });
    const c = await mykoSocket(server.url);
    const accepted: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await writeBatch(c);
      assert.equal(r.error, undefined);
      accepted.push(r.tx);
    }
    const ro = run('mount', ['-o', 'remount,ro', dir]);
    if (!ro.ok) {
      // Linux: a file system with files open for writing cannot be remounted read-only (EBUSY).
      assert.match(ro.out, /busy/i, `remount,ro failed for another reason: ${ro.out}`);
      remountOutcome = `refused by the kernel while the server holds its files open for writing: "${ro.out.split('\n')[0]}"`;
      const r = await writeBatch(c);
      assert.equal(r.error, undefined, 'the refused remount changed nothing');
      accepted.push(r.tx);
    } else {
      // Should a kernel allow it: writes fail clearly, reads go on, and remount,rw brings writes back.
      const r = await writeBatch(c);
      assert.equal(r.error?.data?.code, 'MYKO_STORE_FAILED', JSON.stringify(r.error));
      assert.equal(await countFills(c), total(accepted));
      assert.ok(run('mount', ['-o', 'remount,rw', dir]).ok);
      const back = await writeBatch(c);
      assert.equal(back.error, undefined, `writes after remount,rw: ${JSON.stringify(back.error)}`);
      accepted.push(back.tx);
      remountOutcome = `allowed; writes failed with ${r.error?.data?.message} and resumed after remount,rw`;
    }
    await c.close();
    assert.equal(await stopServer(server.proc), 0);
    assert.equal(mykoVerify(dir).status, 0);
    assert.equal(readLog(dir, 'FaultFill').length, total(accepted));
    console.log(`read-only: mount -o remount,ro of the live tmpfs data directory: ${remountOutcome}`);
  } finally {
    if (server && alive(server.proc)) server.proc.kill('SIGKILL');
    await sleep(100);
    await unmount(dir);
    rmSync(dir, { recursive: true, force: true });
  }

  // 2. The file system turns read-only under the server: ext4, errors=remount-ro, an error triggered through sysfs.
  const work = mkdtempSync(join(tmpdir(), 'myko-fault-ext4-'));
  const image = join(work, 'disk.img');
  const mnt = join(work, 'mnt');
  const made = run('sh', ['-c', `truncate -s 32M ${image} && mkfs.ext4 -q -F ${image} && mkdir -p ${mnt}`]);
  const ext4 = made.ok ? run('mount', ['-o', 'loop,errors=remount-ro', image, mnt]) : made;
  if (!ext4.ok) {
    console.warn(`\n!!! SKIPPING the ext4 read-only part: cannot make or loop-mount an ext4 image (${ext4.out}). !!!\n`);
    rmSync(work, { recursive: true, force: true });
    return;
  }
  server = undefined;
  try {
    const dev = basename(execFileSync('findmnt', ['-no', 'SOURCE', mnt], { encoding: 'utf8' }).trim());
    const trigger = `/sys/fs/ext4/${dev}/trigger_fs_error`;
    if (!existsSync(trigger)) {
      console.warn(`\n!!! SKIPPING the ext4 read-only part: ${trigger} does not exist on this kernel. !!!\n`);
      return;
    }
    server = await spawnServer({ dataDir: mnt });
    const log = collectLog(server.proc);
    const base = `ws://127.0.0.1:${server.port}`;
    const c = await mykoSocket(server.url);
    const accepted: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await writeBatch(c);
      assert.equal(r.error, undefined);
      accepted.push(r.tx);
    }
    writeFileSync(trigger, '1');
    const options = execFileSync('findmnt', ['-no', 'OPTIONS', mnt], { encoding: 'utf8' }).trim();
    assert.ok(/\bro\b|emergency_ro/.test(options), `the file system went read-only: ${options}`);

    const refused = await writeBatch(c);
    assert.equal(refused.error?.data?.code, 'MYKO_STORE_FAILED', JSON.stringify(refused.error));
    assert.match(refused.error.data.message, /^append failed: /, 'the message says the store refused the append');
    const again = await writeBatch(c);
    assert.equal(again.error?.data?.code, 'MYKO_STORE_FAILED');
    const ro = await writeEveryWay(base, c, 'ro');
    assert.equal(ro.command.data.code, 'MYKO_STORE_FAILED', JSON.stringify(ro.command));
    assert.equal(ro.models.code, 'MYKO_STORE_FAILED', JSON.stringify(ro.models));
    assert.deepEqual([ro.rpc.payload.status, ro.rpc.payload.code], ['failed', 'MYKO_STORE_FAILED']);
    assert.ok(alive(server.proc), 'the server is up');
    assert.equal(await countFills(c), total(accepted), 'reads answer with exactly the accepted writes');
    await c.close();
    const stop = await stopServer(server.proc);
    assert.equal(stop, 0, `the server stops cleanly on a read-only disk: ${JSON.stringify(log.lines.filter((l) => l.level >= 50).slice(-3))}`);

    // Back to read-write takes an unmount and fsck (ext4 refuses remount,rw after an error); then a restart.
    await unmount(mnt);
    const fsck = run('e2fsck', ['-fy', image]);
    assert.ok(fsck.status === 0 || fsck.status === 1, `e2fsck: ${fsck.out}`);
    assert.ok(run('mount', ['-o', 'loop', image, mnt]).ok);
    const v = mykoVerify(mnt);
    assert.equal(v.status, 0, `myko verify after the read-only episode: ${v.output}`);
    assert.equal(readLog(mnt, 'FaultFill').length, total(accepted), 'every accepted write, nothing refused');
    server = await spawnServer({ dataDir: mnt });
    const c2 = await mykoSocket(server.url);
    const r = await writeBatch(c2);
    assert.equal(r.error, undefined, 'writes succeed after the restart');
    assert.equal(await countFills(c2), (accepted.length + 1) * 10);
    await c2.close();
    assert.equal(await stopServer(server.proc), 0);
    assert.equal(mykoVerify(mnt).status, 0);
    console.log(
      `read-only (ext4 errors=remount-ro, error triggered under the running server): writes refused with MYKO_STORE_FAILED "${refused.error.data.message}" ` +
        `on every protocol, reads served, clean stop, fsck + restart: ${total(accepted)} accepted writes verified, writes resume; ${machine()}`,
    );
  } finally {
    if (server && alive(server.proc)) server.proc.kill('SIGKILL');
    await sleep(100);
    await unmount(mnt);
    rmSync(work, { recursive: true, force: true });
  }
});

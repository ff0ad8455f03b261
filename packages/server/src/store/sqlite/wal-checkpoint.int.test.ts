/**
 * WAL checkpoints off the commit path (wal-checkpoint.ts): a quiet store is checkpointed at the next
 * tick; under continuous writes the WAL is checkpointed once it holds about the bytes it is allowed,
 * learning what a row costs in frames, whether rows come one per commit or thousands per commit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { tempDir, sleep } from '../../testing/index.js';
import { checkpointWalOffCommitPath } from './wal-checkpoint.js';

function open(dir: string, maxWalBytes: number, seen: { frames: number; why: string }[]) {
  const db = new Database(join(dir, 'w.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('locking_mode = EXCLUSIVE');
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)');
  checkpointWalOffCommitPath(db, { tickMs: 5, maxAgeMs: 60_000, maxWalBytes, onCheckpoint: (frames, why) => seen.push({ frames, why }) });
  return db;
}

/** Call `commit` for `ms`, once every turn of the event loop: never a pause long enough to look quiet. */
async function commitFor(ms: number, commit: () => void): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    commit();
    await new Promise((r) => setImmediate(r));
  }
}

/** Write for `ms` without a pause long enough to look quiet: `rows` rows per commit, a commit every turn of the loop. */
async function writeFor(db: Database.Database, ms: number, rows: number): Promise<void> {
  const ins = db.prepare('INSERT INTO t (v) VALUES (?)');
  await commitFor(
    ms,
    db.transaction(() => {
      for (let i = 0; i < rows; i++) ins.run('x'.repeat(200));
    }),
  );
}

for (const rows of [1, 500]) {
  test(`under continuous writes (${rows} row(s) per commit) the WAL is checkpointed at about its byte bound, never far past it`, async () => {
    const dir = tempDir('myko-walckpt-');
    const seen: { frames: number; why: string }[] = [];
    // 4,000 frames of 4 KiB pages (16 MB). Large beside what one tick's writes add: a bound of 400
    // frames was crossed by a whole tick's writes and more on a machine whose single-row commits
    // (no fsync here) wrote ~150 frames a millisecond, and a late tick then put a checkpoint past 3x.
    const bound = 4000;
    const db = open(dir, bound * 4120, seen);
    try {
      await writeFor(db, 1500, rows);
      const bySize = seen.filter((c) => c.why === 'size');
      assert.ok(bySize.length >= 2, `checkpoints by size under continuous writes (${JSON.stringify(seen)})`);
      // After the first (which learns the rows' cost in frames), each stops the WAL near its bound:
      // within one tick's writes of it, never several times past it.
      const frames = bySize.slice(1).map((c) => c.frames);
      for (const f of frames) assert.ok(f < bound * 3, `a checkpoint at ${f} frames (bound ${bound}): ${frames.join(' ')}`);
      const median = [...frames].sort((a, b) => a - b)[Math.floor(frames.length / 2)]!;
      assert.ok(median < bound * 1.5, `checkpoints at about the bound: median ${median} frames (bound ${bound}): ${frames.join(' ')}`);
      assert.equal(seen.filter((c) => c.why === 'age').length, 0, 'none waited for the age bound');
    } finally {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('a store that goes quiet is checkpointed at the next tick, whatever the WAL holds', async () => {
  const dir = tempDir('myko-walckpt-');
  const seen: { frames: number; why: string }[] = [];
  const db = open(dir, 64 * 1024 * 1024, seen);
  try {
    db.prepare('INSERT INTO t (v) VALUES (?)').run('one');
    await sleep(100);
    assert.equal(seen.length, 1, JSON.stringify(seen));
    assert.equal(seen[0]!.why, 'quiet');
    assert.ok(seen[0]!.frames > 0);
    await sleep(50);
    assert.equal(seen.length, 1, 'nothing written since: no further checkpoint');
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('with another connection appending (exclusive), a checkpoint makes its second pass holding the slot, and counts as whole only then', async () => {
  const dir = tempDir('myko-walckpt-');
  const seen: { frames: number; complete: boolean }[] = [];
  let allow = true;
  let takes = 0;
  let releases = 0;
  const db = new Database(join(dir, 'w.db'));
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)');
  checkpointWalOffCommitPath(db, {
    tickMs: 5,
    exclusive: { take: () => (takes++, allow), release: () => releases++ },
    onCheckpoint: (frames, _why, complete) => seen.push({ frames, complete }),
  });
  try {
    db.prepare('INSERT INTO t (v) VALUES (?)').run('one');
    await sleep(60);
    assert.ok(seen.length >= 1, JSON.stringify(seen));
    assert.equal(seen[0]!.complete, true, 'the slot taken: the second pass copied every frame');
    assert.equal(takes, seen.length);
    assert.equal(releases, takes, 'released after each pass that took it');
    allow = false;
    db.prepare('INSERT INTO t (v) VALUES (?)').run('two');
    const before = seen.length;
    await sleep(60);
    assert.ok(seen.length > before, JSON.stringify(seen));
    assert.equal(seen.at(-1)!.complete, false, 'without the slot the first pass cannot know it copied everything');
    assert.equal(releases, takes - 1, 'a slot not taken is not released');
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('rows another connection appends during a checkpoint count toward it, not the next: the WAL stays near its bound after a burst', async () => {
  // The store thread's case (thread-worker.ts): its connection checkpoints while the event loop's appends.
  // Rows appended during a checkpoint's first pass are copied by its second pass; counted toward the next
  // checkpoint instead, they made it learn a fraction of a frame per row, and the WAL then grew far past
  // its bound (thread.int.test.ts failed 4 runs in 10 on an Intel host).
  const dir = tempDir('myko-walckpt-');
  const seen: { frames: number; why: string; complete: boolean }[] = [];
  const file = join(dir, 'w.db');
  const checkpointer = new Database(file);
  checkpointer.pragma('journal_mode = WAL');
  checkpointer.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)');
  const appender = new Database(file);
  appender.pragma('wal_autocheckpoint = 0');
  const ins = appender.prepare('INSERT INTO t (v) VALUES (?)');
  let appended = 0;
  const appendOne = () => {
    ins.run('x'.repeat(200));
    appended++;
  };
  const bound = 2000;
  // 5,000 commits land just after a checkpoint has read the count (as during a long first pass beside a
  // stream of appends): the quiet checkpoint's reading of the count, after an earlier tick saw the same one.
  let burst = true;
  let lastCount = -1;
  checkpointWalOffCommitPath(checkpointer, {
    tickMs: 5,
    maxAgeMs: 60_000,
    maxWalBytes: bound * 4120,
    otherChanges: () => {
      const count = appended;
      if (burst && count === 1 && lastCount === 1) {
        burst = false;
        for (let i = 0; i < 5000; i++) appendOne();
      }
      lastCount = count;
      return count;
    },
    exclusive: { take: () => true, release: () => undefined },
    onCheckpoint: (frames, why, complete) => {
      seen.push({ frames, why, complete });
      // A few commits right after it: they restart the WAL, and are all the next checkpoint finds there.
      if (seen.length === 1) for (let i = 0; i < 20; i++) appendOne();
    },
  });
  try {
    appendOne();
    await sleep(50); // the quiet checkpoint, with its burst
    assert.ok(seen.length >= 1 && !burst, JSON.stringify(seen));
    await commitFor(1500, appendOne);
    const bySize = seen.filter((c) => c.why === 'size');
    assert.ok(bySize.length >= 3, `checkpoints by size under continuous appends (${JSON.stringify(seen)})`);
    const frames = bySize.slice(1).map((c) => c.frames);
    for (const f of frames) assert.ok(f < bound * 3, `a checkpoint at ${f} frames (bound ${bound}): ${frames.join(' ')}`);
  } finally {
    appender.close();
    checkpointer.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

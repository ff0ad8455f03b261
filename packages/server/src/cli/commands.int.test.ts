/**
 * The log commands and the help as a user meets them: a mistyped data
 * directory, a pipe closed by `head`, `myko CMD --help`, a mistyped flag.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { envNames } from '../config.js';
import { startTestServer, tempDir } from '../testing/index.js';
import { commands } from './commands.js';
import { cleanEnv, cliPath, run } from './harness.js';

test('verify, history and export on a missing or mistyped data directory fail with a clear message and create nothing', async () => {
  const root = tempDir('myko-cli-missing-');
  try {
    const missing = join(root, 'dta'); // a typo of ./data
    const empty = join(root, 'empty');
    mkdirSync(empty);
    const cases: [string, string[], Record<string, string>, { cwd?: string }][] = [
      ['verify --data-dir missing', ['verify', '--data-dir', missing], {}, {}],
      ['history --data-dir missing', ['history', 'Cue', 'c1', '--data-dir', missing], {}, {}],
      ['export --data-dir missing', ['export', '--data-dir', missing], {}, {}],
      ['verify MYKO_DATA_DIR=missing', ['verify'], { MYKO_DATA_DIR: missing }, {}],
      ['verify --data-dir empty', ['verify', '--data-dir', empty], {}, {}],
      ['export --data-dir empty', ['export', '--data-dir', empty], {}, {}],
      ['verify with the default ./data absent', ['verify'], {}, { cwd: root }],
    ];
    for (const [what, args, env, opts] of cases) {
      const r = await run(args, env, opts);
      assert.equal(r.code, 1, `${what}: exit 1\n${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /no store in .*--data-dir/, `${what}: says there is no store and which flag to check`);
      assert.doesNotMatch(r.stdout, /ok:|verified|exported/, `${what}: reports no success`);
    }
    assert.ok(!existsSync(missing), 'the mistyped directory was not created');
    assert.deepEqual(readdirSync(empty), [], 'nothing was created in the empty directory');
    assert.ok(!existsSync(join(root, 'data')), 'no ./data was created');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('import: a missing --in file or a failed import into a fresh directory leaves nothing behind; a good one creates the directory', async () => {
  const root = tempDir('myko-cli-import-');
  try {
    const source = join(root, 'source');
    const ts = await startTestServer({ dataDir: source });
    await ts.server.emit(Array.from({ length: 20 }, (_, i) => ({ itemType: 'Cue', changeType: 'SET' as const, item: { id: `c${i}` } })));
    await ts.server.stop();
    const file = join(root, 'log.ndjson');
    const exported = await run(['export', '--out', file, '--data-dir', source]);
    assert.equal(exported.code, 0, exported.stderr);

    const fresh = join(root, 'fresh', 'store');
    const noFile = await run(['import', '--in', join(root, 'no-such.ndjson'), '--data-dir', fresh]);
    assert.equal(noFile.code, 1);
    assert.match(noFile.stderr, /cannot read --in .*no-such\.ndjson/);
    assert.ok(!existsSync(fresh), 'a missing input creates no directory');

    const bad = join(root, 'bad.ndjson');
    writeFileSync(bad, '{not json\n');
    const failed = await run(['import', '--in', bad, '--data-dir', fresh]);
    assert.equal(failed.code, 1);
    assert.match(failed.stdout, /import failed/);
    assert.ok(!existsSync(fresh), 'a failed import removes the directory it created');

    const ok = await run(['import', '--in', file, '--data-dir', fresh]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    // Every exported line: the 20 Cues, and the server's own Server item set at its start and deleted at its stop.
    const lines = readFileSync(file, 'utf8').trim().split('\n').length;
    assert.ok(lines >= 20);
    assert.match(ok.stdout, new RegExp(`imported ${lines} events`));
    assert.equal((await run(['verify', '--data-dir', fresh])).code, 0, 'the fresh store verifies');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a stdout closed by the reader (`| head`) ends history, export and --help quietly: exit 141, no stack trace', async () => {
  const dataDir = tempDir('myko-cli-pipe-');
  try {
    const ts = await startTestServer({ dataDir });
    // Well past a pipe's buffer (64 KiB), so the command is still writing when the reader goes.
    for (let k = 0; k < 4; k++)
      await ts.server.emit(Array.from({ length: 500 }, (_, i) => ({ itemType: 'Cue', changeType: 'SET' as const, item: { id: 'c1', i: k * 500 + i, pad: 'x'.repeat(300) } })));
    await ts.server.stop();
    for (const args of [['history', 'Cue', 'c1', '--json'], ['history', 'Cue', 'c1'], ['export'], ['serve', '--help']]) {
      const r = await new Promise<{ code: number | null; signal: string | null; stderr: string; first: string }>((resolve) => {
        const proc = spawn(process.execPath, [cliPath, ...args, ...(args.includes('--help') ? [] : ['--data-dir', dataDir])], {
          env: cleanEnv(),
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stderr = '';
        let first = '';
        proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        // What `head -c` does: take the first chunk, then close the pipe.
        proc.stdout.once('data', (d: Buffer) => {
          first = d.toString().slice(0, 40);
          proc.stdout.destroy();
        });
        proc.once('close', (code, signal) => resolve({ code, signal, stderr, first }));
      });
      const what = `myko ${args.join(' ')}`;
      assert.ok(r.first.length > 0, `${what} wrote before the pipe closed`);
      assert.equal(r.stderr, '', `${what}: nothing on stderr`);
      // --help may finish its single write before the close: then it exits 0.
      assert.ok(r.code === 141 || (args.includes('--help') && r.code === 0), `${what}: exit ${r.code} (${r.signal})`);
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('myko CMD --help prints that command\'s usage and flags; serve\'s names every environment variable, authentication and permissions included', async () => {
  for (const c of commands) {
    const [r, viaHelp] = await Promise.all([run([c.name, '--help']), run(['help', c.name])]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(viaHelp.stdout, r.stdout, '`myko help CMD` is the same text');
    assert.match(r.stdout, new RegExp(`^myko ${c.name} `), `${c.name}: its own help`);
    assert.ok(r.stdout.includes(`myko ${c.name} ${c.usage}`), `${c.name}: usage line`);
    for (const f of c.flags) assert.ok(r.stdout.includes(`--${f.flag}`), `${c.name} --help lists --${f.flag}`);
    if (c.name !== 'serve') assert.ok(!r.stdout.includes('--port'), `${c.name} --help lists only its own flags`);
  }
  const serve = await run(['serve', '--help']);
  for (const env of Object.keys(envNames)) assert.ok(serve.stdout.includes(env), `serve --help names ${env}`);
  for (const s of ['--auth-jwt-secret', '--auth-jwks-url', '--auth-anonymous', '--permissions-file', 'Authorization: Bearer', 'SIGTERM'])
    assert.ok(serve.stdout.includes(s), `serve --help mentions ${s}`);
  assert.match((await run(['history', '--help'])).stdout, /--json/);
});

test('errors speak in flags: a limit above the hard limit, a mistyped flag (nearest suggested), a flag of another command, a mistyped command', async () => {
  const dataDir = tempDir('myko-cli-flagerr-');
  try {
    const cases: [string[], Record<string, string>, RegExp][] = [
      [['serve', '--max-frame-bytes', '20000000'], {}, /--max-frame-bytes \/ MYKO_MAX_FRAME_BYTES \(20000000\) must not be above --hard-max-frame-bytes \/ MYKO_HARD_MAX_FRAME_BYTES \(16777216\)/],
      [['serve'], { MYKO_MAX_FRAME_BYTES: '20000000' }, /--max-frame-bytes \/ MYKO_MAX_FRAME_BYTES/],
      [['serve', '--auth-anonymous'], {}, /--auth-anonymous .* needs authentication to be on \(--auth-jwt-secret/],
      [['serve', '--prot', '1'], {}, /unknown flag --prot; did you mean --port\?/],
      [['serve', '--data-dri', dataDir], {}, /did you mean --data-dir\?/],
      [['verify', '--port', '1'], {}, /unknown flag --port \(a flag of myko serve, not of myko verify\)/],
      [['verfy'], {}, /unknown command verfy; did you mean verify\?/],
    ];
    for (const [args, env, message] of cases) {
      const r = await run(args, env);
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(r.stderr, message, `${args.join(' ')}: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /\b(maxFrameBytes|hardMaxFrameBytes|authAnonymous)\b/, 'no internal names');
    }
    assert.deepEqual(readdirSync(dataDir), [], 'nothing started');
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

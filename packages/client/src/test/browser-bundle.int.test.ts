import { test } from 'node:test';
import assert from 'node:assert/strict';
import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';

const dist = (file: string) => fileURLToPath(new URL(`../${file}`, import.meta.url));

/**
 * Fails the build on any import of a Node built-in or of `ws`. esbuild alone
 * would not: for platform 'browser' it resolves `ws` to its throwing browser
 * stub, and a bare built-in name could be shimmed by a bundler config.
 */
const nodeOnly = new Set(['ws', ...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
const forbidNode: Plugin = {
  name: 'forbid-node',
  setup(b) {
    b.onResolve({ filter: /.*/ }, (args) => (nodeOnly.has(args.path) ? { errors: [{ text: `browser bundle imports ${args.path} (from ${args.importer})` }] } : undefined));
  },
};

const bundle = (entry: string) =>
  build({ entryPoints: [dist(entry)], bundle: true, platform: 'browser', format: 'esm', write: false, logLevel: 'silent', plugins: [forbidNode] });

test('the main entry bundles for the browser with no Node built-ins and no ws', async () => {
  const out = await bundle('index.js');
  assert.equal(out.errors.length, 0);
  const code = out.outputFiles[0]!.text;
  assert.ok(!code.includes('require("ws")'), 'no require("ws") in the bundle');
  assert.ok(!/from\s*["']node:/.test(code), 'no node: imports in the bundle');
  assert.ok(/\bMykoClient\b/.test(code), 'the client is in it');
  assert.ok(code.includes('ws:m:event-batch'), 'with the protocol constants it uses');
});

test('the same check rejects the Node entry (so the check itself works)', async () => {
  await assert.rejects(bundle('node.js'), (err: Error & { errors?: { text: string }[] }) => {
    assert.ok(err.errors?.some((e) => e.text.startsWith('browser bundle imports ws')), JSON.stringify(err.errors));
    return true;
  });
  // And without the plugin, esbuild refuses an unresolvable node: import for the browser platform.
  await assert.rejects(
    build({ stdin: { contents: 'import "node:fs"', resolveDir: dist('.') }, bundle: true, platform: 'browser', write: false, logLevel: 'silent' }),
    /node:fs/,
  );
});

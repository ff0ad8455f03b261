import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as protocol from '@myko/protocol';

/** A wire change without a version note fails here (STYLE: schemas hashed in a test). */
test('the wire schemas match the recorded protocol version', () => {
  const schemas = Object.fromEntries(
    Object.entries(protocol)
      .filter(([name]) => name.endsWith('Schema'))
      .sort(([a], [b]) => (a < b ? -1 : 1)),
  );
  const hash = createHash('sha256').update(protocol.canonicalJson(schemas)).digest('hex');
  assert.equal(
    hash,
    protocol.PROTOCOL_SCHEMA_HASH,
    `wire schemas changed: bump PROTOCOL_VERSION, note it in packages/protocol/CHANGELOG.md, set PROTOCOL_SCHEMA_HASH = '${hash}'`,
  );
  const require = createRequire(import.meta.url);
  const changelog = readFileSync(require.resolve('@myko/protocol').replace(/dist\/index\.js$/, 'CHANGELOG.md'), 'utf8');
  assert.ok(changelog.includes(`## ${protocol.PROTOCOL_VERSION}`), 'CHANGELOG.md has an entry for the current version');
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { SignJWT } from 'jose';
import { startTestServer, tempDir, callTool } from '../testing/index.js';
import type { MykoPlugin } from '../core/registry.js';

const cliPath = fileURLToPath(new URL('../cli.js', import.meta.url));

/** One plugin module, loaded by the server here and by `myko mcp --plugins` in the child, as in production. */
const pluginSource = `
export default {
  name: 'stdio-test',
  itemTypes: [{ name: 'Cue', schema: { type: 'object', required: ['id', 'label'], properties: { label: { type: 'string' } } } }],
  commands: [{
    id: 'AddCue',
    schema: { type: 'object', required: ['label'], properties: { label: { type: 'string', minLength: 1 } } },
    async handler(p, ctx) {
      const id = 'added-' + (ctx.state.count('Cue') + 1);
      await ctx.emit({ itemType: 'Cue', changeType: 'SET', item: { id, label: p.label } });
      return { id, sub: ctx.claims?.sub ?? null };
    },
  }],
};
`;

const secret = 'a-test-secret-that-is-long-enough-for-hs256!';

test('myko mcp --url: the same tools over stdio, as a Myko client of a running server (token, query, report, history, command, errors)', async () => {
  const dir = tempDir();
  const pluginFile = join(dir, 'plugin.mjs');
  writeFileSync(pluginFile, pluginSource);
  const plugin = ((await import(pathToFileURL(pluginFile).href)) as { default: MykoPlugin }).default;
  const ts = await startTestServer({ plugins: [plugin], config: { authJwtSecret: secret } });
  const token = await new SignJWT({ sub: 'desktop-agent' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m').sign(new TextEncoder().encode(secret));
  await ts.server.emit(['c1', 'c2', 'c3'].map((id) => ({ itemType: 'Cue', changeType: 'SET' as const, item: { id, label: `Go ${id}` } })));
  const agent = new Client({ name: 'desktop-agent', version: '1.0.0' });
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [cliPath, 'mcp', '--url', ts.url, '--token', token, '--plugins', pluginFile],
    env: { PATH: process.env.PATH ?? '' },
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    await agent.connect(transport);
    const { tools } = await agent.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), ['item_history', 'list_item_types', 'query_items', 'read_report', 'run_command']);
    const run = tools.find((t) => t.name === 'run_command')!;
    assert.ok((run.inputSchema.properties!.commandId as { enum: string[] }).enum.includes('AddCue'));

    const types = await callTool(agent, 'list_item_types');
    assert.deepEqual(types.value.itemTypes.find((t: { name: string }) => t.name === 'Cue'), { name: 'Cue', count: 3, persisted: true });
    const page = await callTool(agent, 'query_items', { itemType: 'Cue', limit: 2, offset: 1 });
    assert.equal(page.isError, false, JSON.stringify(page.value));
    assert.equal(page.value.totalCount, 3);
    assert.deepEqual(page.value.items.map((i: { id: string }) => i.id), ['c2', 'c3']);
    assert.deepEqual((await callTool(agent, 'read_report', { reportId: 'GetCuesCount' })).value.value, 3);

    const added = await callTool(agent, 'run_command', { commandId: 'AddCue', params: { label: 'over stdio' } });
    assert.equal(added.isError, false, JSON.stringify(added.value));
    assert.equal(added.value.response.sub, 'desktop-agent');
    assert.equal(ts.server.state.get('Cue', added.value.response.id)?.label, 'over stdio');
    const history = await callTool(agent, 'item_history', { itemType: 'Cue', id: added.value.response.id });
    assert.equal(history.value.events.length, 1);

    const bad = await callTool(agent, 'run_command', { commandId: 'AddCue', params: { label: '' } });
    assert.deepEqual([bad.isError, bad.value.code], [true, 'MYKO_BAD_COMMAND']);
    const unknown = await callTool(agent, 'read_report', { reportId: 'NoSuchReport' });
    assert.equal(unknown.isError, true);
  } catch (err) {
    throw new Error(`${(err as Error).message}\nmyko mcp stderr:\n${stderr}`);
  } finally {
    await agent.close();
    await ts.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('myko mcp --mcp read-only over stdio: no run_command', async () => {
  const ts = await startTestServer();
  const agent = new Client({ name: 'desktop-agent', version: '1.0.0' });
  try {
    await agent.connect(new StdioClientTransport({ command: process.execPath, args: [cliPath, 'mcp', '--url', ts.url, '--mcp', 'read-only', '--plugins', ''], stderr: 'pipe' }));
    const names = (await agent.listTools()).tools.map((t) => t.name);
    assert.ok(names.includes('query_items') && !names.includes('run_command'), names.join());
    const refused = await callTool(agent, 'run_command', { commandId: 'RestoreToPoint', params: {} });
    assert.deepEqual([refused.isError, refused.value.code], [true, 'MYKO_FORBIDDEN']);
  } finally {
    await agent.close();
    await ts.close();
  }
});

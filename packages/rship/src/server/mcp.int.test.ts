import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { startTestServer, connectMcp, callTool, mcpUrl, sleep, type TestServer } from '@myko/server/testing';
import { rshipPlugin } from './plugin.js';
import { connect, ExecutorError, type ExecutorSession } from '../executor/node.js';

/** The Rocketship MCP tools against a real executor (the executor SDK) on a real server. */

let ts: TestServer;
let executor: ExecutorSession;
const calls: unknown[] = [];
const burnSchema = { type: 'object', required: ['intensity'], properties: { intensity: { type: 'number', minimum: 0, maximum: 10 } }, additionalProperties: false };

before(async () => {
  ts = await startTestServer({ plugins: [rshipPlugin({ actionTimeoutMs: 3000 })] });
  executor = connect({ url: ts.url, reconnect: { initialDelayMs: 50, maxDelayMs: 300 } });
  const instance = executor.addInstance({ id: 'inst', name: 'Bluth Executor', serviceId: 'bluth-company', serviceTypeCode: 'bluth', machine: { name: 'Stand PC' } });
  const stand = instance.addTarget({ id: 'banana-stand', name: 'The Banana Stand', bgColor: '#ffff00', fgColor: '#000000' });
  stand.addAction('burn', burnSchema, (data: { intensity: number }) => {
    calls.push(data);
    if (data.intensity > 8) throw new ExecutorError('TOO_HOT', 'too hot for the stand');
    return { burned: true, intensity: data.intensity };
  });
  const sold = stand.addEmitter('banana-sold', { type: 'object', properties: { count: { type: 'integer' } } });
  await executor.registered();
  sold.pulse({ count: 3 });
  for (let i = 0; i < 100 && !ts.server.state.get('Pulse', 'banana-stand:banana-sold'); i++) await sleep(10);
});
after(async () => {
  await executor.close();
  await ts.close();
});

test('rship tools are contributed by the plugin: listed with their schemas; targets with status, actions (payload schemas) and emitters (latest values)', async () => {
  const agent = await connectMcp(mcpUrl(ts.url));
  try {
    const { tools } = await agent.listTools();
    const names = tools.map((t) => t.name);
    assert.ok(names.includes('rship_list_targets') && names.includes('rship_execute_action'), names.join());
    assert.deepEqual(tools.find((t) => t.name === 'rship_execute_action')!.inputSchema.required, ['actionId']);
    const listed = await callTool(agent, 'rship_list_targets');
    assert.equal(listed.isError, false, JSON.stringify(listed.value));
    const stand = listed.value.targets.find((t: { id: string }) => t.id === 'banana-stand');
    assert.equal(stand.status, 'online');
    assert.deepEqual(stand.onlineInstances, ['inst']);
    assert.deepEqual(stand.actions, [{ id: 'banana-stand:burn', name: 'burn', schema: burnSchema }]);
    assert.deepEqual(stand.emitters.map((e: { id: string; latest: { data: unknown } | null }) => [e.id, e.latest?.data]), [['banana-stand:banana-sold', { count: 3 }]]);
    const one = await callTool(agent, 'rship_list_targets', { targetId: 'banana-stand' });
    assert.deepEqual(one.value.targets.map((t: { id: string }) => t.id), ['banana-stand']);
  } finally {
    await agent.close();
  }
});

test('run_view: a server-defined view (GetTargetViews) through the view engine, windowed; bad params are MYKO_BAD_QUERY', async () => {
  const agent = await connectMcp(mcpUrl(ts.url));
  try {
    const tool = (await agent.listTools()).tools.find((t) => t.name === 'run_view');
    assert.ok(tool, 'run_view is offered when views are registered');
    assert.ok((tool.inputSchema.properties!.viewId as { enum: string[] }).enum.includes('GetTargetViews'));
    const r = await callTool(agent, 'run_view', { viewId: 'GetTargetViews', params: { serviceId: 'bluth-company' }, limit: 10 });
    assert.equal(r.isError, false, JSON.stringify(r.value));
    const stand = r.value.items.find((v: { id: string }) => v.id === 'banana-stand');
    assert.equal(stand.isOnline, true);
    assert.deepEqual(stand.actions.map((a: { id: string }) => a.id), ['banana-stand:burn']);
    assert.equal(r.value.totalCount, r.value.items.length);
    const bad = await callTool(agent, 'run_view', { viewId: 'GetTargetViews', params: { nope: 1 } });
    assert.deepEqual([bad.isError, bad.value.code], [true, 'MYKO_BAD_QUERY']);
  } finally {
    await agent.close();
  }
});

test("rship_execute_action runs the action on the executor; a payload off the action's schema is a tool error RSHIP_BAD_PAYLOAD and never reaches it", async () => {
  const agent = await connectMcp(mcpUrl(ts.url));
  try {
    calls.length = 0;
    const ok = await callTool(agent, 'rship_execute_action', { actionId: 'banana-stand:burn', payload: { intensity: 5 } });
    assert.equal(ok.isError, false, JSON.stringify(ok.value));
    assert.deepEqual(ok.value.response, { burned: true, intensity: 5 });
    assert.deepEqual(calls, [{ intensity: 5 }]);

    const bad = await callTool(agent, 'rship_execute_action', { actionId: 'banana-stand:burn', payload: { intensity: 'very' } });
    assert.equal(bad.isError, true);
    assert.equal(bad.value.code, 'RSHIP_BAD_PAYLOAD');
    assert.match(bad.value.message, /data\.intensity must be number/);
    const unknown = await callTool(agent, 'rship_execute_action', { actionId: 'no-such-action', payload: {} });
    assert.deepEqual([unknown.isError, unknown.value.code], [true, 'RSHIP_UNKNOWN_ACTION']);
    const failed = await callTool(agent, 'rship_execute_action', { actionId: 'banana-stand:burn', payload: { intensity: 9 } });
    assert.equal(failed.isError, true);
    assert.equal(failed.value.code, 'TOO_HOT');
    assert.deepEqual(calls, [{ intensity: 5 }, { intensity: 9 }]);
  } finally {
    await agent.close();
  }
});

test("each action's schema is a resource (myko://rship/action/{id}); a subscriber is told when the action changes", async () => {
  const agent = await connectMcp(mcpUrl(ts.url));
  const uri = `myko://rship/action/${encodeURIComponent('banana-stand:burn')}`;
  const original = ts.server.state.get('Action', 'banana-stand:burn')!;
  try {
    const { resources } = await agent.listResources();
    assert.ok(resources.some((r) => r.uri === uri), JSON.stringify(resources.map((r) => r.uri)));
    const read = async () => JSON.parse(((await agent.readResource({ uri })).contents[0] as { text: string }).text);
    assert.deepEqual(await read(), { id: 'banana-stand:burn', name: 'burn', targetId: 'banana-stand', schema: burnSchema });
    await assert.rejects(agent.readResource({ uri: 'myko://rship/action/nope' }), /RSHIP_UNKNOWN_ACTION/);

    let heard!: () => void;
    const updated = new Promise<void>((r) => (heard = r));
    agent.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
      if (n.params.uri === uri) heard();
    });
    await agent.subscribeResource({ uri });
    const wider = { ...burnSchema, properties: { intensity: { type: 'number', minimum: 0, maximum: 11 } } };
    const { hash: _h, ...rest } = original;
    await ts.server.emit({ itemType: 'Action', changeType: 'SET', item: { ...rest, schema: wider } });
    await Promise.race([updated, sleep(5000).then(() => assert.fail('no update within 5 s'))]);
    assert.deepEqual((await read()).schema, wider);
  } finally {
    const { hash: _h, ...rest } = original;
    await ts.server.emit({ itemType: 'Action', changeType: 'SET', item: rest });
    await agent.close();
  }
});

test('read-only mode: rship_execute_action is not offered; rship_list_targets is', async () => {
  const ro = await startTestServer({ plugins: [rshipPlugin()], config: { mcp: 'read-only' } });
  const agent = await connectMcp(mcpUrl(ro.url));
  try {
    const names = (await agent.listTools()).tools.map((t) => t.name);
    assert.ok(names.includes('rship_list_targets') && !names.includes('rship_execute_action'), names.join());
    const refused = await callTool(agent, 'rship_execute_action', { actionId: 'banana-stand:burn', payload: { intensity: 1 } });
    assert.deepEqual([refused.isError, refused.value.code], [true, 'MYKO_FORBIDDEN']);
  } finally {
    await agent.close();
    await ro.close();
  }
});

test('the same Rocketship tools over stdio (myko mcp --url, default plugins): list targets and execute an action on the executor', async () => {
  const cli = fileURLToPath(new URL('../../../server/dist/cli.js', import.meta.url));
  const agent = new Client({ name: 'desktop-agent', version: '1.0.0' });
  try {
    await agent.connect(new StdioClientTransport({ command: process.execPath, args: [cli, 'mcp', '--url', ts.url], stderr: 'pipe' }));
    const listed = await callTool(agent, 'rship_list_targets', { targetId: 'banana-stand' });
    assert.equal(listed.value.targets[0].status, 'online');
    const viewed = await callTool(agent, 'run_view', { viewId: 'GetTargetViews', params: {} });
    assert.equal(viewed.isError, false, JSON.stringify(viewed.value));
    assert.ok(viewed.value.items.some((v: { id: string; isOnline: boolean }) => v.id === 'banana-stand' && v.isOnline));
    calls.length = 0;
    const ok = await callTool(agent, 'rship_execute_action', { actionId: 'banana-stand:burn', payload: { intensity: 2 } });
    assert.deepEqual(ok.value.response, { burned: true, intensity: 2 });
    assert.deepEqual(calls, [{ intensity: 2 }]);
    const bad = await callTool(agent, 'rship_execute_action', { actionId: 'banana-stand:burn', payload: { intensity: -1 } });
    assert.deepEqual([bad.isError, bad.value.code], [true, 'RSHIP_BAD_PAYLOAD']);
  } finally {
    await agent.close();
  }
});

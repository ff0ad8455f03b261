import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startTestServer, tempDir, callTool, connectMcp, mcpUrl, type TestServer } from '../testing/index.js';
import { defineCommand, definePlugin, defineReport } from '../core/registry.js';

const app = definePlugin({
  name: 'mcp-test',
  itemTypes: [{ name: 'Cue', schema: { type: 'object', required: ['id', 'label'], properties: { label: { type: 'string' } } } }],
  commands: [
    defineCommand<{ label: string }, { id: string }>({
      id: 'AddCue',
      schema: { type: 'object', required: ['label'], properties: { label: { type: 'string', minLength: 1 } } },
      async handler(params, ctx) {
        const id = `added-${ctx.state.count('Cue') + 1}`;
        await ctx.emit({ itemType: 'Cue', changeType: 'SET', item: { id, label: params.label } });
        return { id };
      },
    }),
    defineCommand({ id: 'Whoami', handler: (_p, ctx) => ({ sub: ctx.claims?.sub ?? null, clientId: ctx.clientId ?? null }) }),
  ],
  reports: [
    defineReport<Record<string, unknown>, string[]>({
      id: 'CueLabels',
      dependsOn: () => ['Cue'],
      compute: (_p, state) => [...state.all('Cue')].map((c) => String(c.label)).sort(),
    }),
  ],
});

let ts: TestServer;
let url: string;
before(async () => {
  ts = await startTestServer({ plugins: [app] });
  url = mcpUrl(ts.url);
  await ts.server.emit(['c1', 'c2', 'c3', 'c4', 'c5'].map((id) => ({ itemType: 'Cue', changeType: 'SET' as const, item: { id, label: `Go ${id}` } })));
});
after(async () => {
  await ts.close();
});

test('tools are listed with JSON Schema inputs built from the registry', async () => {
  const agent = await connectMcp(url);
  try {
    const { tools } = await agent.listTools();
    const byName = new Map(tools.map((t) => [t.name, t]));
    assert.deepEqual([...byName.keys()].sort(), ['item_history', 'list_item_types', 'query_items', 'read_report', 'run_command']);
    const query = byName.get('query_items')!;
    assert.deepEqual(query.inputSchema.required, ['itemType']);
    assert.ok((query.inputSchema.properties!.itemType as { examples: string[] }).examples.includes('Cue'));
    assert.equal(query.annotations?.readOnlyHint, true);
    const run = byName.get('run_command')!;
    assert.equal(run.annotations?.readOnlyHint, false);
    assert.ok((run.inputSchema.properties!.commandId as { enum: string[] }).enum.includes('AddCue'));
    // The command's declared params schema is in the tool's input schema.
    assert.ok(JSON.stringify(run.inputSchema).includes('"minLength":1'), JSON.stringify(run.inputSchema));
    const types = await callTool(agent, 'list_item_types');
    assert.deepEqual(types.value.itemTypes.find((t: { name: string }) => t.name === 'Cue'), { name: 'Cue', count: 5, persisted: true });
  } finally {
    await agent.close();
  }
});

test('query_items: a window (limit, offset) of the result sorted by id, with totalCount; a bad query is a tool error with its code', async () => {
  const agent = await connectMcp(url);
  try {
    const page = await callTool(agent, 'query_items', { itemType: 'Cue', limit: 2, offset: 1 });
    assert.equal(page.isError, false);
    assert.equal(page.value.totalCount, 5);
    assert.deepEqual(page.value.items.map((i: { id: string }) => i.id), ['c2', 'c3']);
    const byQuery = await callTool(agent, 'query_items', { itemType: 'Cue', queryId: 'GetCuesByQuery', params: { label: 'Go c4' } });
    assert.deepEqual(byQuery.value.items.map((i: { id: string; label: string }) => [i.id, i.label]), [['c4', 'Go c4']]);
    const bad = await callTool(agent, 'query_items', { itemType: 'Cue', queryId: 'GetCuesByIds', params: { ids: 'c1' } });
    assert.equal(bad.isError, true);
    assert.equal(bad.value.code, 'MYKO_BAD_QUERY');
    assert.match(bad.value.message, /ids must be an array/);
    const badArgs = await callTool(agent, 'query_items', { itemType: 'Cue', limit: 0 });
    assert.deepEqual([badArgs.isError, badArgs.value.code], [true, 'MYKO_BAD_QUERY']);
    assert.match(badArgs.value.message, /arguments\.limit must be >= 1/);
  } finally {
    await agent.close();
  }
});

test('read_report and item_history', async () => {
  const agent = await connectMcp(url);
  try {
    assert.deepEqual((await callTool(agent, 'read_report', { reportId: 'GetCuesCount' })).value, { reportId: 'GetCuesCount', value: 5 });
    const labels = await callTool(agent, 'read_report', { reportId: 'CueLabels' });
    assert.deepEqual(labels.value.value.slice(0, 2), ['Go c1', 'Go c2']);
    const unknown = await callTool(agent, 'read_report', { reportId: 'NoSuchReport' });
    assert.deepEqual([unknown.isError, unknown.value.code], [true, 'MYKO_UNKNOWN_REPORT']);

    await ts.server.emit({ itemType: 'Cue', changeType: 'SET', item: { id: 'h1', label: 'first' } });
    await ts.server.emit({ itemType: 'Cue', changeType: 'SET', item: { id: 'h1', label: 'second' } });
    const h = await callTool(agent, 'item_history', { itemType: 'Cue', id: 'h1' });
    assert.equal(h.value.events.length, 2);
    assert.deepEqual(h.value.events.map((e: { item: { label: string } }) => e.item.label), ['first', 'second']);
    assert.equal(h.value.current.label, 'second');
  } finally {
    await ts.server.emit({ itemType: 'Cue', changeType: 'DEL', item: { id: 'h1' } });
    await agent.close();
  }
});

test('run_command runs as the session (its own client id); bad params are MYKO_BAD_COMMAND as over /myko', async () => {
  const agent = await connectMcp(url);
  try {
    const r = await callTool(agent, 'run_command', { commandId: 'AddCue', params: { label: 'from an agent' } });
    assert.equal(r.isError, false, JSON.stringify(r.value));
    const id = r.value.response.id as string;
    assert.equal(ts.server.state.get('Cue', id)?.label, 'from an agent');
    // The session is a client of the server, with a Client item naming the protocol.
    const who = await callTool(agent, 'run_command', { commandId: 'Whoami' });
    const client = ts.server.state.get('Client', who.value.response.clientId);
    assert.equal(client?.protocol, 'mcp');
    const bad = await callTool(agent, 'run_command', { commandId: 'AddCue', params: { label: '' } });
    assert.deepEqual([bad.isError, bad.value.code], [true, 'MYKO_BAD_COMMAND']);
    assert.match(bad.value.message, /params\.label/);
    await ts.server.emit({ itemType: 'Cue', changeType: 'DEL', item: { id } });
    // Closing the session (DELETE) retires its Client item.
    const transport = agent.transport as unknown as { terminateSession(): Promise<void> };
    await transport.terminateSession();
    for (let i = 0; i < 50 && ts.server.state.get('Client', who.value.response.clientId); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(ts.server.state.get('Client', who.value.response.clientId), undefined);
  } finally {
    await agent.close();
  }
});

test('resources: item type schemas listed and read; a subscribed item sends notifications/resources/updated when it changes', async () => {
  const agent = await connectMcp(url);
  try {
    const { resources } = await agent.listResources();
    const schemaUri = 'myko://schema/item-type/Cue';
    assert.ok(resources.some((r) => r.uri === schemaUri));
    assert.ok(resources.some((r) => r.uri === 'myko://schema/command/AddCue'));
    const schema = await agent.readResource({ uri: schemaUri });
    assert.deepEqual(JSON.parse((schema.contents[0] as { text: string }).text).schema.required, ['id', 'label']);

    const uri = 'myko://item/Cue/c1';
    assert.equal(JSON.parse(((await agent.readResource({ uri })).contents[0] as { text: string }).text).item.label, 'Go c1');
    const updates: string[] = [];
    let wake: () => void = () => undefined;
    agent.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
      updates.push(n.params.uri);
      wake();
    });
    await agent.subscribeResource({ uri });
    const heard = new Promise<void>((r) => (wake = r));
    await ts.server.emit({ itemType: 'Cue', changeType: 'SET', item: { id: 'c1', label: 'Go c1 changed' } });
    await Promise.race([heard, new Promise((_r, reject) => setTimeout(() => reject(new Error('no resource update within 5 s')), 5000))]);
    assert.deepEqual(updates, [uri]);
    assert.equal(JSON.parse(((await agent.readResource({ uri })).contents[0] as { text: string }).text).item.label, 'Go c1 changed');
    // A change to another item is not announced; after unsubscribing, nothing is.
    await ts.server.emit({ itemType: 'Cue', changeType: 'SET', item: { id: 'c2', label: 'Go c2 changed' } });
    await agent.unsubscribeResource({ uri });
    await ts.server.emit({ itemType: 'Cue', changeType: 'SET', item: { id: 'c1', label: 'Go c1' } });
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(updates, [uri]);
  } finally {
    await ts.server.emit({ itemType: 'Cue', changeType: 'SET', item: { id: 'c2', label: 'Go c2' } });
    await agent.close();
  }
});

test('a subscribed item that changes many times a second is announced at most every 250 ms, the last change never lost', async () => {
  const agent = await connectMcp(url);
  const uri = 'myko://item/Cue/fast';
  try {
    await ts.server.emit({ itemType: 'Cue', changeType: 'SET', item: { id: 'fast', label: 'v0' } });
    const times: number[] = [];
    agent.setNotificationHandler(ResourceUpdatedNotificationSchema, () => void times.push(Date.now()));
    await agent.subscribeResource({ uri });
    const t0 = Date.now();
    for (let i = 1; i <= 30; i++) {
      await ts.server.emit({ itemType: 'Cue', changeType: 'SET', item: { id: 'fast', label: `v${i}` } });
      await new Promise((r) => setTimeout(r, 10));
    }
    const elapsed = Date.now() - t0;
    await new Promise((r) => setTimeout(r, 600));
    // One at once, then one per 250 ms at most, and a trailing one for the last change.
    assert.ok(times.length >= 2 && times.length <= Math.ceil(elapsed / 250) + 2, `${times.length} notifications in ${elapsed} ms`);
    for (let i = 1; i < times.length; i++) assert.ok(times[i]! - times[i - 1]! >= 200, `gap ${times[i]! - times[i - 1]!} ms`);
    assert.equal(JSON.parse(((await agent.readResource({ uri })).contents[0] as { text: string }).text).item.label, 'v30');
  } finally {
    await ts.server.emit({ itemType: 'Cue', changeType: 'DEL', item: { id: 'fast' } });
    await agent.close();
  }
});

const secret = 'a-test-secret-that-is-long-enough-for-hs256!';
const sign = (claims: Record<string, unknown>) =>
  new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('5m').sign(new TextEncoder().encode(secret));

test('authentication on: no token is HTTP 401, as on /api; the permission rules refuse a command by the token claims', async () => {
  const dir = tempDir();
  const rules = join(dir, 'permissions.json');
  writeFileSync(rules, JSON.stringify({ commands: { AddCue: { claim: 'role', in: ['operator'] } } }));
  const secured = await startTestServer({ plugins: [app], config: { authJwtSecret: secret, permissionsFile: rules } });
  const at = mcpUrl(secured.url);
  try {
    await assert.rejects(connectMcp(at), (err: Error) => err instanceof StreamableHTTPError && err.code === 401 && /MYKO_UNAUTHORIZED/.test(err.message));
    const raw = await fetch(at, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{}' });
    assert.equal(raw.status, 401);
    assert.equal(((await raw.json()) as { code: string }).code, 'MYKO_UNAUTHORIZED');
    await assert.rejects(connectMcp(at, { token: 'not-a-jwt' }), (err: Error) => err instanceof StreamableHTTPError && err.code === 401);

    const viewer = await connectMcp(at, { token: await sign({ sub: 'vera', role: 'viewer' }) });
    const operator = await connectMcp(at, { token: await sign({ sub: 'otto', role: 'operator' }) });
    try {
      assert.equal((await callTool(viewer, 'query_items', { itemType: 'Cue' })).isError, false);
      const refused = await callTool(viewer, 'run_command', { commandId: 'AddCue', params: { label: 'x' } });
      assert.deepEqual([refused.isError, refused.value.code], [true, 'MYKO_FORBIDDEN']);
      assert.equal(secured.server.state.count('Cue'), 0);
      const ok = await callTool(operator, 'run_command', { commandId: 'AddCue', params: { label: 'x' } });
      assert.equal(ok.isError, false, JSON.stringify(ok.value));
      assert.deepEqual((await callTool(operator, 'run_command', { commandId: 'Whoami' })).value.response.sub, 'otto');
      // A session is bound to its subject: another token cannot use it.
      const sid = (operator.transport as { sessionId?: string }).sessionId!;
      const hijack = await fetch(at, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': sid, authorization: `Bearer ${await sign({ sub: 'vera' })}` },
        body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/list' }),
      });
      assert.equal(hijack.status, 403);
    } finally {
      await viewer.close();
      await operator.close();
    }
  } finally {
    await secured.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('read-only mode: run_command is not listed and a call to it is refused; reads work; off: no /mcp', async () => {
  const ro = await startTestServer({ plugins: [app], config: { mcp: 'read-only' } });
  try {
    const agent = await connectMcp(mcpUrl(ro.url));
    try {
      const names = (await agent.listTools()).tools.map((t) => t.name);
      assert.ok(!names.includes('run_command'), names.join());
      assert.ok(names.includes('query_items'));
      const refused = await callTool(agent, 'run_command', { commandId: 'AddCue', params: { label: 'x' } });
      assert.deepEqual([refused.isError, refused.value.code], [true, 'MYKO_FORBIDDEN']);
      assert.match(refused.value.message, /read-only/);
      assert.equal(ro.server.state.count('Cue'), 0);
    } finally {
      await agent.close();
    }
  } finally {
    await ro.close();
  }
  const off = await startTestServer({ plugins: [app], config: { mcp: 'off' } });
  try {
    const r = await fetch(mcpUrl(off.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.notEqual(r.status, 200);
    await assert.rejects(connectMcp(mcpUrl(off.url)));
  } finally {
    await off.close();
  }
});

test('rate limits apply per MCP session: calls past the messages/s budget are MYKO_RATE_LIMITED; another session is not affected', async () => {
  const limited = await startTestServer({ plugins: [app], config: { maxMessagesPerSecond: 1, maxMessagesBurst: 3, maxViolations: 4 } });
  const at = mcpUrl(limited.url);
  try {
    const a = await connectMcp(at);
    const b = await connectMcp(at);
    try {
      const outcomes = [];
      for (let i = 0; i < 5; i++) outcomes.push(await callTool(a, 'list_item_types'));
      const codes = outcomes.map((o) => (o.isError ? o.value.code : 'ok'));
      assert.deepEqual(codes.slice(0, 3), ['ok', 'ok', 'ok']);
      assert.ok(codes.slice(3).every((c) => c === 'MYKO_RATE_LIMITED'), codes.join());
      assert.equal((await callTool(b, 'list_item_types')).isError, false);
      // A session that keeps at it (past maxViolations refusals in 10 s) is closed: its Client item goes, its next request is refused.
      const clientsBefore = limited.server.state.count('Client');
      for (let i = 0; i < 6; i++) await callTool(a, 'list_item_types').catch(() => undefined);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(limited.server.mcp!.size, 1, 'only b is left');
      assert.equal(limited.server.state.count('Client'), clientsBefore - 1);
      await assert.rejects(callTool(a, 'list_item_types'), (err: Error) => /404|session/i.test(err.message));
      assert.equal((await callTool(b, 'list_item_types')).isError, false);
    } finally {
      await a.close().catch(() => undefined);
      await b.close();
    }
  } finally {
    await limited.close();
  }
});

test('subscriptions count against maxLiveQueriesPerConnection per session (MYKO_TOO_MANY_QUERIES); one-shot reads do not', async () => {
  const tight = await startTestServer({ plugins: [app], config: { maxLiveQueriesPerConnection: 1 } });
  try {
    const agent = await connectMcp(mcpUrl(tight.url));
    try {
      await agent.subscribeResource({ uri: 'myko://item/Cue/a' });
      await assert.rejects(agent.subscribeResource({ uri: 'myko://item/Cue/b' }), /MYKO_TOO_MANY_QUERIES/);
      assert.equal((await callTool(agent, 'query_items', { itemType: 'Cue' })).isError, false);
      await agent.unsubscribeResource({ uri: 'myko://item/Cue/a' });
      await agent.subscribeResource({ uri: 'myko://item/Cue/b' });
    } finally {
      await agent.close();
    }
  } finally {
    await tight.close();
  }
});

test('bad requests get clear HTTP answers and the endpoint stays up: not JSON, no session, unknown session, too large, not initialize', async () => {
  const small = await startTestServer({ plugins: [app], config: { maxFrameBytes: 2048 } });
  const at = mcpUrl(small.url);
  const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
  try {
    const notJson = await fetch(at, { method: 'POST', headers, body: '{"jsonrpc":' });
    assert.equal(notJson.status, 400);
    assert.equal(((await notJson.json()) as { error: { code: number } }).error.code, -32700);
    assert.equal((await fetch(at, { method: 'GET', headers })).status, 400);
    assert.equal((await fetch(at, { method: 'DELETE', headers })).status, 400);
    const unknown = await fetch(at, { method: 'POST', headers: { ...headers, 'mcp-session-id': 'nope' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }) });
    assert.equal(unknown.status, 404);
    const big = await fetch(at, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { pad: 'x'.repeat(5000) } }) });
    assert.equal(big.status, 413);
    assert.equal(((await big.json()) as { code: string }).code, 'MYKO_FRAME_TOO_LARGE');
    const notInit = await fetch(at, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }) });
    assert.equal(notInit.status, 400);
    assert.equal(small.server.mcp!.size, 0, 'no session is left behind by refused requests');
    const agent = await connectMcp(at);
    assert.equal((await callTool(agent, 'list_item_types')).isError, false);
    assert.equal(small.server.mcp!.size, 1);
    await agent.close();
  } finally {
    await small.close();
  }
});


import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, TestClient, type TestServer } from '../testing/index.js';
import { defineCommand, defineQuery, defineReport, definePlugin } from '../core/registry.js';

const app = definePlugin({
  name: 'commands-test',
  itemTypes: [{ name: 'Cue', schema: { type: 'object', required: ['id', 'label'], properties: { label: { type: 'string' } } } }],
  commands: [
    defineCommand<{ label?: unknown }, { id: string; count: number }>({
      id: 'AddCue',
      schema: { type: 'object', required: ['label'], properties: { label: { type: 'string', minLength: 1 } } },
      async handler(params, ctx) {
        const id = `cue-${ctx.state.count('Cue') + 1}`;
        await ctx.emit({ itemType: 'Cue', changeType: 'SET', item: { id, label: params.label as string } });
        return { id, count: ctx.state.count('Cue') };
      },
    }),
    defineCommand({ id: 'Explode', handler: () => { throw new Error('the cue stack is on fire'); } }),
    defineCommand<{ target?: unknown }, unknown>({
      id: 'AskClient',
      handler: (p, ctx) => ctx.sendToClient(p.target as string, 'Whoami', { hint: 1 }, { timeoutMs: 500 }),
    }),
  ],
  queries: [
    defineQuery<{ prefix?: unknown }>({
      id: 'CuesStartingWith',
      itemType: 'Cue',
      compile: (p) => {
        if (typeof p.prefix !== 'string') throw new Error('prefix must be a string');
        const prefix = p.prefix;
        return { match: (item) => String(item.label).startsWith(prefix) };
      },
    }),
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
before(async () => {
  ts = await startTestServer({ plugins: [app] });
});
after(async () => {
  await ts.close();
});

const cmd = (tx: string, commandId: string, params: Record<string, unknown> = {}) => ({ event: 'ws:m:command', data: { commandId, command: { tx, ...params } } });

test('an app command reads state, emits events, and answers with its tx after they are committed', async () => {
  const c = await TestClient.connect(ts.url);
  c.send({ event: 'ws:m:query', data: { queryId: 'CuesStartingWith', queryItemType: 'Cue', query: { tx: 'q', prefix: 'Go' } } });
  c.send({ event: 'ws:m:report', data: { reportId: 'CueLabels', report: { tx: 'r' } } });
  c.send(cmd('t1', 'AddCue', { label: 'Go 1' }));
  const resp = await c.next((f) => f.event === 'ws:m:command-response' && f.data.tx === 't1');
  assert.deepEqual(resp.data.response, { id: 'cue-1', count: 1 });
  // The query's diff was sent before the command's answer: the effects are visible by then.
  const iResp = c.frames.indexOf(resp);
  const iDiff = c.frames.findIndex((f) => f.event === 'ws:m:query-response' && f.data.tx === 'q' && f.data.sequence === 1);
  assert.ok(iDiff >= 0 && iDiff < iResp);
  await c.next((f) => f.event === 'ws:m:report-response' && f.data.tx === 'r' && f.data.response.includes('Go 1'));
  c.send(cmd('t2', 'AddCue', { label: 'Stop' }));
  await c.next((f) => f.event === 'ws:m:command-response' && f.data.tx === 't2');
  await c.sync();
  assert.equal(c.all('ws:m:query-response', 'q').length, 2, 'a cue that does not match the prefix is not sent');
  await c.close();
});

test('bad params, unknown commands and throwing handlers give ws:m:command-error {tx, commandId, message}', async () => {
  const c = await TestClient.connect(ts.url);
  c.send(cmd('b1', 'AddCue', { label: 42 }));
  const e1 = await c.next((f) => f.event === 'ws:m:command-error' && f.data.tx === 'b1');
  assert.equal(e1.data.commandId, 'AddCue');
  assert.equal(e1.data.code, 'MYKO_BAD_COMMAND');
  assert.match(e1.data.message, /label/);
  c.send(cmd('b2', 'NoSuchThing'));
  const e2 = await c.next((f) => f.event === 'ws:m:command-error' && f.data.tx === 'b2');
  assert.equal(e2.data.code, 'MYKO_UNKNOWN_COMMAND');
  c.send(cmd('b3', 'Explode'));
  const e3 = await c.next((f) => f.event === 'ws:m:command-error' && f.data.tx === 'b3');
  assert.equal(e3.data.message, 'the cue stack is on fire');
  c.send({ event: 'ws:m:query', data: { queryId: 'CuesStartingWith', queryItemType: 'Cue', query: { tx: 'qe' } } });
  const qe = await c.next((f) => f.event === 'ws:m:query-error' && f.data.tx === 'qe');
  assert.match(qe.data.message, /prefix/);
  await c.close();
});

test('the server sends commands to clients and awaits response, error, or timeout', async () => {
  const exec = await TestClient.connect(ts.url);
  const ctl = await TestClient.connect(ts.url);
  // The executor answers Whoami with its own id.
  exec.ws.on('message', (raw: Buffer) => {
    const f = JSON.parse(raw.toString());
    if (f.event === 'ws:m:command' && f.data.commandId === 'Whoami')
      exec.send({ event: 'ws:m:command-response', data: { tx: f.data.command.tx, response: { me: exec.clientId, hint: f.data.command.hint } } });
  });
  ctl.send(cmd('a1', 'AskClient', { target: exec.clientId }));
  const ok = await ctl.next((f) => f.event === 'ws:m:command-response' && f.data.tx === 'a1');
  assert.deepEqual(ok.data.response, { me: exec.clientId, hint: 1 });

  // Direct API: an error from the client rejects with its message.
  const silent = await TestClient.connect(ts.url);
  silent.ws.on('message', (raw: Buffer) => {
    const f = JSON.parse(raw.toString());
    if (f.event === 'ws:m:command' && f.data.commandId === 'Fail')
      silent.send({ event: 'ws:m:command-error', data: { tx: f.data.command.tx, commandId: 'Fail', message: 'no such lamp' } });
  });
  await assert.rejects(ts.server.sendCommandToClient(silent.clientId!, 'Fail', {}), /no such lamp/);
  // No answer: a timeout error naming the command.
  await assert.rejects(ts.server.sendCommandToClient(silent.clientId!, 'Ignored', {}, { timeoutMs: 100 }), /Ignored .*timed out/);
  // Through a command handler: the controller gets a command-error.
  ctl.send(cmd('a2', 'AskClient', { target: silent.clientId }));
  const timedOut = await ctl.next((f) => f.event === 'ws:m:command-error' && f.data.tx === 'a2');
  assert.equal(timedOut.data.code, 'MYKO_TIMEOUT');
  await Promise.all([exec.close(), ctl.close(), silent.close()]);
});

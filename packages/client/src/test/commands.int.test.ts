import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { defineCommand, definePlugin } from '@myko/server';
import { sleep, startTestServer, type TestServer } from '@myko/server/testing';
import {
  ClientErrorCode,
  CommandError,
  isClientClosedError,
  isCommandAbortedError,
  isCommandError,
  isCommandTimeoutError,
  isMykoClientError,
} from '../node.js';
import { closeClients, recorder, testClient, waitFor } from './support.js';

/** What the server runs for us: the typed command map below mirrors it. */
const plugin = definePlugin({
  name: 't',
  commands: [
    defineCommand({ id: 'Slow', handler: async () => (await sleep(1000), 1) }),
    defineCommand<{ a?: unknown; b?: unknown }, number>({ id: 'Add', handler: (p) => Number(p.a) + Number(p.b) }),
    defineCommand({ id: 'Fail', handler: () => { throw new Error('the fog machine is empty'); } }),
  ],
});

interface ServerCommands {
  Slow: { params: Record<string, never>; response: number };
  Add: { params: { a: number; b: number }; response: number };
  Fail: { params: Record<string, never>; response: never };
  Nope: { params: Record<string, never>; response: never };
}

interface ClientCommands {
  Hello: { params: { x: number }; response: { y: number; tx: string } };
  Broken: { params: Record<string, never>; response: never };
}

let ts: TestServer;
before(async () => {
  ts = await startTestServer({ plugins: [plugin] });
});
after(async () => {
  closeClients();
  await ts.close();
});

test('sendCommand sends ws:m:command {commandId, command:{tx, createdAt, ...params}} and resolves with the response', async () => {
  const rec = recorder();
  const client = testClient<ServerCommands>({ url: ts.url, transport: rec.transport });
  const sum: number = await client.sendCommand('Add', { a: 2, b: 3 });
  assert.equal(sum, 5);
  const frame = rec.sent.find((f) => f.event === 'ws:m:command')!;
  assert.equal(frame.data.commandId, 'Add');
  assert.deepEqual(Object.keys(frame.data.command).sort(), ['a', 'b', 'createdAt', 'tx']);
  assert.ok(!Number.isNaN(Date.parse(frame.data.command.createdAt)));
  client.close();
});

test('ws:m:command-error rejects with a CommandError carrying the server message and code', async () => {
  const client = testClient<ServerCommands>({ url: ts.url });
  const err = await client.sendCommand('Fail', {}).catch((e: unknown) => e);
  assert.ok(isCommandError(err));
  assert.ok(err instanceof CommandError && isMykoClientError(err));
  assert.equal(err.name, 'CommandError');
  assert.equal(err.message, 'the fog machine is empty');
  assert.equal(err.code, 'MYKO_COMMAND_FAILED');
  assert.equal(err.commandId, 'Fail');
  assert.equal(typeof err.tx, 'string');

  const unknown = await client.sendCommand('Nope', {}).catch((e: unknown) => e);
  assert.ok(isCommandError(unknown));
  assert.equal(unknown.code, 'MYKO_UNKNOWN_COMMAND');
  client.close();
});

test('a command without an answer in time rejects with CommandTimeoutError; a late answer is ignored', async () => {
  const client = testClient<ServerCommands>({ url: ts.url });
  const t0 = Date.now();
  const err = await client.sendCommand('Slow', {}, { timeoutMs: 100 }).catch((e: unknown) => e);
  const took = Date.now() - t0;
  assert.ok(isCommandTimeoutError(err));
  assert.equal(err.code, ClientErrorCode.Timeout);
  assert.equal(err.commandId, 'Slow');
  assert.equal(err.timeoutMs, 100);
  assert.ok(took >= 95 && took < 900, `rejected after ${took} ms`);
  await sleep(1000); // the server's answer arrives now and must not disturb anything
  assert.equal(await client.sendCommand('Add', { a: 1, b: 1 }), 2);

  const byDefault = testClient<ServerCommands>({ url: ts.url, commandTimeoutMs: 50 });
  assert.ok(isCommandTimeoutError(await byDefault.sendCommand('Slow', {}).catch((e: unknown) => e)));
  byDefault.close();
  client.close();
});

test('an AbortSignal rejects with CommandAbortedError (fired later, or already aborted)', async () => {
  const client = testClient<ServerCommands>({ url: ts.url });
  const ac = new AbortController();
  const pending = client.sendCommand('Slow', {}, { signal: ac.signal });
  setTimeout(() => ac.abort(new Error('operator pressed stop')), 50);
  const err = await pending.catch((e: unknown) => e);
  assert.ok(isCommandAbortedError(err));
  assert.equal(err.code, ClientErrorCode.Aborted);
  assert.equal((err.cause as Error).message, 'operator pressed stop');

  const rec = recorder();
  const other = testClient<ServerCommands>({ url: ts.url, transport: rec.transport });
  await other.connected();
  const before = rec.sent.length;
  const early = await other.sendCommand('Add', { a: 1, b: 2 }, { signal: AbortSignal.abort() }).catch((e: unknown) => e);
  assert.ok(isCommandAbortedError(early));
  assert.equal(rec.sent.length, before, 'an already aborted command is never sent');
  other.close();
  client.close();
});

test('server → client commands reach onCommand handlers; a throw comes back as a rejection; no handler is an error too', async () => {
  const client = testClient<ServerCommands, ClientCommands>({ url: ts.url });
  const { clientId } = await client.connected();
  assert.equal(client.clientId, clientId);
  assert.ok(ts.server.connections.has(clientId), 'clientId is the server connection id (SetClientId handled)');

  client.onCommand('Hello', (params, ctx) => ({ y: params.x + 1, tx: ctx.tx }));
  client.onCommand('Broken', async () => {
    throw new Error('lamp 3 is unplugged');
  });
  const res = (await ts.server.sendCommandToClient(clientId, 'Hello', { x: 1, tx: 'hello-tx' })) as { y: number; tx: string };
  assert.deepEqual(res, { y: 2, tx: 'hello-tx' });
  await assert.rejects(ts.server.sendCommandToClient(clientId, 'Broken', {}), /lamp 3 is unplugged/);
  await assert.rejects(ts.server.sendCommandToClient(clientId, 'Unregistered', {}, { timeoutMs: 2000 }), /no handler for command Unregistered/);
  assert.throws(() => client.onCommand('Hello', () => ({ y: 0, tx: '' })), /already registered/);
  client.close();
});

test('close() rejects pending commands with ClientClosedError and refuses new ones', async () => {
  const client = testClient<ServerCommands>({ url: ts.url });
  await client.connected();
  const pending = client.sendCommand('Slow', {});
  await sleep(20);
  client.close();
  assert.ok(isClientClosedError(await pending.catch((e: unknown) => e)));
  assert.ok(isClientClosedError(await client.sendCommand('Add', { a: 1, b: 1 }).catch((e: unknown) => e)));
  assert.equal(client.status.current.type, 'closed');
  await waitFor(() => ts.server.connections.size === 0, 'the server to see the socket close');
});

test('typed command maps reach through: wrong params or ids do not compile', () => {
  // Compile-time only: never called. `@ts-expect-error` fails the build if the line were accepted.
  const typed = (client: ReturnType<typeof testClient<ServerCommands, ClientCommands>>) => {
    // @ts-expect-error a must be a number
    void client.sendCommand('Add', { a: 'x', b: 1 });
    // @ts-expect-error not in the map
    void client.sendCommand('Missing', {});
    // @ts-expect-error the handler must return {y, tx}
    client.onCommand('Hello', () => 'nope');
    const n: Promise<number> = client.sendCommand('Add', { a: 1, b: 2 });
    return n;
  };
  assert.equal(typeof typed, 'function');
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { SignJWT, generateKeyPair, exportJWK } from 'jose';
import { startTestServer, TestClient, tempDir, sleep } from '../testing/index.js';
import { JsonClient, type AnyMessage, eventRpcEnvelope } from '../testing/json-client.js';
import { definePlugin } from '../core/registry.js';

const secret = 'a-test-secret-that-is-long-enough-for-hs256!';
const key = new TextEncoder().encode(secret);
const token = (claims: Record<string, unknown> = {}, opts: { exp?: string; iss?: string; aud?: string } = {}) =>
  new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setIssuer(opts.iss ?? 'show-control')
    .setAudience(opts.aud ?? 'myko')
    .setExpirationTime(opts.exp ?? '5m')
    .sign(key);

/** Attempt a handshake; resolve with the HTTP refusal or the open socket. */
function handshake(url: string, headers: Record<string, string> = {}): Promise<{ status?: number; body?: string; ws?: WebSocket }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers });
    ws.on('open', () => resolve({ ws }));
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    ws.on('error', () => undefined);
  });
}

const app = definePlugin({
  name: 'security-test',
  commands: [
    { id: 'Whoami', handler: (_p, ctx) => ({ sub: ctx.claims?.sub ?? null }) },
    { id: 'Hello', public: true, handler: () => 'hello' },
  ],
});

test('JWT at the handshake: missing, bad, expired, wrong issuer or audience are refused with 401; Bearer and access_token accepted', async () => {
  const ts = await startTestServer({ plugins: [app], config: { authJwtSecret: secret, authIssuer: 'show-control', authAudience: 'myko' } });
  try {
    const none = await handshake(ts.url);
    assert.equal(none.status, 401);
    assert.equal(JSON.parse(none.body!).code, 'MYKO_UNAUTHORIZED');
    for (const bad of ['not-a-jwt', await token({}, { exp: '-1m' }), await token({}, { iss: 'someone-else' }), await token({}, { aud: 'other' })]) {
      const r = await handshake(`${ts.url}?access_token=${encodeURIComponent(bad)}`);
      assert.equal(r.status, 401, bad);
      assert.match(JSON.parse(r.body!).message, /invalid token/);
    }
    const forged = await new SignJWT({ sub: 'mallory' }).setProtectedHeader({ alg: 'HS256' }).setIssuer('show-control').setAudience('myko').sign(new TextEncoder().encode('x'.repeat(44)));
    assert.equal((await handshake(ts.url, { authorization: `Bearer ${forged}` })).status, 401);

    const viaHeader = await handshake(ts.url, { authorization: `Bearer ${await token({ sub: 'alice' })}` });
    assert.ok(viaHeader.ws);
    viaHeader.ws!.close();
    const c = await TestClient.connect(`${ts.url}?access_token=${await token({ sub: 'bob' })}`);
    c.send({ event: 'ws:m:command', data: { commandId: 'Whoami', command: { tx: 'w' } } });
    assert.deepEqual((await c.next((f) => f.event === 'ws:m:command-response')).data.response, { sub: 'bob' });
    await c.close();
    // Other endpoints are behind the same handshake.
    assert.equal((await handshake(ts.url.replace('/myko', '/models'))).status, 401);
  } finally {
    await ts.close();
  }
});

test('RS256 and ES256 tokens verified against a JWKS URL', async () => {
  const rsa = await generateKeyPair('RS256');
  const ec = await generateKeyPair('ES256');
  const jwks = { keys: [{ ...(await exportJWK(rsa.publicKey)), kid: 'r1', alg: 'RS256' }, { ...(await exportJWK(ec.publicKey)), kid: 'e1', alg: 'ES256' }] };
  const jwksServer = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks)));
  await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', r));
  const port = (jwksServer.address() as { port: number }).port;
  const ts = await startTestServer({ plugins: [app], config: { authJwksUrl: `http://127.0.0.1:${port}/jwks.json` } });
  try {
    for (const [alg, kid, k] of [['RS256', 'r1', rsa.privateKey], ['ES256', 'e1', ec.privateKey]] as const) {
      const jwt = await new SignJWT({ sub: alg }).setProtectedHeader({ alg, kid }).setExpirationTime('5m').sign(k);
      const c = await TestClient.connect(`${ts.url}?access_token=${jwt}`);
      c.send({ event: 'ws:m:command', data: { commandId: 'Whoami', command: { tx: 'w' } } });
      assert.deepEqual((await c.next((f) => f.event === 'ws:m:command-response')).data.response, { sub: alg });
      await c.close();
    }
    const hs = await token({ sub: 'hs' });
    assert.equal((await handshake(`${ts.url}?access_token=${hs}`)).status, 401, 'an HS256 token is not accepted where keys come from JWKS');
  } finally {
    await ts.close();
    jwksServer.close();
  }
});

test('anonymous connections: public commands run, others need a userToken; a bad userToken is refused', async () => {
  const ts = await startTestServer({ plugins: [app], config: { authJwtSecret: secret, authAnonymous: true } });
  try {
    const c = await TestClient.connect(ts.url);
    const cmd = (tx: string, commandId: string, extra: object = {}) => c.send({ event: 'ws:m:command', data: { commandId, command: { tx, ...extra } } });
    cmd('h', 'Hello');
    assert.equal((await c.next((f) => f.event === 'ws:m:command-response' && f.data.tx === 'h')).data.response, 'hello');
    cmd('w1', 'Whoami');
    assert.equal((await c.next((f) => f.event === 'ws:m:command-error' && f.data.tx === 'w1')).data.code, 'MYKO_UNAUTHORIZED');
    cmd('w2', 'Whoami', { userToken: await token({ sub: 'carol' }) });
    assert.deepEqual((await c.next((f) => f.event === 'ws:m:command-response' && f.data.tx === 'w2')).data.response, { sub: 'carol' });
    // Seed clients put userToken beside the command.
    c.send({ event: 'ws:m:command', data: { commandId: 'Whoami', userToken: await token({ sub: 'dave' }), command: { tx: 'w3' } } });
    assert.deepEqual((await c.next((f) => f.event === 'ws:m:command-response' && f.data.tx === 'w3')).data.response, { sub: 'dave' });
    cmd('w4', 'Whoami', { userToken: 'garbage' });
    const bad = await c.next((f) => f.event === 'ws:m:command-error' && f.data.tx === 'w4');
    assert.equal(bad.data.code, 'MYKO_UNAUTHORIZED');
    assert.match(bad.data.message, /userToken rejected/);
    await c.close();
  } finally {
    await ts.close();
  }
});

test('permission rules by claims decide who may SET/DEL which types and run which commands', async () => {
  const dir = tempDir();
  const rules = join(dir, 'rules.json');
  writeFileSync(rules, JSON.stringify({
    itemTypes: { Cue: { set: { claim: 'role', in: ['operator', 'admin'] }, del: { claim: 'role', in: ['admin'] } }, '*': { set: { authenticated: true }, del: { authenticated: true } } },
    commands: { CreateRestorePoint: { claim: 'role', in: ['admin'] } },
  }));
  const ts = await startTestServer({ plugins: [app], config: { authJwtSecret: secret, permissionsFile: rules } });
  try {
    const viewer = await TestClient.connect(`${ts.url}?access_token=${await token({ sub: 'v', role: 'viewer' })}`);
    const operator = await TestClient.connect(`${ts.url}?access_token=${await token({ sub: 'o', role: ['operator'] })}`);
    const admin = await TestClient.connect(`${ts.url}?access_token=${await token({ sub: 'a', role: 'admin' })}`);
    const set = (c: TestClient, id: string) => c.send({ event: 'ws:m:event', data: { itemType: 'Cue', changeType: 'SET', tx: `set-${id}`, item: { id } } });
    set(viewer, 'v1');
    const refused = await viewer.next((f) => f.event === 'ws:m:error');
    assert.equal(refused.data.code, 'MYKO_FORBIDDEN');
    assert.equal(refused.data.tx, 'set-v1');
    assert.match(refused.data.message, /not permitted to SET Cue/);
    set(operator, 'o1');
    await operator.sync();
    assert.ok(ts.server.state.get('Cue', 'o1'));
    assert.equal(ts.server.state.get('Cue', 'v1'), undefined);
    operator.send({ event: 'ws:m:event', data: { itemType: 'Cue', changeType: 'DEL', item: { id: 'o1' } } });
    assert.equal((await operator.next((f) => f.event === 'ws:m:error')).data.code, 'MYKO_FORBIDDEN');
    admin.send({ event: 'ws:m:event', data: { itemType: 'Cue', changeType: 'DEL', item: { id: 'o1' } } });
    await admin.sync();
    assert.equal(ts.server.state.get('Cue', 'o1'), undefined);
    operator.send({ event: 'ws:m:command', data: { commandId: 'CreateRestorePoint', command: { tx: 'rp', name: 'x' } } });
    assert.equal((await operator.next((f) => f.event === 'ws:m:command-error' && f.data.tx === 'rp')).data.code, 'MYKO_FORBIDDEN');
    admin.send({ event: 'ws:m:command', data: { commandId: 'CreateRestorePoint', command: { tx: 'rp', name: 'x' } } });
    await admin.next((f) => f.event === 'ws:m:command-response' && f.data.tx === 'rp');
    await Promise.all([viewer.close(), operator.close(), admin.close()]);
  } finally {
    await ts.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('by default no client may change what another live client owns; server-managed types are off limits', async () => {
  const claimed = definePlugin({ name: 'claimed', itemTypes: [{ name: 'Fixture', claimedByWriter: true }] });
  const ts = await startTestServer({ plugins: [claimed] });
  try {
    const owner = await TestClient.connect(ts.url);
    const other = await TestClient.connect(ts.url);
    owner.send({ event: 'ws:m:event', data: { itemType: 'Fixture', changeType: 'SET', item: { id: 'par-1', dim: 1 } } });
    await owner.sync();
    other.send({ event: 'ws:m:event', data: { itemType: 'Fixture', changeType: 'SET', tx: 't1', item: { id: 'par-1', dim: 99 } } });
    const e1 = await other.next((f) => f.event === 'ws:m:error');
    assert.equal(e1.data.code, 'MYKO_FORBIDDEN');
    assert.match(e1.data.message, new RegExp(`belongs to client ${owner.clientId}`));
    other.send({ event: 'ws:m:event', data: { itemType: 'Fixture', changeType: 'DEL', item: { id: 'par-1' } } });
    await other.next((f) => f.event === 'ws:m:error' && f.data.code === 'MYKO_FORBIDDEN' && f !== e1);
    assert.equal(ts.server.state.get('Fixture', 'par-1')?.dim, 1);
    // The owner may; and once it is gone, so may others.
    owner.send({ event: 'ws:m:event', data: { itemType: 'Fixture', changeType: 'SET', item: { id: 'par-1', dim: 2 } } });
    await owner.sync();
    assert.equal(ts.server.state.get('Fixture', 'par-1')?.dim, 2);
    await owner.close();
    await sleep(100);
    other.send({ event: 'ws:m:event', data: { itemType: 'Fixture', changeType: 'SET', item: { id: 'par-1', dim: 3 } } });
    await other.sync();
    assert.equal(ts.server.state.get('Fixture', 'par-1')?.dim, 3);
    // Forging a Client item is refused.
    other.send({ event: 'ws:m:event', data: { itemType: 'Client', changeType: 'DEL', item: { id: other.clientId } } });
    const forged = await other.nextNew((f) => f.event === 'ws:m:error');
    assert.equal(forged.data.code, 'MYKO_FORBIDDEN');
    assert.match(forged.data.message, /managed by the server/);
    await other.close();
  } finally {
    await ts.close();
  }
});

test('/models and /eventrpc: not authorised, not permitted and not the owner are refused in each protocol\'s shape', async () => {
  const dir = tempDir();
  const rules = join(dir, 'rules.json');
  writeFileSync(rules, JSON.stringify({ itemTypes: { Cue: { set: { claim: 'role', in: ['operator'] } } }, commands: { CreateRestorePoint: { claim: 'role', in: ['admin'] } } }));
  const claimed = definePlugin({ name: 'claimed-bridge', itemTypes: [{ name: 'Fixture', claimedByWriter: true }] });
  const ts = await startTestServer({ plugins: [app, claimed], config: { authJwtSecret: secret, authAnonymous: true, permissionsFile: rules } });
  const rpc = eventRpcEnvelope;
  const result = async (c: JsonClient, cid: string) => (await c.next((m: AnyMessage) => m.type === 'result' && m['correlation-id'] === cid)).payload;
  const evtRes = (c: JsonClient, key: string) => c.next((m: AnyMessage) => m.$ === 'evt-res' && m.key === key);
  const as = async (path: string, claims?: Record<string, unknown>) =>
    JsonClient.connect(`${ts.server.url(path)}${claims ? `?access_token=${await token(claims)}` : ''}`);
  try {
    // Not authorised: an anonymous connection runs public commands only, unless the command carries a userToken.
    const anonRpc = await as('/eventrpc');
    anonRpc.send(rpc('command', { id: 'x', type: 'Whoami', data: {} }, 'who'));
    const who = await result(anonRpc, 'who');
    assert.deepEqual([who.status, who.code], ['rejected', 'MYKO_UNAUTHORIZED']);
    assert.equal(typeof who.errors[0], 'string');
    anonRpc.send(rpc('command', { id: 'x', type: 'Hello', data: {} }, 'hello'));
    assert.deepEqual(await result(anonRpc, 'hello'), { status: 'ok', data: 'hello' });
    anonRpc.send(rpc('command', { id: 'x', type: 'Whoami', data: { userToken: await token({ sub: 'carol' }) } }, 'who-2'));
    assert.deepEqual(await result(anonRpc, 'who-2'), { status: 'ok', data: { sub: 'carol' } });
    const anonModels = await as('/models');
    anonModels.send({ $: 'evt', key: 'm-who', target: { key: 'Whoami' } });
    const mWho = await evtRes(anonModels, 'm-who');
    assert.deepEqual([mWho.error, mWho.code], [true, 'MYKO_UNAUTHORIZED']);

    // Permission rules, by the handshake token's claims.
    const viewerRpc = await as('/eventrpc', { sub: 'v', role: 'viewer' });
    viewerRpc.send(rpc('command', { id: 'Cue/v1', type: 'SET', data: {} }, 'set'));
    const set = await result(viewerRpc, 'set');
    assert.deepEqual([set.status, set.code], ['rejected', 'MYKO_FORBIDDEN']);
    assert.match(set.errors[0], /not permitted to SET Cue/);
    viewerRpc.send(rpc('command', { id: 'x', type: 'CreateRestorePoint', data: { name: 'x' } }, 'rp'));
    const rp = await result(viewerRpc, 'rp');
    assert.deepEqual([rp.status, rp.code], ['rejected', 'MYKO_FORBIDDEN']);
    const viewerModels = await as('/models', { sub: 'v', role: 'viewer' });
    viewerModels.send({ $: 'evt', key: 'm-set', target: { key: 'set:Cue' }, payload: { id: 'v2' } });
    const mSet = await evtRes(viewerModels, 'm-set');
    assert.deepEqual([mSet.error, mSet.code], [true, 'MYKO_FORBIDDEN']);
    assert.match(mSet.payload, /not permitted to SET Cue/);
    const operatorModels = await as('/models', { sub: 'o', role: 'operator' });
    operatorModels.send({ $: 'evt', key: 'o-set', target: { key: 'set:Cue' }, payload: { id: 'o1' } });
    assert.equal((await evtRes(operatorModels, 'o-set')).payload.id, 'o1');
    assert.equal(ts.server.state.get('Cue', 'v1'), undefined);
    assert.equal(ts.server.state.get('Cue', 'v2'), undefined);

    // Ownership: what a live client wrote of a claimedByWriter type is its own, whatever the protocol.
    operatorModels.send({ $: 'evt', key: 'own', target: { key: 'set:Fixture' }, payload: { id: 'par-1', dim: 1 } });
    assert.equal((await evtRes(operatorModels, 'own')).payload.dim, 1);
    viewerRpc.send(rpc('command', { id: 'Fixture/par-1', type: 'SET', data: { dim: 99 } }, 'steal'));
    const steal = await result(viewerRpc, 'steal');
    assert.deepEqual([steal.status, steal.code], ['rejected', 'MYKO_FORBIDDEN']);
    assert.match(steal.errors[0], /belongs to client/);
    viewerModels.send({ $: 'evt', key: 'm-del', target: { key: 'del:Fixture' }, payload: 'par-1' });
    const mDel = await evtRes(viewerModels, 'm-del');
    assert.deepEqual([mDel.error, mDel.code], [true, 'MYKO_FORBIDDEN']);
    assert.match(mDel.payload, /belongs to client/);
    assert.equal(ts.server.state.get('Fixture', 'par-1')?.dim, 1);
    await Promise.all([anonRpc, anonModels, viewerRpc, viewerModels, operatorModels].map((c) => c.close()));
  } finally {
    await ts.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('limits: messages/s and events/s are refused, repeat offenders closed; live queries and connections capped', async () => {
  const ts = await startTestServer({
    config: { maxMessagesPerSecond: 50, maxMessagesBurst: 50, maxEventsPerSecond: 100, maxEventsBurst: 100, maxViolations: 20, maxLiveQueriesPerConnection: 3, maxConnections: 5 },
  });
  try {
    const calm = await TestClient.connect(ts.url);
    const flood = await TestClient.connect(ts.url);
    for (let i = 0; i < 60; i++) flood.send({ event: 'ws:m:ping', data: { id: `p${i}`, timestamp: i } });
    const limited = await flood.next((f) => f.event === 'ws:m:error' && f.data.code === 'MYKO_RATE_LIMITED');
    assert.match(limited.data.message, /messages per second/);
    // Keep going: closed with a reason.
    for (let i = 0; i < 100; i++) flood.ws.readyState === 1 && flood.send({ event: 'ws:m:ping', data: { id: `q${i}`, timestamp: i } });
    const closed = await flood.closed;
    assert.equal(closed.code, 1008);
    assert.equal(closed.reason, 'MYKO_RATE_LIMITED');
    await calm.sync(); // unaffected

    const writer = await TestClient.connect(ts.url);
    writer.send({ event: 'ws:m:event-batch', data: Array.from({ length: 150 }, (_, i) => ({ itemType: 'Dot', changeType: 'SET', item: { id: `d${i}` } })) });
    const ev = await writer.next((f) => f.event === 'ws:m:error');
    assert.equal(ev.data.code, 'MYKO_RATE_LIMITED');
    assert.match(ev.data.message, /events per second/);
    await writer.sync();
    assert.equal(ts.server.state.count('Dot'), 0, 'a refused batch stores nothing');

    for (let i = 0; i < 4; i++) calm.send({ event: 'ws:m:query', data: { queryId: 'GetAllDots', queryItemType: 'Dot', query: { tx: `q${i}` } } });
    const tooMany = await calm.next((f) => f.event === 'ws:m:query-error');
    assert.equal(tooMany.data.tx, 'q3');
    assert.match(tooMany.data.message, /MYKO_TOO_MANY_QUERIES/);

    // Open now: calm, writer and three more = 5, the cap (the flood socket is closed).
    const extra: TestClient[] = [];
    for (let i = 0; i < 3; i++) extra.push(await TestClient.connect(ts.url));
    const full = await handshake(ts.url);
    full.ws?.close();
    assert.equal(full.status, 503);
    assert.equal(JSON.parse(full.body!).code, 'MYKO_SERVER_FULL');
    await Promise.all([calm.close(), writer.close(), ...extra.map((c) => c.close())]);
  } finally {
    await ts.close();
  }
});

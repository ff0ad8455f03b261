import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { WebSocket, WebSocketServer } from 'ws';
import { Heartbeat } from './heartbeat.js';

/** What the heartbeat uses of a ws socket: readyState, bufferedAmount, ping, terminate, events. */
class FakeSocket extends EventEmitter {
  readonly OPEN = 1;
  readonly CLOSING = 2;
  readyState = 1;
  bufferedAmount = 0;
  pings = 0;
  terminated = false;
  ping() { this.pings++; }
  terminate() { this.terminated = true; this.readyState = 3; }
}

const quiet = { warn() {} } as never;

test('the heartbeat pings each connection once per interval, a slice of them per tick, never all at once', () => {
  const clients = new Set<FakeSocket>();
  const wss = Object.assign(new EventEmitter(), { clients }) as unknown as WebSocketServer;
  const hb = new Heartbeat(wss, 5000, 20_000, quiet);
  hb.stop(); // ticks are driven by hand below
  const tick = () => (hb as unknown as { tick(): void }).tick();
  for (let i = 0; i < 1000; i++) {
    const ws = new FakeSocket();
    clients.add(ws);
    wss.emit('connection', ws as unknown as WebSocket);
  }
  const perTick: number[] = [];
  const total = () => [...clients].reduce((n, ws) => n + ws.pings, 0);
  for (let t = 0; t < 50; t++) {
    const before = total();
    tick();
    perTick.push(total() - before);
  }
  assert.ok([...clients].every((ws) => ws.pings === 1), 'each connection pinged once in one sweep');
  assert.equal(Math.max(...perTick), 20, '1,000 connections over 50 ticks: 20 per tick');

  // A connection that arrives mid-sweep waits for the next sweep; one that closed is skipped.
  for (let t = 0; t < 10; t++) tick();
  const late = new FakeSocket();
  clients.add(late);
  wss.emit('connection', late as unknown as WebSocket);
  const gone = [...clients][999]!;
  gone.readyState = 3;
  for (let t = 10; t < 50; t++) tick();
  assert.equal(late.pings, 0);
  assert.equal(gone.pings, 1);
  for (let t = 0; t < 50; t++) tick();
  assert.equal(late.pings, 1);
  assert.ok([...clients].filter((ws) => ws !== late && ws !== gone).every((ws) => ws.pings === 3));
});

test('the heartbeat terminates a connection silent past the timeout when its slice comes', () => {
  const clients = new Set<FakeSocket>();
  const wss = Object.assign(new EventEmitter(), { clients }) as unknown as WebSocketServer;
  const hb = new Heartbeat(wss, 5000, 1, quiet);
  hb.stop();
  const ws = new FakeSocket();
  clients.add(ws);
  wss.emit('connection', ws as unknown as WebSocket);
  const t0 = Date.now();
  while (Date.now() - t0 < 5); // silent for more than the 1 ms timeout
  for (let t = 0; t < 50; t++) (hb as unknown as { tick(): void }).tick();
  assert.equal(ws.terminated, true);
});

/**
 * Support for the conformance suite: a server with the Rocketship plugin as
 * `myko serve` runs it, a controller that asks the server what it holds, and
 * a TCP relay that can go silent (WIRE.md 6.7: a network that dies without
 * FIN or RST). The client frames themselves live in ./fixtures, recorded from
 * the real clients; tests send them as recorded, byte for byte.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { startTestServer, TestClient, type AnyFrame, type TestServer } from '@myko/server/testing';
import { rshipPlugin } from '../server/plugin.js';

/** A fresh server (own data directory) with the plugin `myko serve` loads by default. */
export function startRshipServer(): Promise<TestServer> {
  return startTestServer({ plugins: [rshipPlugin()] });
}

/** A plain WebSocket that sends from its first moment, as the executors do (they do not wait for SetClientId). */
export function openRaw(url: string): Promise<TestClient> {
  return TestClient.connect(url, { waitForId: false });
}

/** The clientId a connection was given (SetClientId, or the 2023 name client:setId). */
export async function clientIdOf(c: TestClient): Promise<string> {
  const f = await c.next((x) => x.event === 'ws:m:command' && (x.data?.commandId === 'SetClientId' || x.data?.commandId === 'client:setId'));
  return f.data.command.clientId as string;
}

let seq = 0;
const nextTx = (prefix: string) => `${prefix}-${++seq}-${Date.now().toString(36)}`;

/** A dashboard-like connection that reads the server's state and invokes actions. */
export class Controller {
  private constructor(readonly c: TestClient) {}

  static async open(url: string): Promise<Controller> {
    return new Controller(await TestClient.connect(url));
  }

  /** The first answer (sequence 0) of a query: its items. */
  async items(queryId: string, itemType: string, params: Record<string, unknown> = {}): Promise<any[]> {
    const tx = nextTx('ctl-q');
    this.c.send({ event: 'ws:m:query', data: { queryId, queryItemType: itemType, query: { tx, ...params } } });
    const f = await this.c.next((x) => x.event === 'ws:m:query-response' && x.data?.tx === tx);
    this.c.send({ event: 'ws:m:query-cancel', data: { tx } });
    return (f.data.upserts as { item: any }[]).map((u) => u.item);
  }

  async item(itemType: string, id: string): Promise<any> {
    return (await this.items(`GetAll${itemType}s`, itemType)).find((i) => i.id === id);
  }

  /** Start a live query; returns its tx (frames arrive on this.c). */
  watch(queryId: string, itemType: string, params: Record<string, unknown> = {}): string {
    const tx = nextTx('ctl-w');
    this.c.send({ event: 'ws:m:query', data: { queryId, queryItemType: itemType, query: { tx, ...params } } });
    return tx;
  }

  /** Send a command; resolves with the command-response or command-error that answers it. */
  command(commandId: string, command: Record<string, unknown>, timeoutMs = 3000): Promise<AnyFrame> {
    const tx = nextTx('ctl-c');
    this.c.send({ event: 'ws:m:command', data: { commandId, command: { tx, createdAt: new Date().toISOString(), ...command } } });
    return this.c.nextNew((x) => (x.event === 'ws:m:command-response' || x.event === 'ws:m:command-error') && x.data?.tx === tx, timeoutMs);
  }

  close(): Promise<void> {
    return this.c.close();
  }
}

/** The tx and body of a command the server sent to an executor. */
export function commandTo(c: TestClient, commandIds: string[], timeoutMs = 3000): Promise<AnyFrame> {
  return c.nextNew((x) => x.event === 'ws:m:command' && commandIds.includes(x.data?.commandId), timeoutMs);
}

/**
 * A TCP relay between a client and the server. `cut()` stops forwarding in both
 * directions without closing anything: each side still holds an open socket
 * and hears nothing, as when a switch reboots mid-show. `drop()` later closes
 * the server's leg, as the dead TCP connection finally does.
 */
export class SilentProxy {
  private readonly pairs: { client: Socket; upstream: Socket }[] = [];
  private silent = false;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetUrl: string): Promise<SilentProxy> {
    const target = new URL(targetUrl);
    const server = createServer((client) => {
      const upstream = connect(Number(target.port), target.hostname);
      proxy.pairs.push({ client, upstream });
      client.on('data', (d) => {
        if (!proxy.silent) upstream.write(d);
      });
      upstream.on('data', (d) => {
        if (!proxy.silent) client.write(d);
      });
      // While silent nothing travels, not even a close: that is the fault under test.
      client.on('close', () => !proxy.silent && upstream.destroy());
      upstream.on('close', () => !proxy.silent && client.destroy());
      client.on('error', () => {});
      upstream.on('error', () => {});
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const proxy = new SilentProxy(server, (server.address() as { port: number }).port);
    return proxy;
  }

  /** The WebSocket URL of the target, reached through this relay. */
  url(path = '/myko'): string {
    return `ws://127.0.0.1:${this.port}${path}`;
  }

  cut(): void {
    this.silent = true;
  }

  /** The server's side of every relayed connection is reset. */
  drop(): void {
    for (const p of this.pairs) p.upstream.resetAndDestroy();
  }

  async close(): Promise<void> {
    for (const p of this.pairs) {
      p.client.destroy();
      p.upstream.destroy();
    }
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/**
 * Support for the conformance suite: a server with the Rocketship plugin as
 * `myko serve` runs it, and a controller that asks the server what it holds.
 * The client frames themselves live in ./fixtures, recorded from the real
 * clients; tests send them as recorded, byte for byte. The silent network
 * cut uses the server's SilentProxy (fault/silent-proxy.ts).
 */
import { startTestServer, TestClient, SilentProxy, type AnyFrame, type TestServer } from '@myko/server/testing';
import type { ServerConfig } from '@myko/server';
import { rshipPlugin } from '../server/plugin.js';

/** A fresh server (own data directory) with the plugin `myko serve` loads by default. */
export function startRshipServer(config: Partial<ServerConfig> = {}): Promise<TestServer> {
  return startTestServer({ plugins: [rshipPlugin()], config });
}

/**
 * Dead-connection settings scaled down so a silent cut is noticed within a
 * second: ping every 100 ms, retire a connection silent for 400 ms, give a
 * challenged owner 300 ms. The defaults (5 s, 20 s, 2 s) behave the same, slower.
 */
export const fastDeadPeers: Partial<ServerConfig> = { heartbeatIntervalMs: 100, heartbeatTimeoutMs: 400, ownerChallengeMs: 300 };

/** A relay to the test server whose link can die silently. */
export function silentProxyTo(ts: TestServer): Promise<SilentProxy> {
  const u = new URL(ts.url);
  return SilentProxy.start({ host: u.hostname, port: Number(u.port) });
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

import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy whose network can die silently (WIRE.md 6.7: a switch
 * rebooted, a cable pulled): `silence()` stops forwarding in both directions
 * and drops whatever arrives, but closes nothing, so neither end sees a FIN
 * or an RST, exactly as across a dead link. Test support only.
 *
 *   client ─▶ proxy ─▶ server        silence(): bytes in either direction are dropped
 */
export class SilentProxy {
  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly sockets: Set<Socket>,
    private readonly state: { silenced: boolean },
  ) {}

  /** Listen on a free port of 127.0.0.1 and forward every connection to `target`. */
  static async start(target: { host: string; port: number }): Promise<SilentProxy> {
    const sockets = new Set<Socket>();
    const state = { silenced: false };
    const server = createServer((client) => {
      const upstream = connect(target.port, target.host);
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => undefined);
      }
      const forward = (from: Socket, to: Socket) => {
        from.on('data', (chunk: Buffer) => {
          if (!state.silenced) to.write(chunk);
        });
        // A close seen before the silence is passed on; after it, nothing is (a dead link carries no FIN).
        from.on('end', () => {
          if (!state.silenced) to.end();
        });
      };
      forward(client, upstream);
      forward(upstream, client);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new SilentProxy(server, (server.address() as AddressInfo).port, sockets, state);
  }

  /** The network dies: nothing more crosses, nothing is closed. */
  silence(): void {
    this.state.silenced = true;
  }

  /** `ws://127.0.0.1:PORT/PATH` through the proxy. */
  url(path = '/myko'): string {
    return `ws://127.0.0.1:${this.port}${path}`;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

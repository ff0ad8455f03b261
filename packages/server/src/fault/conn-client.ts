/**
 * A child process for connections.int.test.ts: holds many Myko connections,
 * each with one live query, so the test process (and its measurements of the
 * server) are not crowded by them. Driven over IPC:
 *
 *   {cmd: 'open', url, count, concurrency, itemType} → {opened, failed, ms}
 *       each connection sends `GetAll<itemType>s` and counts once its first
 *       response (sequence 0) has arrived
 *   {cmd: 'watch', id}   → {watching}; later {received, total, firstAt, lastAt}
 *       once every connection's live query has delivered item `id`, or after 20 s
 *       (times are epoch milliseconds with a fraction, comparable across processes)
 *   {cmd: 'close'}       → {closed, ms}, then the process exits
 */
import WebSocket from 'ws';

type Cmd = { cmd: 'open'; url: string; count: number; concurrency: number; itemType: string } | { cmd: 'watch'; id: string } | { cmd: 'close' };

const sockets: WebSocket[] = [];
let watch: { needle: string; seen: Set<number>; first: number; last: number; done: () => void } | undefined;
const now = () => performance.timeOrigin + performance.now();

const reply = (m: object) => process.send!(m);

function openOne(url: string, index: number, itemType: string): Promise<boolean> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    let ready = false;
    const t = setTimeout(() => (ready ? undefined : (ws.terminate(), resolve(false))), 30_000);
    ws.on('open', () => ws.send(JSON.stringify({ event: 'ws:m:query', data: { queryId: `GetAll${itemType}s`, queryItemType: itemType, query: { tx: 'live' } } })));
    ws.on('message', (data: Buffer) => {
      // Cheap checks on the text: thousands of sockets, no JSON.parse per frame.
      const text = data.toString();
      if (!ready && text.includes('"ws:m:query-response"') && text.includes('"tx":"live"')) {
        ready = true;
        clearTimeout(t);
        resolve(true);
      }
      if (watch && text.includes(watch.needle) && !watch.seen.has(index)) {
        const at = now();
        if (watch.seen.size === 0) watch.first = at;
        watch.seen.add(index);
        watch.last = at;
        if (watch.seen.size === sockets.length) watch.done();
      }
    });
    ws.on('error', () => undefined);
    ws.on('close', () => {
      if (!ready) {
        clearTimeout(t);
        resolve(false);
      }
    });
    sockets[index] = ws;
  });
}

process.on('message', async (m: Cmd) => {
  if (m.cmd === 'open') {
    const t0 = performance.now();
    let next = 0;
    let failed = 0;
    const worker = async () => {
      while (next < m.count) {
        const i = next++;
        if (!(await openOne(m.url, i, m.itemType))) failed++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(m.concurrency, m.count) }, worker));
    reply({ opened: m.count - failed, failed, ms: Math.round(performance.now() - t0) });
  } else if (m.cmd === 'watch') {
    const w = { needle: `"${m.id}"`, seen: new Set<number>(), first: -1, last: -1, done: () => undefined as void };
    watch = w;
    const finished = new Promise<void>((r) => {
      w.done = r;
      setTimeout(r, 20_000);
    });
    reply({ watching: true });
    await finished;
    reply({ received: w.seen.size, total: sockets.length, firstAt: w.first, lastAt: w.last });
  } else if (m.cmd === 'close') {
    const t0 = performance.now();
    await Promise.all(
      sockets.map(
        (ws) =>
          new Promise<void>((r) => {
            if (ws.readyState === WebSocket.CLOSED) return r();
            ws.once('close', () => r());
            ws.close();
          }),
      ),
    );
    reply({ closed: sockets.length, ms: Math.round(performance.now() - t0) });
    process.disconnect();
  }
});

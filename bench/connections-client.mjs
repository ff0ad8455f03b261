// One client process of bench/connections.mjs (a process holds at most a few
// thousand sockets: the fd limit is per process). Driven over IPC:
//
//   {cmd:'open', url, kind:'myko'|'bare', from, count}  open connections from..from+count-1, each with its
//        live query (myko: GetConnsByIds of the one item `k<i>`; bare: {"event":"sub"}) → {type:'opened', ms}
//   {cmd:'probe', mark, expect:[i…]}  count connections that receive an item carrying `mark`
//        (myko: the SET of k<i> for each i in expect; bare: one broadcast to all) → {type:'probed', got, missing}
//   {cmd:'close'}  terminate every socket and exit
import WebSocket from 'ws';

const socks = new Map();
let probe = null;

function onMessage(i, data) {
  if (!probe) return;
  const s = data.toString();
  if (!s.includes(probe.mark)) return;
  probe.got.add(i);
  if (probe.got.size >= probe.want) probe.done();
}

function openOne(url, kind, i) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    const t = setTimeout(() => (ws.terminate(), reject(new Error(`connection ${i}: no first response in 60 s`))), 60_000);
    let ready = false;
    const tx = `q${i}`;
    ws.once('error', (err) => (clearTimeout(t), reject(err)));
    ws.once('open', () =>
      ws.send(
        kind === 'bare'
          ? '{"event":"sub"}'
          : JSON.stringify({ event: 'ws:m:query', data: { queryId: 'GetConnsByIds', queryItemType: 'Conn', query: { tx, ids: [`k${i}`] } } }),
      ),
    );
    ws.on('message', (d) => {
      if (!ready) {
        const s = d.toString();
        if (kind === 'bare' ? s === '{"event":"sub-ok"}' : s.includes('"ws:m:query-response"') && s.includes(`"tx":"${tx}"`)) {
          ready = true;
          clearTimeout(t);
          socks.set(i, ws);
          resolve();
        }
        return;
      }
      onMessage(i, d);
    });
  });
}

process.on('message', async (msg) => {
  try {
    if (msg.cmd === 'open') {
      const t0 = performance.now();
      const end = msg.from + msg.count;
      // 100 handshakes in flight per process: enough to keep the server busy, few enough not to time out.
      for (let i = msg.from; i < end; ) {
        const batch = [];
        for (let k = 0; k < 100 && i < end; k++, i++) batch.push(openOne(msg.url, msg.kind, i));
        await Promise.all(batch);
      }
      process.send({ type: 'opened', ms: performance.now() - t0 });
    } else if (msg.cmd === 'probe') {
      const want = msg.expect === 'all' ? socks.size : msg.expect.length;
      const got = new Set();
      await new Promise((resolve) => {
        probe = { mark: msg.mark, got, want, done: resolve };
        if (want === 0) resolve();
        setTimeout(resolve, msg.timeoutMs ?? 15_000);
      });
      probe = null;
      const expected = msg.expect === 'all' ? [...socks.keys()] : msg.expect;
      process.send({ type: 'probed', got: got.size, missing: expected.filter((i) => !got.has(i)).slice(0, 10) });
    } else if (msg.cmd === 'close') {
      for (const ws of socks.values()) ws.terminate();
      process.exit(0);
    }
  } catch (err) {
    process.send({ type: 'error', message: err.message });
  }
});
process.on('disconnect', () => process.exit(0));

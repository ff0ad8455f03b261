// The baseline for `fanout` and `snapshot`: a bare `ws` WebSocketServer, no
// store, no state, no queries. It does the least any server must do to serve
// the same traffic, so the ratio server/baseline shows what Myko adds.
//
//   {"event":"sub"}              → remember the socket as a subscriber, reply {"event":"sub-ok"}
//   {"event":"pub","data":ITEM}  → build ONE query-response-shaped frame, send it to every subscriber
//   {"event":"store","data":S}   → keep the string S, reply {"event":"store-ok"}
//   {"event":"get"}              → send the stored string S back as is
//
// Prints `PORT <n>` on stdout once it listens.
import { WebSocketServer } from 'ws';

const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false, maxPayload: 256 * 1024 * 1024 });
const subscribers = new Set();
let stored = '';
let sequence = 0;

wss.on('connection', (ws) => {
  ws.on('message', (data) => {
    const frame = JSON.parse(data.toString());
    switch (frame.event) {
      case 'sub':
        subscribers.add(ws);
        ws.send('{"event":"sub-ok"}');
        break;
      case 'pub': {
        const out = JSON.stringify({
          event: 'ws:m:query-response',
          data: { tx: 'baseline', sequence: ++sequence, upserts: [{ itemType: frame.data.itemType, item: frame.data.item }], deletes: [], totalCount: 1 },
        });
        for (const s of subscribers) s.send(out);
        break;
      }
      case 'store':
        stored = frame.data;
        ws.send('{"event":"store-ok"}');
        break;
      case 'get':
        ws.send(stored);
        break;
    }
  });
  ws.on('close', () => subscribers.delete(ws));
});
wss.on('listening', () => process.stdout.write(`PORT ${wss.address().port}\n`));
process.on('SIGTERM', () => wss.close(() => process.exit(0)));

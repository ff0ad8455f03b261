// The peer baseline of bench/fanout-socketio.mjs: a Socket.IO server (what
// users pick instead of Myko for "push a change to many clients"), doing the
// least Socket.IO needs to serve the same traffic as bench/baseline-server.mjs:
//
//   emit('sub', ack)   → join the room 'subs', ack('sub-ok')
//   emit('pub', {itemType, item}) → build ONE query-response-shaped payload and
//                        broadcast it to the room (Socket.IO encodes a broadcast once)
//
// WebSocket transport only, no compression: the same wire as the other two.
// Prints `PORT <n>` on stdout once it listens.
import { createServer } from 'node:http';
import { Server } from 'socket.io';

const http = createServer();
const io = new Server(http, { transports: ['websocket'], perMessageDeflate: false, serveClient: false, maxHttpBufferSize: 256 * 1024 * 1024 });
let sequence = 0;

io.on('connection', (socket) => {
  socket.on('sub', (ack) => {
    socket.join('subs');
    if (typeof ack === 'function') ack('sub-ok');
  });
  socket.on('pub', (data) => {
    io.to('subs').emit('ws:m:query-response', {
      tx: 'baseline',
      sequence: ++sequence,
      upserts: [{ itemType: data.itemType, item: data.item }],
      deletes: [],
      totalCount: 1,
    });
  });
});
http.listen(0, '127.0.0.1', () => process.stdout.write(`PORT ${http.address().port}\n`));
process.on('SIGTERM', () => io.close(() => process.exit(0)));

// A preload for the servers of bench/fanout-socketio.mjs (node --import bench/write-timeline.mjs …),
// used when BENCH_FANOUT_TIMELINE=1: when, within each fanout round, the server's first and last socket
// writes happen, counted from the moment the writer's frame reached the server's JavaScript (the
// socket's 'data' event). It shows what the round's latency cannot: how long each server works on
// an event before its first subscriber's frame leaves, and how long its sends take.
//
// A round starts at a socket's 'data' event (in the fanout only the writer sends during rounds) and
// ends at the next one. Rounds with at least BENCH_TIMELINE_MIN_WRITES writes (500: the 1,000-subscriber
// phase) are kept; every 2 s and at exit their medians go to BENCH_TIMELINE_FILE as JSON.
//
// It wraps net.Socket's emit and write in the server process: one performance.now() per write, the
// same for every server measured. The main thread only (a worker's sockets are not the fanout's).
import net from 'node:net';
import { writeFileSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';
import { pctSorted, sortNum } from './section.mjs';

const file = process.env.BENCH_TIMELINE_FILE;
if (isMainThread && file) {
  const minWrites = Number(process.env.BENCH_TIMELINE_MIN_WRITES ?? 500);
  const firsts = [];
  const lasts = [];
  let tData = 0;
  let first = 0;
  let last = 0;
  let writes = 0;
  const endRound = () => {
    if (writes >= minWrites) {
      firsts.push(first - tData);
      lasts.push(last - tData);
    }
    writes = 0;
  };
  const emit = net.Socket.prototype.emit;
  net.Socket.prototype.emit = function (event, ...args) {
    if (event === 'data') {
      endRound();
      tData = performance.now();
    }
    return emit.call(this, event, ...args);
  };
  const write = net.Socket.prototype.write;
  net.Socket.prototype.write = function (...args) {
    const t = performance.now();
    if (writes === 0) first = t;
    last = t;
    writes++;
    return write.apply(this, args);
  };
  const median = (a) => pctSorted(sortNum(a), 50);
  const dump = () => writeFileSync(file, JSON.stringify({ rounds: firsts.length, firstWriteMs: median(firsts), lastWriteMs: median(lasts) }));
  setInterval(dump, 2000).unref();
  process.on('exit', dump);
}

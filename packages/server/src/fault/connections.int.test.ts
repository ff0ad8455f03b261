/**
 * Many concurrent connections on one server (a child process), each with one
 * live query, held by another child process (conn-client.ts) so that neither
 * the test nor the server shares a process with them. Measured: the server's
 * resident memory (VmRSS) before and after, so the memory per connection;
 * then a write must reach every one of the live queries.
 *
 * 5,000 connections in the short form and in the soak: ~10 s here
 * (MYKO_FAULT_CONNECTIONS overrides). Nothing system-wide is raised: the
 * open-file limit of this environment (ulimit -n) must allow them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { sleep, spawnServer, tempDir } from '../testing/index.js';
import { alive, machine, rssBytes, stopServer } from './support.js';
import { RawSocket, type Msg } from './raw-socket.js';

const count = Number(process.env.MYKO_FAULT_CONNECTIONS ?? 5_000);
const clientPath = fileURLToPath(new URL('./conn-client.js', import.meta.url));

/** Send a command to the connection-holding child and wait for its answer (the first message matching `pred`). */
function ask(child: ChildProcess, m: object, pred: (r: Msg) => boolean, timeoutMs = 120_000): Promise<Msg> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => (child.off('message', on), reject(new Error(`no answer to ${JSON.stringify(m)} in ${timeoutMs} ms`))), timeoutMs);
    const on = (r: Msg) => {
      if (!pred(r)) return;
      clearTimeout(t);
      child.off('message', on);
      resolve(r);
    };
    child.on('message', on);
    child.send(m);
  });
}

/** VmRSS, the median of 5 samples 60 ms apart (it moves with garbage collection). */
async function settledRss(pid: number): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    samples.push(rssBytes(pid));
    await sleep(60);
  }
  return samples.sort((a, b) => a - b)[2]!;
}

const mib = (b: number) => (b / 2 ** 20).toFixed(1);

test(`${count} concurrent connections, each with a live query: memory per connection, and a write reaches all of them`, { timeout: 180_000 }, async () => {
  const dataDir = tempDir('myko-fault-conns-');
  const server = await spawnServer({ dataDir });
  const pid = server.proc.pid!;
  let child: ChildProcess | undefined;
  try {
    // Warm up: every code path one connection with a live query takes, then idle.
    const warm = await RawSocket.connect(server.url);
    warm.send({ event: 'ws:m:query', data: { queryId: 'GetAllFaultProbes', queryItemType: 'FaultProbe', query: { tx: 'warm' } } });
    await warm.next((m) => m.event === 'ws:m:query-response' && m.data?.tx === 'warm');
    await warm.close();
    await sleep(500);
    const before = await settledRss(pid);

    child = fork(clientPath, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const opened = await ask(child, { cmd: 'open', url: server.url, count, concurrency: 100, itemType: 'FaultProbe' }, (r) => 'opened' in r);
    assert.equal(opened.failed, 0, `every connection opened and got its live query's first response (${JSON.stringify(opened)})`);
    assert.equal(opened.opened, count);
    await sleep(500);
    const after = await settledRss(pid);
    const perConnection = (after - before) / count;
    assert.ok(alive(server.proc), 'the server is up');

    // A write reaches every live query: the child reports when each of its connections saw it.
    await ask(child, { cmd: 'watch', id: 'probe-1' }, (r) => r.watching === true);
    const delivered = new Promise<Msg>((resolve) => {
      const on = (r: Msg) => {
        if (!('received' in r)) return;
        child!.off('message', on);
        resolve(r);
      };
      child!.on('message', on);
    });
    const writer = await RawSocket.connect(server.url);
    await writer.next((m) => m.event === 'ws:m:command' && m.data?.commandId === 'SetClientId');
    const sentAt = performance.timeOrigin + performance.now();
    writer.send({ event: 'ws:m:event', data: { itemType: 'FaultProbe', changeType: 'SET', item: { id: 'probe-1', at: sentAt } } });
    const seen = await delivered;
    assert.equal(seen.received, count, `the write reached ${seen.received} of ${count} live queries`);
    // The server still serves a new client normally.
    writer.send({ event: 'ws:m:report', data: { reportId: 'GetClientsCount', report: { tx: 'clients' } } });
    const clients = (await writer.next((m) => m.event === 'ws:m:report-response' && m.data?.tx === 'clients', 10_000)).data.response as number;
    assert.ok(clients >= count + 1, `${clients} Client items for ${count + 1} connections`);
    await writer.close();

    const closed = await ask(child, { cmd: 'close' }, (r) => 'closed' in r);
    await sleep(500);
    const afterClose = await settledRss(pid);
    assert.equal(await stopServer(server.proc), 0, 'a clean stop');
    console.log(
      `connections: ${count} held, each with one live query (opened 100 at a time in ${opened.ms} ms); server RSS ${mib(before)} MiB before, ` +
        `${mib(after)} MiB with them: ${(perConnection / 1024).toFixed(1)} KiB per connection; a write reached all ${seen.received} in ` +
        `${(seen.lastAt - sentAt).toFixed(1)} ms (first after ${(seen.firstAt - sentAt).toFixed(1)} ms); all closed in ${closed.ms} ms, RSS then ${mib(afterClose)} MiB; ${machine()}`,
    );
  } finally {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    if (alive(server.proc)) server.proc.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
});

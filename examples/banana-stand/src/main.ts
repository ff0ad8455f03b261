#!/usr/bin/env node
/**
 * The Banana Stand executor.
 *
 *   node examples/banana-stand/dist/main.js --url ws://127.0.0.1:5155/myko
 *   npm start -w examples/banana-stand -- --url ws://127.0.0.1:5155/myko
 *
 * Options (environment in brackets):
 *   --url URL            server, repeatable or comma-separated for failover [RSHIP_URL]; default ws://127.0.0.1:5155/myko
 *   --token TOKEN        access token [RSHIP_TOKEN]
 *   --instance-id ID     instance id; default bluth-banana-stand
 *   --pulse-ms N         ms between banana sales (pulses); default 1000
 *   --no-cash-register   leave out the cash-register sub-target
 *   --cbor               CBOR frames instead of JSON
 *
 * SIGINT / SIGTERM: targets go offline, the instance Unavailable, then exit 0.
 */
import { parseArgs } from 'node:util';
import { connect } from '@myko/rship/node';
import { bananaStand } from './stand.js';

const { values } = parseArgs({
  options: {
    url: { type: 'string', multiple: true },
    token: { type: 'string' },
    'instance-id': { type: 'string' },
    'pulse-ms': { type: 'string' },
    'no-cash-register': { type: 'boolean', default: false },
    cbor: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});

if (values.help) {
  console.log('usage: banana-stand [--url ws://host:5155/myko]... [--token T] [--instance-id ID] [--pulse-ms N] [--no-cash-register] [--cbor]');
  process.exit(0);
}

const urls = (values.url ?? [process.env.RSHIP_URL ?? 'ws://127.0.0.1:5155/myko']).flatMap((u) => u.split(',')).filter(Boolean);
const pulseMs = Number(values['pulse-ms'] ?? 1000);
if (!(pulseMs > 0)) {
  console.error('--pulse-ms must be a positive number');
  process.exit(2);
}
const token = values.token ?? process.env.RSHIP_TOKEN;
const log = (line: string) => console.log(`[banana-stand] ${line}`);

const session = connect({ urls, ...(token ? { token } : {}), encoding: values.cbor ? 'cbor' : 'json', reconnect: { maxDelayMs: 5000 } });
const stand = bananaStand(session, {
  pulseMs,
  cashRegister: !values['no-cash-register'],
  log,
  ...(values['instance-id'] ? { instanceId: values['instance-id'] } : {}),
});

session.status.subscribe((s) => {
  if (s.type === 'reconnecting') log(`connection lost; retry ${s.attempt} in ${s.delayMs} ms (${s.url})`);
  else if (s.type === 'connecting' && s.attempt === 0) log(`connecting to ${s.url}`);
});
session.onRegistered((info) => {
  const stale = info.staleOffline.length > 0 ? `, set stale target statuses offline: ${info.staleOffline.join(', ')}` : '';
  log(`registered as client ${info.clientId} at ${info.url}: ${info.items} items, instance ${stand.instance.id}${stale}`);
});
session.onError((e) => log(`error: ${e.message}`));
stand.start();

let stopping = false;
const stop = async (signal: string) => {
  if (stopping) process.exit(1); // a second signal: leave now
  stopping = true;
  log(`${signal}: going offline`);
  stand.stop();
  await session.close();
  log('closed');
  process.exit(0);
};
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));

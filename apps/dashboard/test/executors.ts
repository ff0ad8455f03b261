import { spawn, type ChildProcess } from 'node:child_process';
import { TestClient } from '@myko/server/testing';

/**
 * The executors the dashboard test drives: the Banana Stand example as a
 * child process, the same stand over a raw WebSocket, an office desk with a
 * schema held in a string, and a clock whose pulses are old or carry no
 * timestamp.
 */

export interface Executor {
  stop(): Promise<void>;
  kind: string;
}

/** The Banana Stand example executor, as a user would run it. */
export async function startExample(url: string, exampleMain: string): Promise<Executor> {
  const proc: ChildProcess = spawn(process.execPath, [exampleMain, '--url', url, '--pulse-ms', '200'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const killOnExit = () => proc.kill('SIGKILL');
  process.once('exit', killOnExit);
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`the example did not register: ${out}`)), 10000);
    proc.stdout!.on('data', () => {
      if (/registered as client/.test(out)) {
        clearTimeout(t);
        resolve();
      }
    });
    proc.once('exit', (code) => (clearTimeout(t), reject(new Error(`the example exited with ${code}: ${out}`))));
  });
  return {
    kind: 'examples/banana-stand',
    stop: async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGKILL'); // no goodbye: the server must notice the closed socket by itself
      await exited;
      process.off('exit', killOnExit);
    },
  };
}

/** The same stand over a raw WebSocket, frame by frame (WIRE.md 2). */
export async function startRawExecutor(url: string): Promise<Executor> {
  const c = await TestClient.connect(url);
  const burn = { type: 'object', required: ['intensity'], properties: { intensity: { type: 'number', minimum: 0, maximum: 10 } }, additionalProperties: false };
  const fill = { type: 'object', required: ['amount'], properties: { amount: { type: 'number', exclusiveMinimum: 0 }, note: { type: 'string' } } };
  const ev = (itemType: string, item: Record<string, unknown>) => ({ itemType, changeType: 'SET', item });
  const svc = 'bluth-company';
  const inst = 'bluth-banana-stand';
  c.send({
    event: 'ws:m:event-batch',
    data: [
      ev('Instance', { id: inst, name: 'Bluth Banana Stand', serviceId: svc, serviceTypeCode: 'bluth', status: 'Available', color: '#ffff00', clientId: c.clientId }),
      // A schema as a JSON string, as some executors send it.
      ev('Action', { id: 'banana-stand:burn', name: 'burn', schema: JSON.stringify(burn), targetId: 'banana-stand', serviceId: svc }),
      ev('Action', { id: 'banana-stand:fill-with-money', name: 'fill-with-money', schema: fill, targetId: 'banana-stand', serviceId: svc }),
      ev('Action', { id: 'cash-register:open-drawer', name: 'open-drawer', schema: null, targetId: 'cash-register', serviceId: svc }),
      ev('Emitter', { id: 'banana-stand:banana-sold', name: 'banana-sold', targetId: 'banana-stand', serviceId: svc }),
      ev('Emitter', { id: 'cash-register:balance', name: 'balance', targetId: 'cash-register', serviceId: svc }),
      ev('Target', { id: 'banana-stand', name: 'The Banana Stand', serviceId: svc, actionIds: ['banana-stand:burn', 'banana-stand:fill-with-money'], emitterIds: ['banana-stand:banana-sold'], subTargets: ['cash-register'], bgColor: '#ffff00', fgColor: '#000000', category: 'Frozen bananas', rootLevel: true }),
      ev('Target', { id: 'cash-register', name: 'Cash Register', serviceId: svc, actionIds: ['cash-register:open-drawer'], emitterIds: ['cash-register:balance'], parentTargets: ['banana-stand'], bgColor: '#2e7d32', fgColor: '#ffffff', category: 'Frozen bananas', rootLevel: false }),
      ev('TargetStatus', { targetId: 'banana-stand', instanceId: inst, status: 'online' }),
      ev('TargetStatus', { targetId: 'cash-register', instanceId: inst, status: 'online' }),
    ],
  });
  const state = { fire: 0, cash: 0, sold: 0 };
  c.ws.on('message', (raw: Buffer) => {
    const f = JSON.parse(raw.toString());
    if (f.event !== 'ws:m:command' || f.data.commandId !== 'ExecTargetAction') return;
    const { tx, action, data } = f.data.command;
    const reply = (response: unknown) => c.send({ event: 'ws:m:command-response', data: { tx, response } });
    const fail = (message: string) => c.send({ event: 'ws:m:command-error', data: { tx, commandId: 'ExecTargetAction', message } });
    if (action.id === 'banana-stand:burn') {
      state.fire = data.intensity;
      reply({ burning: state.fire > 0, intensity: state.fire });
    } else if (action.id === 'banana-stand:fill-with-money') {
      if (state.fire > 0) fail(`The Banana Stand is on fire (intensity ${state.fire}): the money would burn`);
      else reply({ cash: (state.cash += data.amount) });
    } else reply({ cash: state.cash });
  });
  const timer = setInterval(() => {
    state.sold++;
    state.cash++;
    c.send({ event: 'ws:m:event', data: ev('Pulse', { id: 'banana-stand:banana-sold', emitterId: 'banana-stand:banana-sold', data: state.sold }) });
    c.send({ event: 'ws:m:event', data: ev('Pulse', { id: 'cash-register:balance', emitterId: 'cash-register:balance', data: { cash: state.cash } }) });
  }, 200);
  await c.sync();
  return {
    kind: 'raw WebSocket executor',
    stop: async () => {
      clearInterval(timer);
      c.ws.terminate();
      await c.closed;
    },
  };
}

/**
 * A second executor over a raw WebSocket with one action whose schema is a
 * JSON string holding an enum, a boolean, a string and an integer; it answers
 * with the payload it received, so the test sees exactly what the form sent.
 */
export async function startDeskExecutor(url: string): Promise<{ stop(): Promise<void> }> {
  const c = await TestClient.connect(url);
  const schema = {
    type: 'object',
    required: ['mode'],
    properties: {
      mode: { enum: ['calm', 'panic', 'off'] },
      loud: { type: 'boolean' },
      note: { type: 'string' },
      level: { type: 'integer', minimum: 0 },
    },
    additionalProperties: false,
  };
  const svc = 'bluth-office';
  const inst = 'bluth-office-desk';
  const ev = (itemType: string, item: Record<string, unknown>) => ({ itemType, changeType: 'SET', item });
  c.send({
    event: 'ws:m:event-batch',
    data: [
      ev('Instance', { id: inst, name: 'Office', serviceId: svc, serviceTypeCode: 'bluth', status: 'Available', color: '#3949ab', clientId: c.clientId }),
      ev('Action', { id: 'control-desk:configure', name: 'configure', schema: JSON.stringify(schema), targetId: 'control-desk', serviceId: svc }),
      ev('Target', { id: 'control-desk', name: 'Control Desk', serviceId: svc, actionIds: ['control-desk:configure'], emitterIds: [], subTargets: [], bgColor: '#3949ab', fgColor: '#ffffff', category: 'Office', rootLevel: true }),
      ev('TargetStatus', { targetId: 'control-desk', instanceId: inst, status: 'online' }),
    ],
  });
  c.ws.on('message', (raw: Buffer) => {
    const f = JSON.parse(raw.toString());
    if (f.event !== 'ws:m:command' || f.data.commandId !== 'ExecTargetAction') return;
    c.send({ event: 'ws:m:command-response', data: { tx: f.data.command.tx, response: { received: f.data.command.data } } });
  });
  await c.sync();
  return {
    stop: async () => {
      c.ws.terminate();
      await c.closed;
    },
  };
}

/** Ten minutes, the age of the clock's `old` pulse when it is sent. */
export const oldPulseAgeMs = 10 * 60_000;

/**
 * A clock over a raw WebSocket, for ages and formats: emitter `clock:old`
 * pulses once, with a timestamp ten minutes old and an epoch-ms field in its
 * data; `clock:plain` pulses once with no timestamp (the server's commit
 * time is its time); `clock:gauges` pulses a few values with long field
 * names (for the chart legend). It stays connected, so its target stays online.
 */
export async function startClockExecutor(url: string): Promise<{ stop(): Promise<void>; sentAt: number }> {
  const c = await TestClient.connect(url);
  const svc = 'clock-service';
  const inst = 'clock-instance';
  const ev = (itemType: string, item: Record<string, unknown>) => ({ itemType, changeType: 'SET', item });
  const emitter = (name: string) => ev('Emitter', { id: `clock:${name}`, name, targetId: 'clock', serviceId: svc });
  const sentAt = Date.now();
  c.send({
    event: 'ws:m:event-batch',
    data: [
      ev('Instance', { id: inst, name: 'Clock Tower', serviceId: svc, serviceTypeCode: 'clock', status: 'Available', color: '#8d6e63', clientId: c.clientId }),
      emitter('old'),
      emitter('plain'),
      emitter('gauges'),
      ev('Target', { id: 'clock', name: 'Clock', serviceId: svc, actionIds: [], emitterIds: ['clock:old', 'clock:plain', 'clock:gauges'], subTargets: [], bgColor: '#5d4037', fgColor: '#ffffff', category: 'Time', rootLevel: true }),
      ev('TargetStatus', { targetId: 'clock', instanceId: inst, status: 'online' }),
      ev('Pulse', { emitterId: 'clock:old', data: { level: 0.5, startedAt: sentAt - 3_600_000 }, timestamp: sentAt - oldPulseAgeMs }),
      // A value of its own each time: an equal SET would change nothing and keep the earlier commit time.
      ev('Pulse', { emitterId: 'clock:plain', data: sentAt % 100_000 }),
    ],
  });
  for (let i = 0; i < 4; i++)
    c.send({ event: 'ws:m:event', data: ev('Pulse', { emitterId: 'clock:gauges', data: { leftFreezerTemperatureCelsius: -18.5 - i, compressorDutyCyclePercentage: 40 + i * 7 }, timestamp: Date.now() }) });
  await c.sync();
  return {
    sentAt,
    stop: async () => {
      c.ws.terminate();
      await c.closed;
    },
  };
}

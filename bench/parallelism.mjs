// How much of two cores two busy threads get on this machine: the same CPU-bound loop (SHA-256 and
// JSON, like the server's event path) timed in one process alone, then in two processes at once.
// On a machine whose two vCPUs share a physical core or its caches, each of the two runs slower than
// the one alone, and work split across the server's two threads gains less than twice. bench/run.mjs
// reports it beside the machine, so a run's ratios can be read against it.
import { spawn } from 'node:child_process';

const LOOP = `
const { hash } = require('node:crypto');
const item = { id: 'c0-0000001', n: 1, payload: 'p-c0-0000001-'.padEnd(64, 'x') };
const t0 = performance.now();
let n = 0;
for (let i = 0; i < 1000000; i++) n += hash('sha256', JSON.stringify({ ...item, n: i }), 'hex').length;
process.stdout.write(String(performance.now() - t0));
`;

function once() {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', LOOP], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(Number(out)) : reject(new Error(`parallelism probe exited with ${code}`))));
  });
}

/**
 * `alone`: ms of the loop in one process (mean of a run before and after the pair); `together`: mean
 * ms of each of two started at once; `share`: alone ÷ together, the speed each of two keeps (1 on two
 * independent cores); `cores`: 2 × share, the cores' worth of work two busy threads get.
 */
export async function parallelism() {
  const a1 = await once();
  const [b1, b2] = await Promise.all([once(), once()]);
  const a2 = await once();
  const alone = (a1 + a2) / 2;
  const together = (b1 + b2) / 2;
  return { alone: +alone.toFixed(0), together: +together.toFixed(0), share: +(alone / together).toFixed(2), cores: +((2 * alone) / together).toFixed(2) };
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await parallelism());

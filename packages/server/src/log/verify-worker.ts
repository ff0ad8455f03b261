import { parentPort } from 'node:worker_threads';
import { checkBatch, type RowBatch } from './verify-rows.js';

/** A verify worker (log/verify-pool.ts): checks each batch it is sent, answers in the order they came. */
parentPort!.on('message', (b: RowBatch) => parentPort!.postMessage(checkBatch(b)));

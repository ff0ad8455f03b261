import { Ajv, type ValidateFunction } from 'ajv';
import { describeAjvErrors } from '@myko/server';
import type { Action } from '../entities.js';
import { RshipError } from './routing.js';

/**
 * Action payloads are checked against the action's own JSON Schema before
 * anything reaches the executor. Executors publish schemas from many
 * generators, so the validator is lenient about unknown keywords and formats.
 */
const ajv = new Ajv({ strict: false, allErrors: false, validateFormats: false });
const cache = new Map<string, ValidateFunction>();
const maxCached = 2000;

function validatorFor(action: Action): ValidateFunction | undefined {
  const raw = action.schema;
  if (raw === null || raw === undefined || raw === '') return undefined;
  const key = typeof raw === 'string' ? raw : JSON.stringify(raw);
  let fn = cache.get(key);
  if (fn) return fn;
  let schema: unknown;
  try {
    schema = typeof raw === 'string' ? JSON.parse(raw) : raw;
  } catch (err) {
    throw new RshipError('RSHIP_BAD_SCHEMA', `action ${action.id} has a schema that is not JSON: ${(err as Error).message}`);
  }
  if (schema === null || typeof schema !== 'object') return undefined;
  try {
    fn = ajv.compile(schema as object);
  } catch (err) {
    throw new RshipError('RSHIP_BAD_SCHEMA', `action ${action.id} has an invalid JSON Schema: ${(err as Error).message}`);
  }
  if (cache.size >= maxCached) cache.clear();
  cache.set(key, fn);
  return fn;
}

/** Throws RSHIP_BAD_PAYLOAD naming the field, e.g. `data.amount must be number`. */
export function checkPayload(action: Action, data: unknown, root = 'data'): void {
  const fn = validatorFor(action);
  if (!fn || fn(data)) return;
  const detail = describeAjvErrors(fn.errors, root);
  throw new RshipError('RSHIP_BAD_PAYLOAD', `payload rejected by the schema of action ${action.id} (${action.name}): ${detail}`);
}

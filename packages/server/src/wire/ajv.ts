import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';

/**
 * One ajv instance for the process: wire frames, item types and command
 * params are all JSON Schema, compiled once to fast validators.
 * `allErrors` is off: the first failure is what the sender needs to read.
 */
export const ajv = new Ajv({ allErrors: false, strict: false, coerceTypes: false, useDefaults: false });

/** "data.item.id must be string" — names the field, in the sender's own terms. */
export function describeAjvErrors(errors: ErrorObject[] | null | undefined, root: string): string {
  const e = errors?.[0];
  if (!e) return `${root} is invalid`;
  const path = root + e.instancePath.replace(/\/(\d+)(?=\/|$)/g, '[$1]').replace(/\//g, '.');
  if (e.keyword === 'required') return `${path}.${(e.params as { missingProperty: string }).missingProperty} is required`;
  if (e.keyword === 'additionalProperties')
    return `${path} has an unknown field ${(e.params as { additionalProperty: string }).additionalProperty}`;
  if (e.keyword === 'enum' || e.keyword === 'const')
    return `${path} must be one of ${JSON.stringify((e.params as { allowedValues?: unknown[] }).allowedValues ?? (e.params as { allowedValue: unknown }).allowedValue)}`;
  return `${path} ${e.message ?? 'is invalid'}`;
}

export type { ValidateFunction };

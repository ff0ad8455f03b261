import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';

/**
 * One ajv instance for the process: wire frames and command params are JSON
 * Schema, compiled once to fast validators. `allErrors` is off: the first
 * failure is what the sender needs to read.
 */
export const ajv = new Ajv({ allErrors: false, strict: false, coerceTypes: false, useDefaults: false });

/**
 * For item types (core/registry.ts): a refused item's error lists every
 * problem of that item at once, so an executor's developer fixes its
 * registration in one round trip, not one field per try (WIRE.md 6.1). A
 * valid item runs the same checks either way; only a failing one goes on
 * past its first error.
 */
export const ajvAllErrors = new Ajv({ allErrors: true, strict: false, coerceTypes: false, useDefaults: false });

/**
 * "data.item.id must be string" — names the field, in the sender's own
 * terms; every error, distinct, joined by "; " (one with `allErrors` off).
 */
export function describeAjvErrors(errors: ErrorObject[] | null | undefined, root: string): string {
  if (!errors || errors.length === 0) return `${root} is invalid`;
  const all = [...new Set(errors.map((e) => describeOne(e, root)))];
  // An array of 100,000 wrong elements is 100,000 errors: the reply names the first few and counts the rest.
  if (all.length <= maxListed) return all.join('; ');
  return `${all.slice(0, maxListed).join('; ')}; and ${all.length - maxListed} more`;
}

const maxListed = 20;

function describeOne(e: ErrorObject, root: string): string {
  const path = root + e.instancePath.replace(/\/(\d+)(?=\/|$)/g, '[$1]').replace(/\//g, '.');
  if (e.keyword === 'required') return `${path}.${(e.params as { missingProperty: string }).missingProperty} is required`;
  if (e.keyword === 'additionalProperties')
    return `${path} has an unknown field ${(e.params as { additionalProperty: string }).additionalProperty}`;
  if (e.keyword === 'enum' || e.keyword === 'const')
    return `${path} must be one of ${JSON.stringify((e.params as { allowedValues?: unknown[] }).allowedValues ?? (e.params as { allowedValue: unknown }).allowedValue)}`;
  return `${path} ${e.message ?? 'is invalid'}`;
}

export type { ValidateFunction };

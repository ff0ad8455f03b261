/**
 * What `addAction` and `addEmitter` accept as a schema: a JSON Schema object,
 * a JSON Schema as a string, null (any payload), or a "typed schema" from a
 * validation library that can describe itself as JSON Schema — any object
 * with a `toJSONSchema()` method or a `jsonSchema` property. When that object
 * also has `parse(data)` (zod, valibot wrappers, ...), the SDK runs it on each
 * payload before the handler and passes the handler its output.
 */

export type JsonSchema = { [key: string]: unknown };

export interface TypedSchema<T = unknown> {
  toJSONSchema?: () => object;
  jsonSchema?: object;
  parse?: (data: unknown) => T;
}

export type SchemaLike = JsonSchema | string | null | TypedSchema<unknown>;

/** The handler's data type: what `parse` returns, else `D` (unknown by default). */
export type InferData<S, D = unknown> = S extends { parse: (data: unknown) => infer T } ? T : D;

export interface ResolvedSchema {
  /** What is published on the Action / Emitter. */
  json: object | string | null;
  parse: ((data: unknown) => unknown) | undefined;
}

export function resolveSchema(s: SchemaLike | undefined, what: string): ResolvedSchema {
  if (s === undefined || s === null) return { json: null, parse: undefined };
  if (typeof s === 'string') {
    try {
      const parsed: unknown = JSON.parse(s);
      if (parsed === null || typeof parsed !== 'object') throw new Error('not an object');
    } catch (err) {
      throw new TypeError(`${what}: the schema string is not a JSON Schema object (${(err as Error).message})`);
    }
    return { json: s, parse: undefined };
  }
  if (typeof s !== 'object' || Array.isArray(s)) throw new TypeError(`${what}: a schema must be a JSON Schema object, a string, null, or an object with toJSONSchema()`);
  const t = s as TypedSchema<unknown>;
  const parse = typeof t.parse === 'function' ? t.parse.bind(s) : undefined;
  if (typeof t.toJSONSchema === 'function') return { json: checked(t.toJSONSchema(), what), parse };
  if (t.jsonSchema !== undefined && typeof t.jsonSchema === 'object' && t.jsonSchema !== null) return { json: checked(t.jsonSchema, what), parse };
  if (parse) throw new TypeError(`${what}: a typed schema needs toJSONSchema() or jsonSchema so that the server can validate payloads`);
  return { json: checked(s, what), parse: undefined };
}

function checked(schema: unknown, what: string): object {
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) throw new TypeError(`${what}: the JSON Schema must be an object`);
  try {
    JSON.stringify(schema);
  } catch (err) {
    throw new TypeError(`${what}: the JSON Schema is not serializable (${(err as Error).message})`);
  }
  return schema;
}

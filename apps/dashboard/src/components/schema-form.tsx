import { useMemo, useState } from 'preact/hooks';

/**
 * A form generated from an action's JSON Schema. Rocketship actions carry the
 * schema as an object, as a string holding one, or null (any payload):
 *
 *   object with properties → one field per property: text, number, checkbox,
 *                             select (enum), JSON (nested objects, arrays)
 *   a scalar schema         → one field
 *   null / unreadable       → a JSON editor
 *
 * "JSON" switches any form to the raw payload. The server validates the
 * payload against the schema (RSHIP_BAD_PAYLOAD names the field); the form
 * only turns inputs into values.
 */

export type JsonSchema = {
  type?: string | string[];
  title?: string;
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  multipleOf?: number;
  items?: JsonSchema;
  format?: string;
  [k: string]: unknown;
};

export function readSchema(schema: unknown): { schema: JsonSchema | null; problem?: string } {
  if (schema === null || schema === undefined) return { schema: null };
  if (typeof schema === 'string') {
    try {
      return readSchema(JSON.parse(schema));
    } catch {
      return { schema: null, problem: 'the schema string is not JSON' };
    }
  }
  if (typeof schema === 'object' && !Array.isArray(schema)) return { schema: schema as JsonSchema };
  if (schema === true) return { schema: null };
  return { schema: null, problem: 'the schema is not an object' };
}

const typeOf = (s: JsonSchema): string | undefined => {
  if (s.enum) return 'enum';
  if (Array.isArray(s.type)) return s.type.find((t) => t !== 'null');
  if (s.type) return s.type;
  if (s.properties) return 'object';
  return undefined;
};

type FieldKind = 'text' | 'number' | 'integer' | 'boolean' | 'enum' | 'json';

function kindOf(s: JsonSchema): FieldKind {
  switch (typeOf(s)) {
    case 'string':
      return 'text';
    case 'number':
      return 'number';
    case 'integer':
      return 'integer';
    case 'boolean':
      return 'boolean';
    case 'enum':
      return 'enum';
    default:
      return 'json';
  }
}

/** Raw input per field: strings from inputs, booleans from checkboxes. */
type Raw = Record<string, string | boolean>;

function initialRaw(s: JsonSchema): string | boolean {
  const d = s.default;
  switch (kindOf(s)) {
    case 'boolean':
      return d === true;
    case 'enum':
      return d !== undefined ? JSON.stringify(d) : '';
    case 'json':
      return d !== undefined ? JSON.stringify(d, null, 2) : '';
    default:
      return d !== undefined ? String(d) : '';
  }
}

/** Field input → value; undefined = leave the property out. Throws with a message on input that cannot be read. */
function toValue(s: JsonSchema, raw: string | boolean, name: string): unknown {
  const kind = kindOf(s);
  if (kind === 'boolean') return raw === true;
  const text = String(raw);
  if (text.trim() === '') return undefined;
  switch (kind) {
    case 'number':
    case 'integer': {
      const n = Number(text);
      if (!Number.isFinite(n)) throw new Error(`${name}: not a number`);
      return n;
    }
    case 'enum':
      return JSON.parse(text);
    case 'json':
      try {
        return JSON.parse(text);
      } catch {
        throw new Error(`${name}: not valid JSON`);
      }
    default:
      return text;
  }
}

export interface SchemaFormProps {
  schema: unknown;
  /** Prefix for input ids (unique on the page). */
  idPrefix: string;
  busy?: boolean;
  submitLabel?: string;
  onSubmit(data: unknown): void;
}

export function SchemaForm({ schema: given, idPrefix, busy, submitLabel = 'Run', onSubmit }: SchemaFormProps) {
  const { schema, problem } = useMemo(() => readSchema(given), [given]);
  const objectForm = schema !== null && kindOf(schema) === 'json' && typeOf(schema) === 'object';
  const props = objectForm ? Object.entries(schema!.properties ?? {}) : [];
  const required = new Set(objectForm ? (schema!.required ?? []) : []);
  const single = schema !== null && !objectForm && kindOf(schema) !== 'json' ? schema : null;

  const [raw, setRaw] = useState<Raw>(() => {
    const r: Raw = {};
    for (const [k, s] of props) r[k] = initialRaw(s);
    if (single) r['value'] = initialRaw(single);
    return r;
  });
  const [rawMode, setRawMode] = useState(schema === null || (!objectForm && !single));
  const [text, setText] = useState(() => (schema?.default !== undefined ? JSON.stringify(schema.default, null, 2) : objectForm ? '{}' : ''));
  const [inputError, setInputError] = useState<string | undefined>();

  const build = (): unknown => {
    if (rawMode) {
      if (text.trim() === '') return null;
      try {
        return JSON.parse(text);
      } catch {
        throw new Error('the payload is not valid JSON');
      }
    }
    if (single) return toValue(single, raw['value'] ?? '', 'value');
    const out: Record<string, unknown> = {};
    for (const [k, s] of props) {
      const v = toValue(s, raw[k] ?? '', k);
      if (v !== undefined) out[k] = v;
    }
    return out;
  };

  const submit = (e: Event) => {
    e.preventDefault();
    let data: unknown;
    try {
      data = build();
    } catch (err) {
      setInputError((err as Error).message);
      return;
    }
    setInputError(undefined);
    onSubmit(data);
  };

  const toggleRaw = () => {
    if (!rawMode) {
      try {
        setText(JSON.stringify(build(), null, 2));
      } catch {
        // keep the previous text
      }
    }
    setRawMode(!rawMode);
  };

  const field = (name: string, s: JsonSchema, isRequired: boolean) => {
    const id = `${idPrefix}-${name}`;
    const kind = kindOf(s);
    const value = raw[name] ?? '';
    const set = (v: string | boolean) => setRaw({ ...raw, [name]: v });
    const hint = [
      s.minimum !== undefined ? `≥ ${s.minimum}` : '',
      s.exclusiveMinimum !== undefined ? `> ${s.exclusiveMinimum}` : '',
      s.maximum !== undefined ? `≤ ${s.maximum}` : '',
      s.exclusiveMaximum !== undefined ? `< ${s.exclusiveMaximum}` : '',
    ]
      .filter(Boolean)
      .join(', ');
    let input;
    switch (kind) {
      case 'boolean':
        input = <input id={id} name={name} type="checkbox" checked={value === true} onChange={(e) => set((e.target as HTMLInputElement).checked)} />;
        break;
      case 'enum':
        input = (
          <select id={id} name={name} value={String(value)} onChange={(e) => set((e.target as HTMLSelectElement).value)}>
            {!isRequired && <option value="">—</option>}
            {isRequired && value === '' && <option value="">choose…</option>}
            {(s.enum ?? []).map((v) => (
              <option key={JSON.stringify(v)} value={JSON.stringify(v)}>
                {typeof v === 'string' ? v : JSON.stringify(v)}
              </option>
            ))}
          </select>
        );
        break;
      case 'number':
      case 'integer':
        input = (
          <input
            id={id}
            name={name}
            type="number"
            inputMode="decimal"
            step={kind === 'integer' ? 1 : (s.multipleOf ?? 'any')}
            min={s.minimum}
            max={s.maximum}
            value={String(value)}
            placeholder={hint}
            onInput={(e) => set((e.target as HTMLInputElement).value)}
          />
        );
        break;
      case 'text':
        input = <input id={id} name={name} type="text" value={String(value)} onInput={(e) => set((e.target as HTMLInputElement).value)} />;
        break;
      default:
        input = <textarea id={id} name={name} rows={3} value={String(value)} placeholder="JSON" onInput={(e) => set((e.target as HTMLTextAreaElement).value)} />;
    }
    return (
      <div class={`field field-${kind}`} key={name}>
        <label for={id}>
          {s.title ?? name}
          {isRequired && <span class="req" title="required">*</span>}
          <span class="muted type">{Array.isArray(s.type) ? s.type.join('|') : (s.type ?? (s.enum ? 'enum' : 'any'))}</span>
        </label>
        {input}
        {s.description && <div class="muted small">{s.description}</div>}
      </div>
    );
  };

  return (
    <form class="schema-form" onSubmit={submit} noValidate data-raw={rawMode ? 'true' : 'false'}>
      {schema?.description && <div class="muted small">{schema.description}</div>}
      {problem && <div class="warn small">{problem}: the payload is sent as written</div>}
      {rawMode ? (
        <div class="field">
          <label for={`${idPrefix}-json`}>
            payload <span class="muted type">{schema === null ? 'any JSON (no schema)' : 'JSON'}</span>
          </label>
          <textarea id={`${idPrefix}-json`} name="payload" rows={4} value={text} onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} />
        </div>
      ) : single ? (
        field('value', single, true)
      ) : props.length === 0 ? (
        <div class="muted small">no parameters</div>
      ) : (
        props.map(([k, s]) => field(k, s, required.has(k)))
      )}
      {inputError && <div class="error small">{inputError}</div>}
      <div class="form-actions">
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Running…' : submitLabel}
        </button>
        {schema !== null && (
          <button type="button" class="link" onClick={toggleRaw}>
            {rawMode ? 'Form' : 'JSON'}
          </button>
        )}
      </div>
    </form>
  );
}

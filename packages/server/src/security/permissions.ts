import { readFileSync } from 'node:fs';
import type { Claims } from './auth.js';

/**
 * Declarative rules by token claims (a JSON file, MYKO_PERMISSIONS_FILE):
 *
 *   {
 *     "itemTypes": { "Cue": { "set": RULE, "del": RULE }, "*": { "set": RULE, "del": RULE } },
 *     "commands":  { "RestoreToPoint": RULE, "*": RULE },
 *     "overrideOwnership": RULE
 *   }
 *   RULE = true | false | {"authenticated": true} | {"claim": "role", "in": ["admin", ...]}
 *        | {"claim": "sub", "equals": "alice"} | {"anyOf": [RULE, ...]} | {"allOf": [RULE, ...]}
 *
 * A type or command without a rule falls back to "*"; without that, writes are
 * allowed, and commands need an authenticated caller when authentication is
 * on (unless the command is declared public). A claim holding an array
 * matches `in` when any element does.
 */
export type Rule =
  | boolean
  | { authenticated: true }
  | { claim: string; in: unknown[] }
  | { claim: string; equals: unknown }
  | { anyOf: Rule[] }
  | { allOf: Rule[] };

export interface PermissionRules {
  itemTypes?: Record<string, { set?: Rule; del?: Rule }>;
  commands?: Record<string, Rule>;
  overrideOwnership?: Rule;
}

export function loadRules(file: string): PermissionRules {
  if (!file) return {};
  let rules: unknown;
  try {
    rules = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read permissions file ${file}: ${(err as Error).message}`);
  }
  if (!rules || typeof rules !== 'object' || Array.isArray(rules)) throw new Error(`permissions file ${file} must hold a JSON object`);
  return rules as PermissionRules;
}

export function evaluate(rule: Rule | undefined, claims: Claims | undefined): boolean | undefined {
  if (rule === undefined) return undefined;
  if (typeof rule === 'boolean') return rule;
  if ('authenticated' in rule) return claims !== undefined;
  if ('anyOf' in rule) return rule.anyOf.some((r) => evaluate(r, claims) === true);
  if ('allOf' in rule) return rule.allOf.every((r) => evaluate(r, claims) === true);
  const value = claims?.[rule.claim];
  const values = Array.isArray(value) ? value : [value];
  if ('in' in rule) return values.some((v) => rule.in.includes(v));
  if ('equals' in rule) return values.some((v) => v === rule.equals);
  return false;
}

export class Permissions {
  constructor(private readonly rules: PermissionRules) {}

  canWrite(itemType: string, changeType: 'SET' | 'DEL', claims: Claims | undefined): boolean {
    const key = changeType === 'SET' ? 'set' : 'del';
    return evaluate(this.rules.itemTypes?.[itemType]?.[key], claims) ?? evaluate(this.rules.itemTypes?.['*']?.[key], claims) ?? true;
  }

  /** undefined: no rule, the default applies. */
  canRun(commandId: string, claims: Claims | undefined): boolean | undefined {
    return evaluate(this.rules.commands?.[commandId], claims) ?? evaluate(this.rules.commands?.['*'], claims);
  }

  canOverrideOwnership(claims: Claims | undefined): boolean {
    return evaluate(this.rules.overrideOwnership, claims) === true;
  }
}

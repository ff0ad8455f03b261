import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../config.js';
import type { MykoPlugin } from '../core/registry.js';

/** A plugin module exports a MykoPlugin (or an array of them) as default or as `plugin`. */
export async function loadPlugins(list: string): Promise<MykoPlugin[]> {
  const out: MykoPlugin[] = [];
  for (const spec of list.split(',').map((s) => s.trim()).filter(Boolean)) {
    const url = spec.startsWith('.') || spec.startsWith('/') ? pathToFileURL(resolve(spec)).href : spec;
    let mod: { default?: unknown; plugin?: unknown };
    try {
      mod = (await import(url)) as typeof mod;
    } catch (err) {
      throw new ConfigError(`cannot load plugin ${spec}: ${(err as Error).message}`);
    }
    const found = mod.default ?? mod.plugin;
    const plugins = (Array.isArray(found) ? found : [found]) as MykoPlugin[];
    if (!plugins.every((p) => p && typeof p === 'object' && typeof p.name === 'string'))
      throw new ConfigError(`plugin module ${spec} exports no plugin (default or \`plugin\` export with a name)`);
    out.push(...plugins);
  }
  return out;
}


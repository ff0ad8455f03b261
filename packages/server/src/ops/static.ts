import { createReadStream, existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HttpRoute } from '../gateway/http.js';

const types: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
};

/**
 * Where the built dashboard is: the `@myko/dashboard` package's `dist/www`
 * (a workspace of this repository, linked into node_modules by npm install),
 * else the same folder next to this package in a checkout.
 */
export function findDashboardDir(): string | undefined {
  const candidates: string[] = [];
  try {
    const pkg = createRequire(import.meta.url).resolve('@myko/dashboard/package.json');
    candidates.push(join(dirname(pkg), 'dist', 'www'));
  } catch {
    // not installed
  }
  candidates.push(fileURLToPath(new URL('../../../../apps/dashboard/dist/www', import.meta.url)));
  return candidates.find((d) => existsSync(d)) ?? candidates[0];
}

/** Paths the server itself answers: never replaced by the dashboard's index.html. */
const reserved = ['/api/', '/health', '/metrics', '/myko', '/models', '/eventrpc'];

/**
 * Static files of a single-page app: GET and HEAD, content types by
 * extension, `index.html` for `/` and for any path without an extension (the
 * app's own routes), hashed assets cached for a year, index.html never.
 * Paths are decoded, resolved and must stay inside `root`: `..`, encoded
 * slashes and NUL bytes cannot leave it.
 */
export function staticRoute(root: string | undefined): HttpRoute {
  const base = root ? resolve(root) : undefined;
  return (req, res, url) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    if (reserved.some((p) => url.pathname === p || url.pathname.startsWith(p.endsWith('/') ? p : p + '/'))) return false;
    let path: string;
    try {
      path = decodeURIComponent(url.pathname);
    } catch {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('bad path\n');
      return true;
    }
    if (path.includes('\0') || path.includes('\\')) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('bad path\n');
      return true;
    }
    if (!base || !existsSync(join(base, 'index.html'))) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end(`dashboard not built: run \`npm run build\` (looked in ${base ?? 'nowhere'})\n`);
      return true;
    }
    let file = resolve(base, '.' + path);
    if (file !== base && !file.startsWith(base + sep)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return true;
    }
    let st = statOrUndefined(file);
    if (st?.isDirectory()) {
      file = join(file, 'index.html');
      st = statOrUndefined(file);
    }
    if (!st?.isFile()) {
      if (extname(path) !== '') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
        return true;
      }
      file = join(base, 'index.html');
      st = statOrUndefined(file);
      if (!st?.isFile()) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
        return true;
      }
    }
    const ext = extname(file).toLowerCase();
    const immutable = file.startsWith(join(base, 'assets') + sep);
    res.writeHead(200, {
      'content-type': types[ext] ?? 'application/octet-stream',
      'content-length': st.size,
      'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
      'x-content-type-options': 'nosniff',
    });
    if (req.method === 'HEAD') {
      res.end();
      return true;
    }
    const stream = createReadStream(file);
    stream.on('error', () => res.destroy());
    stream.pipe(res);
    return true;
  };
}

function statOrUndefined(file: string) {
  try {
    return statSync(file);
  } catch {
    return undefined;
  }
}

// Vite builds the dashboard into dist/www, which the server serves at `/`.
// `npm run dev -w @myko/dashboard` serves it with hot reload and proxies the
// server's endpoints to MYKO_DEV_SERVER (default http://127.0.0.1:5155).
import { defineConfig } from 'vite';

const target = process.env.MYKO_DEV_SERVER ?? 'http://127.0.0.1:5155';

export default defineConfig({
  base: '/',
  // JSX through Vite's own transform (Oxc; no framework plugin needed): Preact's automatic runtime.
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: { outDir: 'dist/www', emptyOutDir: true, sourcemap: true, target: 'es2022' },
  server: {
    proxy: {
      '/myko': { target, ws: true },
      '/api': target,
      '/health': target,
      '/metrics': target,
    },
  },
});

// Built by `npm run build` into dist/console, which the api-gateway serves at /console.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));
// `vite` (dev server with hot reload) sends API calls to a running gateway.
const gateway = process.env.AIGW_URL ?? 'http://127.0.0.1:3000';

export default defineConfig({
  root: here,
  base: '/console/',
  // esbuild compiles the JSX for Preact (tsconfig.json: jsx react-jsx, jsxImportSource preact).
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  resolve: { alias: { react: 'preact/compat', 'react-dom': 'preact/compat' } },
  build: {
    outDir: fileURLToPath(new URL('../../dist/console', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    reportCompressedSize: false,
  },
  server: { proxy: { '/api': gateway, '/v1': gateway } },
  logLevel: 'warn',
});

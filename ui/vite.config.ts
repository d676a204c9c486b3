import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';

// The app runs under Jimu's Content-Security-Policy (script-src 'self'):
// no inline scripts, no eval, so no module-preload polyfill (an inline
// script in index.html). It builds into dist/app, which git ignores; the
// tracked dist/placeholder is what a binary without a build serves.
export default defineConfig({
  plugins: [svelte()],
  build: {
    outDir: 'dist/app',
    emptyOutDir: true,
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    target: 'es2022',
    reportCompressedSize: true,
  },
  server: {
    proxy: { '/api': 'http://127.0.0.1:8080' },
  },
});

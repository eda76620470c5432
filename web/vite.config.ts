import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig } from 'vitest/config';
import { docsAssets } from './plugins/docs-assets.ts';
import { precompress } from './plugins/precompress.ts';

export default defineConfig({
  plugins: [svelte(), docsAssets(), precompress()],
  build: {
    // Served by FastAPI (soundtime/web/router.py); git-ignored build output.
    outDir: '../soundtime/web/dist',
    emptyOutDir: true,
    target: 'es2022',
    // Every asset is a file: no data: URLs to allow in the Content-Security-Policy for fonts or scripts.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
  },
  test: {
    environment: 'happy-dom',
    include: ['src/**/*.test.ts'],
  },
});

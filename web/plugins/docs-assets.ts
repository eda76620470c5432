/** Copies Swagger UI's files from node_modules into the build, so the API docs page at /docs needs no CDN. */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Plugin } from 'vite';

const FILES = ['swagger-ui-bundle.js', 'swagger-ui.css'];

export function docsAssets(): Plugin {
  const require = createRequire(import.meta.url);
  const root = dirname(require.resolve('swagger-ui-dist/package.json'));
  return {
    name: 'soundtime-docs-assets',
    apply: 'build',
    generateBundle() {
      for (const file of FILES) {
        this.emitFile({ type: 'asset', fileName: `docs/${file}`, source: readFileSync(join(root, file)) });
      }
      this.emitFile({
        type: 'asset',
        fileName: 'docs/init.js',
        source: readFileSync(new URL('./docs-init.js', import.meta.url)),
      });
    },
  };
}

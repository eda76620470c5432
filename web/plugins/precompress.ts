/** Writes a gzip copy next to every script, stylesheet and SVG of the build; the server sends it to browsers that
 * accept gzip (soundtime/web/router.py), so nothing is compressed per request. It reads the files as written:
 * in generateBundle, chunks may still hold placeholders that Vite fills in later. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Plugin } from 'vite';

const COMPRESSIBLE = /\.(js|css|svg)$/;
/** Smaller files gain too little to be worth a second copy. */
const MIN_SIZE = 1024;

export function precompress(): Plugin {
  return {
    name: 'soundtime-precompress',
    apply: 'build',
    writeBundle(options, bundle) {
      const folder = options.dir ?? '';
      for (const fileName of Object.keys(bundle)) {
        if (!COMPRESSIBLE.test(fileName)) continue;
        const path = join(folder, fileName);
        const bytes = readFileSync(path);
        if (bytes.length >= MIN_SIZE) writeFileSync(`${path}.gz`, gzipSync(bytes, { level: 9 }));
      }
    },
  };
}

/**
 * A QR code as one SVG path (encoded by uqr). The page draws it with attributes only — no markup string, no
 * inline style — so it needs nothing beyond the app's Content-Security-Policy.
 */
import { encode } from 'uqr';

export interface Qr {
  /** Modules per side, quiet zone included (the viewBox is ``0 0 size size``). */
  size: number;
  /** Dark modules, each row's runs merged into one rectangle. */
  path: string;
}

/** Rectangles for the dark modules of ``rows`` (``true`` = dark), one per horizontal run. */
export function modulesPath(rows: readonly (readonly boolean[])[]): string {
  const parts: string[] = [];
  rows.forEach((row, y) => {
    let x = 0;
    while (x < row.length) {
      if (!row[x]) {
        x += 1;
        continue;
      }
      const start = x;
      while (x < row.length && row[x]) x += 1;
      parts.push(`M${start} ${y}h${x - start}v1h-${x - start}z`);
    }
  });
  return parts.join('');
}

/** ``text`` as a QR code with error correction M and the standard four-module quiet zone. */
export function qrCode(text: string): Qr {
  const { size, data } = encode(text, { ecc: 'M', border: 4 });
  return { size, path: modulesPath(data) };
}

import { describe, expect, it } from 'vitest';
import { modulesPath, qrCode } from './qr';

describe('modulesPath', () => {
  it('merges each row into runs of dark modules', () => {
    const rows = [
      [true, true, false, true],
      [false, false, false, false],
      [false, true, true, true],
    ];
    expect(modulesPath(rows)).toBe('M0 0h2v1h-2zM3 0h1v1h-1zM1 2h3v1h-3z');
  });

  it('draws nothing for a blank matrix', () => {
    expect(modulesPath([[false, false]])).toBe('');
  });
});

describe('qrCode', () => {
  it('encodes a ticket with a quiet zone and the three finder patterns', () => {
    const ticket = `nodeabc${'x'.repeat(180)}`;
    const { size, path } = qrCode(ticket);
    expect(size).toBeGreaterThanOrEqual(21 + 8);
    expect((size - 8 - 17) % 4).toBe(0); // QR sizes are 4·version + 17
    // The top-left finder starts at the quiet zone's edge: a 7-module dark run at (4, 4).
    expect(path.startsWith('M4 4h7v1h-7z')).toBe(true);
    expect(path).toContain(`M${size - 11} 4h7v1h-7z`);
    expect(path).toContain(`M4 ${size - 5}h7v1h-7z`);
  });

  it('grows with the text', () => {
    expect(qrCode('x'.repeat(300)).size).toBeGreaterThan(qrCode('short').size);
  });
});

/** Files the admin pages hand to the browser (export) and take from it (import). */
import { saveBlob } from '../../../lib/download';

/** Offer ``data`` as a JSON file download named ``name``. */
export function downloadJson(name: string, data: unknown): void {
  saveBlob(new Blob([JSON.stringify(data, null, 2) + '\n'], { type: 'application/json' }), name);
}

/** ``soundtime-blocks-2026-12-03.json`` */
export function datedName(prefix: string, now = new Date()): string {
  return `${prefix}-${now.toISOString().slice(0, 10)}.json`;
}

export interface BlockEntry {
  domain: string;
  reason: string | null;
}

/** Largest file and entry count accepted (the server takes at most 1,000 entries per import). */
export const MAX_IMPORT_BYTES = 1024 * 1024;
export const MAX_IMPORT_ENTRIES = 1000;

/** The entries of an exported block list, or an error sentence saying what is wrong with the file. */
export function parseBlockList(text: string): BlockEntry[] | string {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return 'This file is not JSON: choose a block list exported from soundtime.';
  }
  if (!Array.isArray(data)) return 'This file is not a block list (it should be a JSON array of {"domain", "reason"}).';
  if (data.length > MAX_IMPORT_ENTRIES) return `This list has ${data.length} entries; at most ${MAX_IMPORT_ENTRIES} can be imported at once.`;
  const entries: BlockEntry[] = [];
  for (const [index, item] of data.entries()) {
    const entry = item as { domain?: unknown; reason?: unknown } | null;
    if (!entry || typeof entry !== 'object' || typeof entry.domain !== 'string' || !entry.domain.trim()) {
      return `Entry ${index + 1} has no "domain".`;
    }
    if (entry.reason !== undefined && entry.reason !== null && typeof entry.reason !== 'string') {
      return `Entry ${index + 1} has a "reason" that is not text.`;
    }
    entries.push({ domain: entry.domain, reason: (entry.reason as string | null | undefined) ?? null });
  }
  return entries;
}

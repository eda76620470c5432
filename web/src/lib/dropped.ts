/** The files of a drop: plain files, and the audio inside dropped folders (walked, with a bound). */

/** Most files taken from one drop (a whole music folder is fine; a whole disk is not). */
export const MAX_DROPPED_FILES = 5000;

async function entries(directory: FileSystemDirectoryEntry): Promise<FileSystemEntry[]> {
  const reader = directory.createReader();
  const all: FileSystemEntry[] = [];
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
    if (batch.length === 0) return all;
    all.push(...batch);
  }
}

async function walk(entry: FileSystemEntry, out: File[]): Promise<void> {
  if (out.length >= MAX_DROPPED_FILES) return;
  if (entry.isFile) {
    out.push(await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject)));
  } else if (entry.isDirectory) {
    for (const child of await entries(entry as FileSystemDirectoryEntry)) await walk(child, out);
  }
}

/** Files in a DataTransfer, folders expanded; names starting with a dot (.DS_Store) are skipped. */
export async function droppedFiles(transfer: DataTransfer): Promise<File[]> {
  const out: File[] = [];
  const items = [...transfer.items].filter((item) => item.kind === 'file');
  // Entries must be taken synchronously, before the drop event's data store is closed.
  const taken = items.map((item) => ({ entry: item.webkitGetAsEntry?.() ?? null, file: item.getAsFile() }));
  for (const { entry, file } of taken) {
    if (out.length >= MAX_DROPPED_FILES) break;
    if (entry?.isDirectory) await walk(entry, out);
    else if (file) out.push(file);
  }
  if (taken.length === 0) out.push(...[...transfer.files].slice(0, MAX_DROPPED_FILES));
  return out.filter((file) => !file.name.startsWith('.'));
}

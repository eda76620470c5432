/** Files being uploaded: two at a time, each with its progress and then the server's verdict. Kept outside any
 * page, so leaving the upload page does not stop or forget them. */
import { renewAccess } from '../api/client';
import { sendFile } from '../api/upload';
import { verdictOf, type Verdict } from './uploads';

export type UploadState = 'queued' | 'sending' | 'checking' | 'done';

export interface UploadItem {
  id: number;
  name: string;
  size: number;
  progress: number;
  state: UploadState;
  verdict: Verdict | null;
}

/** Files sent at once: enough to keep the link busy while the server checks the previous file. */
const CONCURRENCY = 2;

class Uploads {
  items = $state<UploadItem[]>([]);
  private files = new Map<number, File>();
  private nextId = 1;
  private running = 0;

  get busy(): boolean {
    return this.items.some((item) => item.state !== 'done');
  }

  add(files: Iterable<File>): void {
    for (const file of files) {
      const id = this.nextId++;
      this.files.set(id, file);
      this.items.push({ id, name: file.name, size: file.size, progress: 0, state: 'queued', verdict: null });
    }
    this.pump();
  }

  /** Forget the files that have a verdict. */
  clearFinished(): void {
    for (const item of this.items) if (item.state === 'done') this.files.delete(item.id);
    this.items = this.items.filter((item) => item.state !== 'done');
  }

  /** Send a refused file again (for a verdict that says it may be retried). */
  retry(id: number): void {
    const item = this.items.find((candidate) => candidate.id === id);
    if (!item || !this.files.has(id)) return;
    Object.assign(item, { state: 'queued', progress: 0, verdict: null });
    this.pump();
  }

  private pump(): void {
    while (this.running < CONCURRENCY) {
      const item = this.items.find((candidate) => candidate.state === 'queued');
      if (!item) return;
      this.running += 1;
      void this.send(item).finally(() => {
        this.running -= 1;
        this.pump();
      });
    }
  }

  private async send(item: UploadItem): Promise<void> {
    const file = this.files.get(item.id);
    if (!file) return;
    item.state = 'sending';
    const progress = (fraction: number) => {
      item.progress = fraction;
      if (fraction >= 1) item.state = 'checking';
    };
    let sent = await sendFile(file, progress);
    if (sent.status === 401 && (await renewAccess())) sent = await sendFile(file, progress);
    const verdict: Verdict = verdictOf(sent.status, sent.body);
    item.progress = 1;
    item.state = 'done';
    item.verdict = verdict;
    if (verdict.kind !== 'refused' || !verdict.retryable) this.files.delete(item.id);
  }
}

export const uploads = new Uploads();

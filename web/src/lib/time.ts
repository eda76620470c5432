/** Times as an administrator reads them. */

/** "just now", "4 min ago", "3 h ago", "2 days ago"; older: the date. Null or unparsable: "never". */
export function ago(iso: string | null | undefined, now: number = Date.now()): string {
  if (!iso) return 'never';
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return 'never';
  const seconds = Math.round((now - then) / 1000);
  if (seconds < 45) return 'just now';
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 24) return `${hours} h ago`;
  const days = Math.round(hours / 24);
  if (days < 14) return `${days} ${days === 1 ? 'day' : 'days'} ago`;
  return new Date(then).toLocaleDateString('en', { year: 'numeric', month: 'short', day: 'numeric' });
}

/** Full date and time for a tooltip or a <time> title. */
export function stamp(iso: string | null | undefined): string {
  if (!iso) return '';
  const then = Date.parse(iso);
  return Number.isNaN(then) ? '' : new Date(then).toLocaleString('en', { dateStyle: 'medium', timeStyle: 'medium' });
}

/** HH:MM:SS of a log entry (local time). */
export function clock(iso: string): string {
  const then = Date.parse(iso);
  return Number.isNaN(then) ? iso : new Date(then).toLocaleTimeString('en-GB', { hour12: false });
}

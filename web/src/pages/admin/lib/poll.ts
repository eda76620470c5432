/** Polling that waits for each round to finish, pauses while the tab is hidden, and stops cleanly. */

/**
 * Run ``task`` now and then ``interval`` ms after each round ends, while the document is visible (a hidden tab
 * polls nothing; showing it again runs a round at once). Returns ``stop``, which also aborts a round in flight.
 */
export function every(interval: number, task: (signal: AbortSignal) => Promise<void>): () => void {
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running = false;

  async function round(): Promise<void> {
    clearTimeout(timer);
    if (running || controller.signal.aborted) return;
    if (typeof document !== 'undefined' && document.hidden) return;
    running = true;
    try {
      await task(controller.signal);
    } catch {
      // the task shows its own errors; polling goes on
    } finally {
      running = false;
      if (!controller.signal.aborted) timer = setTimeout(() => void round(), interval);
    }
  }

  const onVisibility = () => {
    if (!document.hidden) void round();
  };
  if (typeof document !== 'undefined') document.addEventListener('visibilitychange', onVisibility);
  void round();
  return () => {
    controller.abort();
    clearTimeout(timer);
    if (typeof document !== 'undefined') document.removeEventListener('visibilitychange', onVisibility);
  };
}

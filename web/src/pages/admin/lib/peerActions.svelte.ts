/**
 * Ping, block, unblock and remove a peer, with the same questions and outcome messages wherever they are offered
 * (the peer list and the graph's details panel). Outcomes are kept per node id until the next action on it.
 */
import { describeError } from '../../../api/client';
import type { Question } from '../../../components/Confirm.svelte';
import * as peers from './peers';

export type Action = 'ping' | 'block' | 'unblock' | 'remove';
export interface Outcome {
  kind: 'ok' | 'error' | 'info';
  message: string;
}
const FAILED: Record<Action, string> = {
  ping: 'Ping failed',
  block: 'Not blocked',
  unblock: 'The block was not lifted',
  remove: 'Not removed',
};
type Ask = (question: Question) => Promise<string | null>;

export class PeerActions {
  busy = $state<Record<string, Action>>({});
  outcomes = $state<Record<string, Outcome>>({});
  /** The outcome of the last block, unblock or removal (the row may be gone: the page shows it). */
  latest = $state<Outcome | null>(null);

  /** ``ask`` puts a question to the administrator; ``changed`` runs after an action that changed something. */
  constructor(
    private readonly ask: Ask,
    private readonly changed: (action: Action, nodeId: string) => void,
  ) {}

  private async run(nodeId: string, action: Action, work: () => Promise<Outcome>): Promise<void> {
    this.busy[nodeId] = action;
    delete this.outcomes[nodeId];
    let outcome: Outcome;
    try {
      outcome = await work();
      if (action !== 'ping') this.changed(action, nodeId);
    } catch (failure) {
      outcome = { kind: 'error', message: `${FAILED[action]}: ${describeError(failure)}` };
    }
    delete this.busy[nodeId];
    this.outcomes[nodeId] = outcome;
    if (action !== 'ping') this.latest = outcome;
  }

  ping(nodeId: string): Promise<void> {
    return this.run(nodeId, 'ping', async () => {
      const result = await peers.ping(nodeId);
      return { kind: result.reachable ? 'ok' : 'error', message: peers.describePing(result) };
    });
  }

  async block(nodeId: string, label: string): Promise<void> {
    const reason = await this.ask({
      title: `Block ${label}?`,
      message: 'Its connections are closed at once; it is no longer contacted and cannot reach this instance. You can lift the block later.',
      confirm: 'Block',
      danger: true,
      reason: 'Reason (optional, kept with the block)',
    });
    if (reason === null) return;
    await this.run(nodeId, 'block', async () => {
      await peers.block(nodeId, reason);
      return { kind: 'ok', message: `Blocked ${label}.` };
    });
  }

  unblock(nodeId: string, label: string, blockId?: string): Promise<void> {
    return this.run(nodeId, 'unblock', async () => {
      await peers.unblock(nodeId, blockId);
      return { kind: 'ok', message: `Lifted the block on ${label}.` };
    });
  }

  async remove(nodeId: string, label: string): Promise<void> {
    const answer = await this.ask({
      title: `Remove ${label}?`,
      message: 'Its row, its links and the tracks it offered are forgotten. If it contacts this instance again it comes back: block it to keep it out.',
      confirm: 'Remove',
      danger: true,
    });
    if (answer === null) return;
    await this.run(nodeId, 'remove', async () => {
      await peers.remove(nodeId);
      return { kind: 'ok', message: `Removed ${label}.` };
    });
  }
}

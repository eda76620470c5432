/** What an administrator does to a peer, from the peer list and from the graph alike. */
import { api, type Schemas } from '../../../api/client';

export type Ping = Schemas['PingOut'];
export type Block = Schemas['BlockOut'];

export function ping(nodeId: string): Promise<Ping> {
  return api.post('/api/admin/p2p/peers/{node_id}/ping', { path: { node_id: nodeId } });
}

/** Forget a peer: its row, links and track sources (it may come back if it contacts us again). */
export async function remove(nodeId: string): Promise<void> {
  await api.delete('/api/admin/p2p/peers/{node_id}', { path: { node_id: nodeId } });
}

/** Block a node id: the server closes its connections at once and keeps it out. */
export function block(nodeId: string, reason: string | null): Promise<Block> {
  return api.post('/api/admin/blocked-domains', { body: { domain: nodeId, reason: reason?.trim() || null } });
}

/** Lift the block on ``nodeId`` (``blockId`` when the caller knows it, else it is looked up). */
export async function unblock(nodeId: string, blockId?: string): Promise<void> {
  let id = blockId;
  if (!id) {
    const blocks = await api.get('/api/admin/blocked-domains');
    id = blocks.find((entry) => entry.domain === nodeId.toLowerCase())?.id;
  }
  if (!id) return; // not blocked (any more)
  await api.delete('/api/admin/blocked-domains/{block_id}', { path: { block_id: id } });
}

/** "Answered in 12 ms (5 tracks, 0.4.0)" or "No answer: <reason>". */
export function describePing(result: Ping): string {
  if (!result.reachable) return `No answer: ${result.error ?? 'the peer did not answer'}`;
  const facts = [
    result.track_count !== null && result.track_count !== undefined ? `${result.track_count} tracks` : null,
    result.version,
  ].filter(Boolean);
  const rtt = result.rtt_ms !== null && result.rtt_ms !== undefined ? ` in ${Math.round(result.rtt_ms)} ms` : '';
  return `Answered${rtt}${facts.length ? ` (${facts.join(', ')})` : ''}`;
}

/** What an administrator pasted into "add a peer" looks like (a hint only: the server parses and decides). */

export type PeerInputKind = 'node id' | 'address' | 'ticket';

const NODE_ID = /^[0-9a-f]{64}$/i;
const WITH_ADDRESS = /^[0-9a-f]{64}@(\[[0-9a-f:.]+\]|[0-9.]+):\d{1,5}$/i;

export function peerInputKind(text: string): PeerInputKind | null {
  const value = text.trim();
  if (value.startsWith('endpoint')) return 'ticket';
  if (NODE_ID.test(value)) return 'node id';
  if (WITH_ADDRESS.test(value)) return 'address';
  return null;
}

/** The sentence under the field. */
export function peerInputHint(text: string): string {
  if (!text.trim()) return 'A node id (64 hex characters), id@ip:port, or a ticket from the other instance’s overview.';
  const kind = peerInputKind(text);
  if (kind === 'ticket') return 'A ticket: it carries the node id and how to reach it.';
  if (kind === 'address') return 'A node id with a direct address.';
  if (kind === 'node id') return 'A node id alone: it is found through the relay or the local network.';
  return 'This is not a node id, id@ip:port or ticket the server will accept.';
}

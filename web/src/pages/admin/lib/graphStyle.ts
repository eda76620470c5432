/** How the network graph's nodes and links look, and how a node is described in words. */
import type { LinkKind, NodeInfo, NodeKind } from './graph';
import type { Palette } from './palette';

/** SoundTime's radii (self 24, relay 18, peer 14); ours add the peers of peers and blocked nodes. */
export const RADIUS: Record<NodeKind, number> = { self: 24, relay: 18, peer: 14, 'peer-of-peer': 10, blocked: 12 };
/** Above this many nodes, peers show their label only when pointed at or selected. */
export const LABEL_LIMIT = 40;

export interface NodeStyle {
  radius: number;
  fill: string;
  fillOpacity: number;
  stroke: string;
  strokeWidth: number;
  /** SVG ``stroke-dasharray``, or null for a solid ring. */
  dash: string | null;
}

/** How a node is drawn: colour by kind, SoundTime's radii; offline half-opaque with a dashed (peers of peers: dotted)
 * ring; blocked hollow. */
export function nodeStyle(node: Pick<NodeInfo, 'kind' | 'online'>, palette: Palette): NodeStyle {
  const radius = RADIUS[node.kind];
  if (node.kind === 'blocked') {
    return { radius, fill: palette.background, fillOpacity: 1, stroke: palette.blocked, strokeWidth: 2.5, dash: null };
  }
  if (!node.online) {
    // Peers of peers (never reached) dotted, known peers that are offline dashed.
    const dash = node.kind === 'peer-of-peer' ? '1.5 2.5' : '4 3';
    return { radius, fill: palette.offlineFill, fillOpacity: 0.5, stroke: palette.offlineRing, strokeWidth: 2, dash };
  }
  const fill = node.kind === 'self' ? palette.self : node.kind === 'relay' ? palette.relay : palette.peer;
  return { radius, fill, fillOpacity: 1, stroke: palette.halo, strokeWidth: 2, dash: null };
}

export interface LinkStyle {
  stroke: string;
  width: number;
  dash: string | null;
}

/** SoundTime's links: direct solid green, relay dashed blue, peer (learned by exchange) dashed purple. */
export function linkStyle(kind: LinkKind, palette: Palette): LinkStyle {
  if (kind === 'direct') return { stroke: palette.direct, width: 2, dash: null };
  if (kind === 'relay') return { stroke: palette.relayLink, width: 1.5, dash: '6 4' };
  return { stroke: palette.peerLink, width: 1.5, dash: '3 4' };
}

/** Whether a node's label is drawn at rest (self and relay always; peers while the graph is small). */
export function showsLabel(node: Pick<NodeInfo, 'kind'>, nodeCount: number): boolean {
  return node.kind === 'self' || node.kind === 'relay' || nodeCount <= LABEL_LIMIT;
}

export const KIND_LABEL: Record<NodeKind, string> = {
  self: 'this instance',
  relay: 'relay',
  peer: 'peer',
  'peer-of-peer': 'peer of a peer',
  blocked: 'blocked',
};

/** One line about a node: "peer · online · 5 tracks · 0.4.1". */
export function describeNode(node: NodeInfo): string {
  const parts: string[] = [KIND_LABEL[node.kind]];
  if (node.kind !== 'relay' && node.kind !== 'self') parts.push(node.online ? 'online' : node.kind === 'blocked' ? 'kept out' : 'offline');
  if (node.trackCount !== null) parts.push(`${node.trackCount.toLocaleString('en')} ${node.trackCount === 1 ? 'track' : 'tracks'}`);
  if (node.version) parts.push(node.version);
  return parts.join(' · ');
}

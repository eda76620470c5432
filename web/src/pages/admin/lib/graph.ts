/**
 * The network graph's data, apart from drawing it: what the server's graph, peer list and block list become
 * (nodes with a kind, links), and how a refresh merges into the nodes the simulation already holds (their
 * objects, positions and pins are kept, so only what changed moves). How they look: ./graphStyle.ts.
 */
import type { SimulationNodeDatum } from 'd3-force';
import type { Schemas } from '../../../api/client';

export type GraphData = Schemas['NetworkGraph'];
export type Peer = Schemas['PeerOut'];
export type Block = Schemas['BlockOut'];

/** ``peer-of-peer``: a peer we only know from another peer's list (never reached directly). */
export type NodeKind = 'self' | 'relay' | 'peer' | 'peer-of-peer' | 'blocked';
export type LinkKind = 'direct' | 'relay' | 'peer';

/** What the page knows about one node. */
export interface NodeInfo {
  id: string;
  kind: NodeKind;
  label: string;
  online: boolean;
  trackCount: number | null;
  version: string | null;
  /** The peer's row (addresses, last seen, how it was learned) when it is a known peer. */
  peer: Peer | null;
  /** The block that keeps it out, when it is blocked. */
  block: Block | null;
}

export interface LinkInfo {
  id: string;
  source: string;
  target: string;
  kind: LinkKind;
}

export interface Shaped {
  nodes: NodeInfo[];
  links: LinkInfo[];
  /** Nodes left out to stay under the limit (the peer list still has them all). */
  hidden: number;
}

/** A node as the force simulation holds it: the same object from one refresh to the next. */
export type SimNode = NodeInfo & SimulationNodeDatum;

export interface SimLink {
  id: string;
  kind: LinkKind;
  source: SimNode;
  target: SimNode;
}

/** SoundTime's forces (link distance 120, charge −300, collision radius 40). */
export const FORCES = { linkDistance: 120, charge: -300, collide: 40 } as const;
/** At most this many nodes are drawn (self and relay first, then online peers, offline ones, blocked ones). */
export const MAX_NODES = 500;

const NODE_ID = /^[0-9a-f]{64}$/;
const ORDER: Record<NodeKind, number> = { self: 0, relay: 1, peer: 2, 'peer-of-peer': 3, blocked: 4 };

/** ``3f9a0c12…e41b`` for a 64-character node id; anything else unchanged. */
export function shortId(id: string): string {
  return NODE_ID.test(id) ? `${id.slice(0, 8)}…${id.slice(-4)}` : id;
}

function relayLabel(url: string): string {
  try {
    return new URL(url).host || url;
  } catch {
    return url;
  }
}

/** Self, relay and peers from the graph; peers of peers told apart; blocked nodes (absent from it) added back. */
export function shapeGraph(
  graph: GraphData,
  peers: readonly Peer[] = [],
  blocks: readonly Block[] = [],
  limit = MAX_NODES,
): Shaped {
  const peerById = new Map(peers.map((peer) => [peer.node_id, peer]));
  const blockById = new Map(blocks.filter((b) => NODE_ID.test(b.domain)).map((b) => [b.domain, b]));
  const self = graph.nodes.find((node) => node.node_type === 'self')?.id;
  const direct = new Set(graph.links.filter((l) => l.link_type === 'direct' && l.source === self).map((l) => l.target));

  const byId = new Map<string, NodeInfo>();
  for (const node of graph.nodes) {
    if (byId.has(node.id)) continue;
    const peer = peerById.get(node.id) ?? null;
    const block = blockById.get(node.id) ?? null;
    let kind: NodeKind = node.node_type;
    if (kind === 'peer' && block) kind = 'blocked';
    else if (kind === 'peer' && peer?.source === 'exchange' && !direct.has(node.id)) kind = 'peer-of-peer';
    // Unnamed peers: the same short id as every other admin page (the server sends the first 12 characters).
    const label = node.node_type === 'relay' ? relayLabel(node.label) : node.node_type === 'peer' && node.label === node.id.slice(0, 12) ? shortId(node.id) : node.label;
    byId.set(node.id, {
      id: node.id,
      kind,
      label,
      online: node.online && !block,
      trackCount: node.track_count ?? null,
      version: node.version ?? null,
      peer,
      block,
    });
  }
  for (const [id, block] of blockById) {
    if (byId.has(id)) continue;
    const peer = peerById.get(id) ?? null;
    byId.set(id, {
      id,
      kind: 'blocked',
      label: peer?.name || shortId(id),
      online: false,
      trackCount: peer?.track_count ?? null,
      version: peer?.version ?? null,
      peer,
      block,
    });
  }

  const all = [...byId.values()];
  const rank = (node: NodeInfo) => ORDER[node.kind] * 2 + (node.online ? 0 : 1);
  const kept = all
    .map((node, index) => ({ node, index }))
    .sort((a, b) => rank(a.node) - rank(b.node) || a.index - b.index)
    .slice(0, Math.max(limit, 0))
    .map(({ node }) => node);
  const keptIds = new Set(kept.map((node) => node.id));

  const links = new Map<string, LinkInfo>();
  for (const link of graph.links) {
    if (link.source === link.target || !keptIds.has(link.source) || !keptIds.has(link.target)) continue;
    // Two peers that both listed each other are one edge.
    const [a, b] = link.link_type === 'peer' ? [link.source, link.target].sort() : [link.source, link.target];
    const id = `${link.link_type}:${a}>${b}`;
    if (!links.has(id)) links.set(id, { id, source: a as string, target: b as string, kind: link.link_type });
  }
  return { nodes: kept, links: [...links.values()], hidden: all.length - kept.length };
}

/** 32-bit FNV-1a of a string: a stable direction for a node that appears. */
function hash(text: string): number {
  let value = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    value ^= text.charCodeAt(i);
    value = Math.imul(value, 0x01000193) >>> 0;
  }
  return value;
}

export interface Merged {
  nodes: SimNode[];
  links: SimLink[];
  added: string[];
  removed: string[];
  /** Nodes whose kind, label, state, tracks or version changed (restyled, not moved). */
  changed: string[];
  linksChanged: boolean;
}

const SAME_KEYS = ['kind', 'label', 'online', 'trackCount', 'version'] as const;

/**
 * Merge a new shape into the simulation's nodes: known nodes keep their object (position, velocity, pin) and
 * take the new facts; new nodes start beside a neighbour that is already placed (or beside this instance), so a
 * refresh moves only what changed. The first shape (nothing placed yet) leaves placement to the simulation.
 */
export function mergeGraph(current: ReadonlyMap<string, SimNode>, currentLinks: readonly SimLink[], shaped: Shaped): Merged {
  const nodes = new Map<string, SimNode>();
  const added: string[] = [];
  const changed: string[] = [];
  for (const info of shaped.nodes) {
    const existing = current.get(info.id);
    if (existing) {
      if (SAME_KEYS.some((key) => existing[key] !== info[key])) changed.push(info.id);
      Object.assign(existing, info);
      nodes.set(info.id, existing);
    } else {
      nodes.set(info.id, { ...info });
      added.push(info.id);
    }
  }
  if (current.size > 0) placeNewcomers(added, nodes, shaped.links);

  const links = shaped.links.map((link) => ({
    id: link.id,
    kind: link.kind,
    source: nodes.get(link.source) as SimNode,
    target: nodes.get(link.target) as SimNode,
  }));
  const before = new Set(currentLinks.map((link) => link.id));
  const linksChanged = links.length !== before.size || links.some((link) => !before.has(link.id));
  const removed = [...current.keys()].filter((id) => !nodes.has(id));
  return { nodes: [...nodes.values()], links, added, removed, changed, linksChanged };
}

function placeNewcomers(added: readonly string[], nodes: ReadonlyMap<string, SimNode>, links: readonly LinkInfo[]): void {
  const placed = (node: SimNode | undefined): node is SimNode & { x: number; y: number } =>
    node !== undefined && node.x !== undefined && node.y !== undefined;
  const anchor = [...nodes.values()].find((node) => node.kind === 'self' && placed(node));
  for (const id of added) {
    const node = nodes.get(id) as SimNode;
    const neighbour = links
      .filter((link) => link.source === id || link.target === id)
      .map((link) => nodes.get(link.source === id ? link.target : link.source))
      .find(placed);
    const origin = neighbour ?? (placed(anchor) ? anchor : { x: 0, y: 0 });
    const angle = ((hash(id) % 3600) / 3600) * 2 * Math.PI;
    const distance = FORCES.linkDistance * 0.6;
    node.x = (origin.x ?? 0) + Math.cos(angle) * distance;
    node.y = (origin.y ?? 0) + Math.sin(angle) * distance;
    node.vx = 0;
    node.vy = 0;
  }
}

/** How much to reheat the simulation after a merge: not at all when only facts changed, gently otherwise. */
export function reheatAlpha(merged: Pick<Merged, 'added' | 'removed' | 'linksChanged'>): number {
  if (merged.added.length > 0 || merged.removed.length > 0) return 0.3;
  return merged.linksChanged ? 0.1 : 0;
}

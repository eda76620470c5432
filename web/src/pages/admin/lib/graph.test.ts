import { describe, expect, it } from 'vitest';
import { type Block, FORCES, type GraphData, mergeGraph, type Peer, reheatAlpha, shapeGraph, type SimLink, type SimNode } from './graph';

const id = (c: string) => c.repeat(64);
const SELF = id('a');
const B = id('b');
const C = id('c');
const D = id('d');
const RELAY = 'https://relay.example.org./';

function graph(extra: Partial<GraphData> = {}): GraphData {
  return {
    nodes: [
      { id: SELF, node_type: 'self', label: 'this instance', online: true, track_count: 3, version: '0.4.0' },
      { id: RELAY, node_type: 'relay', label: RELAY, online: true },
      { id: B, node_type: 'peer', label: 'bee', online: true, track_count: 5, version: '0.4.0' },
      { id: C, node_type: 'peer', label: C.slice(0, 12), online: false, track_count: 0, version: null },
      ...(extra.nodes ?? []),
    ],
    links: [
      { source: SELF, target: RELAY, link_type: 'relay' },
      { source: SELF, target: B, link_type: 'direct' },
      { source: B, target: C, link_type: 'peer' },
      { source: C, target: B, link_type: 'peer' },
      ...(extra.links ?? []),
    ],
  };
}

function peer(nodeId: string, fields: Partial<Peer> = {}): Peer {
  return {
    node_id: nodeId,
    name: null,
    version: null,
    track_count: 0,
    is_online: false,
    last_seen_at: null,
    created_at: '2026-12-01T10:00:00Z',
    source: 'manual',
    addresses: [],
    failure_count: 0,
    next_attempt_at: null,
    last_catalog_push_at: null,
    ...fields,
  };
}

const block = (domain: string): Block => ({ id: `block-${domain[0]}`, domain, reason: null, created_at: '2026-12-01T10:00:00Z' });

function place(nodes: SimNode[]): Map<string, SimNode> {
  nodes.forEach((node, i) => Object.assign(node, { x: i * 100, y: i * 10, vx: 0, vy: 0 }));
  return new Map(nodes.map((node) => [node.id, node]));
}

describe('shapeGraph', () => {
  it('gives every node its kind and every link one entry', () => {
    const shaped = shapeGraph(graph(), [peer(B, { source: 'manual' }), peer(C, { source: 'exchange' })]);
    expect(shaped.nodes.map((n) => [n.id, n.kind])).toEqual([
      [SELF, 'self'],
      [RELAY, 'relay'],
      [B, 'peer'],
      [C, 'peer-of-peer'],
    ]);
    expect(shaped.nodes[1]?.label).toBe('relay.example.org.');
    // An unnamed peer (the server labels it with its id's first 12 characters) reads as everywhere else.
    expect(shaped.nodes[3]?.label).toBe('cccccccc…cccc');
    // B→C and C→B are one undirected edge.
    expect(shaped.links.map((l) => l.id)).toEqual([`relay:${SELF}>${RELAY}`, `direct:${SELF}>${B}`, `peer:${B}>${C}`]);
    expect(shaped.hidden).toBe(0);
  });

  it('keeps a peer learned by exchange a plain peer once this node reaches it directly', () => {
    const g = graph({ links: [{ source: SELF, target: C, link_type: 'direct' }] });
    const shaped = shapeGraph(g, [peer(C, { source: 'exchange' })]);
    expect(shaped.nodes.find((n) => n.id === C)?.kind).toBe('peer');
  });

  it('adds blocked nodes back (the server leaves them out) with what the peer list knows of them', () => {
    const shaped = shapeGraph(graph(), [peer(D, { name: 'Dora', track_count: 12, version: '0.3.9' })], [block(D), block('spam.example')]);
    const blocked = shaped.nodes.find((n) => n.id === D);
    expect(blocked).toMatchObject({ kind: 'blocked', label: 'Dora', online: false, trackCount: 12, version: '0.3.9' });
    expect(blocked?.block?.id).toBe('block-d');
    // A domain block is not a node.
    expect(shaped.nodes.some((n) => n.id === 'spam.example')).toBe(false);
  });

  it('marks a node the graph still lists but that is blocked', () => {
    const shaped = shapeGraph(graph(), [], [block(B)]);
    expect(shaped.nodes.find((n) => n.id === B)).toMatchObject({ kind: 'blocked', online: false });
  });

  it('drops links to nodes it does not have, and self-loops', () => {
    const g = graph({
      links: [
        { source: B, target: D, link_type: 'peer' },
        { source: B, target: B, link_type: 'peer' },
      ],
    });
    expect(shapeGraph(g).links).toHaveLength(3);
  });

  it('stays under the limit: self, relay and online peers first, and says how many it left out', () => {
    const many: GraphData['nodes'] = Array.from({ length: 10 }, (_, i) => ({
      id: (i + 16).toString(16).repeat(32),
      node_type: 'peer' as const,
      label: `offline ${i}`,
      online: false,
    }));
    const shaped = shapeGraph(graph({ nodes: many }), [], [], 4);
    expect(shaped.nodes.map((n) => n.id)).toEqual([SELF, RELAY, B, C]);
    expect(shaped.hidden).toBe(10);
    expect(shaped.links.every((l) => [SELF, RELAY, B, C].includes(l.source))).toBe(true);
  });
});

describe('mergeGraph', () => {
  it('leaves the first layout to the simulation', () => {
    const merged = mergeGraph(new Map(), [], shapeGraph(graph()));
    expect(merged.added).toHaveLength(4);
    expect(merged.nodes.every((n) => n.x === undefined && n.y === undefined)).toBe(true);
    expect(merged.links[1]?.source).toBe(merged.nodes[0]);
  });

  it('keeps the objects, positions and pins of nodes that are still there, and moves nothing on a same refresh', () => {
    const first = mergeGraph(new Map(), [], shapeGraph(graph()));
    const current = place(first.nodes);
    const b = current.get(B) as SimNode;
    b.fx = 250;
    b.fy = -40;
    const again = mergeGraph(current, first.links, shapeGraph(graph()));
    expect(again.nodes.find((n) => n.id === B)).toBe(b);
    expect(b).toMatchObject({ x: 200, y: 20, fx: 250, fy: -40 });
    expect(again).toMatchObject({ added: [], removed: [], changed: [], linksChanged: false });
    expect(reheatAlpha(again)).toBe(0);
  });

  it('takes new facts without moving the node, and says which nodes to restyle', () => {
    const first = mergeGraph(new Map(), [], shapeGraph(graph()));
    const current = place(first.nodes);
    const g = graph();
    g.nodes[3] = { ...g.nodes[3]!, online: true, track_count: 7 };
    const merged = mergeGraph(current, first.links, shapeGraph(g));
    const c = merged.nodes.find((n) => n.id === C);
    expect(c).toBe(current.get(C));
    expect(c).toMatchObject({ online: true, trackCount: 7, x: 300, y: 30 });
    expect(merged.changed).toEqual([C]);
    expect(reheatAlpha(merged)).toBe(0);
  });

  it('places a new node beside its placed neighbour and reheats gently', () => {
    const first = mergeGraph(new Map(), [], shapeGraph(graph()));
    const current = place(first.nodes);
    const g = graph({
      nodes: [{ id: D, node_type: 'peer', label: 'dee', online: false }],
      links: [{ source: C, target: D, link_type: 'peer' }],
    });
    const merged = mergeGraph(current, first.links, shapeGraph(g));
    expect(merged.added).toEqual([D]);
    const d = merged.nodes.find((n) => n.id === D) as SimNode;
    const c = current.get(C) as SimNode;
    expect(Math.hypot((d.x as number) - (c.x as number), (d.y as number) - (c.y as number))).toBeCloseTo(FORCES.linkDistance * 0.6);
    expect(merged.linksChanged).toBe(true);
    expect(reheatAlpha(merged)).toBe(0.3);
    // Others did not move.
    expect(current.get(B)).toMatchObject({ x: 200, y: 20 });
  });

  it('places a node without neighbours beside this instance', () => {
    const first = mergeGraph(new Map(), [], shapeGraph(graph()));
    const current = place(first.nodes);
    const merged = mergeGraph(current, first.links, shapeGraph(graph({ nodes: [{ id: D, node_type: 'peer', label: 'd', online: false }] })));
    const d = merged.nodes.find((n) => n.id === D) as SimNode;
    expect(Math.hypot(d.x as number, d.y as number)).toBeCloseTo(FORCES.linkDistance * 0.6);
  });

  it('drops nodes that left and their links', () => {
    const first = mergeGraph(new Map(), [], shapeGraph(graph()));
    const current = place(first.nodes);
    const g = graph();
    g.nodes = g.nodes.filter((n) => n.id !== C);
    const merged = mergeGraph(current, first.links, shapeGraph(g));
    expect(merged.removed).toEqual([C]);
    expect(merged.links.map((l: SimLink) => l.kind)).toEqual(['relay', 'direct']);
    expect(reheatAlpha(merged)).toBe(0.3);
  });

  it('reheats a little when only links changed', () => {
    const first = mergeGraph(new Map(), [], shapeGraph(graph()));
    const current = place(first.nodes);
    const g = graph();
    g.links = g.links.filter((l) => l.link_type !== 'peer');
    const merged = mergeGraph(current, first.links, shapeGraph(g));
    expect(merged).toMatchObject({ added: [], removed: [], linksChanged: true });
    expect(reheatAlpha(merged)).toBe(0.1);
  });
});

import { describe, expect, it } from 'vitest';
import { FORCES, type NodeInfo } from './graph';
import { describeNode, LABEL_LIMIT, linkStyle, nodeStyle, RADIUS, showsLabel } from './graphStyle';
import { contrast, PALETTES } from './palette';

describe('styles', () => {
  const light = PALETTES.light;

  it("uses SoundTime's radii and link patterns", () => {
    expect([RADIUS.self, RADIUS.relay, RADIUS.peer]).toEqual([24, 18, 14]);
    expect(FORCES).toEqual({ linkDistance: 120, charge: -300, collide: 40 });
    expect(linkStyle('direct', light).dash).toBeNull();
    expect(linkStyle('relay', light)).toMatchObject({ stroke: light.relay, dash: '6 4' });
    expect(linkStyle('peer', light)).toMatchObject({ stroke: light.peer });
    expect(linkStyle('peer', light).dash).not.toBeNull();
  });

  it('draws offline nodes half-opaque grey with a dashed ring, blocked ones hollow in red', () => {
    expect(nodeStyle({ kind: 'peer', online: true }, light)).toMatchObject({ fill: light.peer, fillOpacity: 1, dash: null });
    expect(nodeStyle({ kind: 'peer', online: false }, light)).toMatchObject({
      fill: '#4b5563',
      fillOpacity: 0.5,
      stroke: light.offlineRing,
      dash: '4 3',
    });
    expect(nodeStyle({ kind: 'blocked', online: false }, light)).toMatchObject({ fill: light.background, stroke: light.blocked });
    expect(nodeStyle({ kind: 'peer-of-peer', online: true }, light).radius).toBeLessThan(RADIUS.peer);
    expect(nodeStyle({ kind: 'peer-of-peer', online: false }, light).dash).not.toBe(nodeStyle({ kind: 'peer', online: false }, light).dash);
  });

  it("keeps SoundTime's colours on the dark theme", () => {
    const dark = PALETTES.dark;
    expect([dark.self, dark.relay, dark.peer, dark.offlineFill]).toEqual(['#22c55e', '#3b82f6', '#a855f7', '#4b5563']);
  });

  it.each(['light', 'dark'] as const)('gives every meaningful colour 3:1 against the %s background', (theme) => {
    const p = PALETTES[theme];
    for (const colour of [p.self, p.relay, p.peer, p.offlineRing, p.blocked, p.direct, p.relayLink, p.peerLink, p.selection]) {
      expect(contrast(colour, p.background), colour).toBeGreaterThanOrEqual(3);
    }
    expect(contrast(p.label, p.background)).toBeGreaterThanOrEqual(7);
  });

  it('fails the contrast check for what it should fail', () => {
    expect(contrast('#22c55e', '#ffffff')).toBeLessThan(3); // SoundTime's self colour on a light page
    expect(contrast('#000000', '#ffffff')).toBeCloseTo(21);
  });

  it('labels self and relay always, peers while the graph is small', () => {
    expect(showsLabel({ kind: 'self' }, 500)).toBe(true);
    expect(showsLabel({ kind: 'peer' }, LABEL_LIMIT)).toBe(true);
    expect(showsLabel({ kind: 'peer' }, LABEL_LIMIT + 1)).toBe(false);
  });

  it('describes a node in one line', () => {
    const node = (fields: Partial<NodeInfo>): NodeInfo => ({
      id: 'b'.repeat(64),
      kind: 'peer',
      label: 'bee',
      online: true,
      trackCount: 5,
      version: '0.4.0',
      peer: null,
      block: null,
      ...fields,
    });
    expect(describeNode(node({}))).toBe('peer · online · 5 tracks · 0.4.0');
    expect(describeNode(node({ online: false, trackCount: 1, version: null }))).toBe('peer · offline · 1 track');
    expect(describeNode(node({ kind: 'blocked', online: false, trackCount: null }))).toBe('blocked · kept out · 0.4.0');
  });
});

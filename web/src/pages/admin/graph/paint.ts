/** The graph's looks applied to its SVG elements, by attributes only (the app's CSP allows no inline style). */
import { type Selection, select } from 'd3-selection';
import type { LinkKind, SimNode } from '../lib/graph';
import { linkStyle, nodeStyle, RADIUS, showsLabel } from '../lib/graphStyle';
import type { Palette } from '../lib/palette';

export function paintLinks(paths: Selection<SVGPathElement, LinkKind, SVGGElement, unknown>, palette: Palette): void {
  paths.each(function (kind) {
    const look = linkStyle(kind, palette);
    select(this).attr('stroke', look.stroke).attr('stroke-width', look.width).attr('stroke-dasharray', look.dash);
  });
}

export interface NodeStates {
  count: number;
  selected: string | null;
  hovered: string | null;
}

/** Each node's disc, selection ring, blocked cross, pin mark and label (shown per :func:`showsLabel`). */
export function paintNodes(nodes: Selection<SVGGElement, SimNode, SVGGElement, unknown>, palette: Palette, states: NodeStates): void {
  nodes.each(function (d) {
    const look = nodeStyle(d, palette);
    const g = select(this).attr('data-id', d.id).attr('data-kind', d.kind).attr('data-online', String(d.online));
    g.select('.ring')
      .attr('r', look.radius + 5)
      .attr('stroke', palette.selection)
      .attr('stroke-width', 3)
      .attr('display', d.id === states.selected ? null : 'none');
    g.select('.body')
      .attr('r', look.radius)
      .attr('fill', look.fill)
      .attr('fill-opacity', look.fillOpacity)
      .attr('stroke', look.stroke)
      .attr('stroke-width', look.strokeWidth)
      .attr('stroke-dasharray', look.dash);
    const c = look.radius * 0.5;
    g.select('.cross')
      .attr('d', d.kind === 'blocked' ? `M${-c} ${-c}L${c} ${c}M${c} ${-c}L${-c} ${c}` : null)
      .attr('stroke', palette.blocked)
      .attr('stroke-width', 2.5);
    g.select('.pin')
      .attr('cx', look.radius * 0.75)
      .attr('cy', -look.radius * 0.75)
      .attr('fill', palette.label)
      .attr('stroke', palette.halo)
      .attr('stroke-width', 1.5)
      .attr('display', d.fx != null ? null : 'none');
    const labelled = showsLabel(d, states.count) || d.id === states.selected || d.id === states.hovered;
    g.select('.label')
      .attr('fill', palette.label)
      .attr('stroke', palette.halo)
      .attr('display', labelled ? null : 'none')
      .text(d.label);
  });
}

/** Labels keep 12 px on screen at any zoom ``scale``, just under their node. */
export function sizeLabels(nodes: Selection<SVGGElement, SimNode, SVGGElement, unknown>, scale: number): void {
  nodes
    .select('.label')
    .attr('font-size', 12 / scale)
    .attr('stroke-width', 3.5 / scale)
    .attr('y', (d) => RADIUS[d.kind] + 4 + 11 / scale);
}

/**
 * The drawing of the network graph: a d3-force simulation and the SVG it moves (D3 owns these elements; the page
 * around them is Svelte). A refresh merges into the simulation's nodes (see ../lib/graph.ts), so nodes that did not
 * change stay where they are; drag pins a node, double-click unpins it; wheel/pinch zooms and dragging the
 * background pans. Every look comes from attributes (no inline style), as the app's CSP requires.
 */
import { drag } from 'd3-drag';
import { type ForceLink, forceCenter, forceCollide, forceLink, forceManyBody, forceSimulation, forceX, forceY, type Simulation } from 'd3-force';
import { type Selection, select } from 'd3-selection';
import { type ZoomBehavior, type ZoomTransform, zoom, zoomIdentity } from 'd3-zoom';
import { FORCES, type LinkKind, mergeGraph, reheatAlpha, type Shaped, type SimLink, type SimNode } from '../lib/graph';
import { PALETTES, type Theme } from '../lib/palette';
import { paintLinks, paintNodes, sizeLabels } from './paint';

export interface SceneEvents {
  select(id: string): void;
  hover(node: SimNode | null, event: PointerEvent | null): void;
  /** A node was pinned or unpinned by the pointer. */
  pinned(): void;
}

/** Ticks of a full layout (d3's default decay from alpha 1 to alphaMin). */
const FULL_LAYOUT = 300;
/** Links are drawn as one path per kind: three attribute writes per frame instead of four per link. */
const LINK_KINDS: LinkKind[] = ['peer', 'relay', 'direct'];

export class Scene {
  readonly simulation: Simulation<SimNode, SimLink>;
  private readonly svg: Selection<SVGSVGElement, unknown, null, undefined>;
  private readonly viewport: Selection<SVGGElement, unknown, null, undefined>;
  private readonly zoomer: ZoomBehavior<SVGSVGElement, unknown>;
  private nodes = new Map<string, SimNode>();
  private links: SimLink[] = [];
  private readonly linkPaths: Selection<SVGPathElement, LinkKind, SVGGElement, unknown>;
  private nodeSel: Selection<SVGGElement, SimNode, SVGGElement, unknown>;
  private theme: Theme = 'light';
  private selected: string | null = null;
  private hovered: string | null = null;
  /** Whether the administrator zoomed or panned (then a resize no longer re-fits the view). */
  private touched = false;
  /** The zoom's scale: labels are drawn at 12 px on screen whatever it is. */
  private scale = 1;

  constructor(
    element: SVGSVGElement,
    private readonly events: SceneEvents,
    private readonly animate: boolean,
  ) {
    this.svg = select(element);
    this.viewport = this.svg.append('g').attr('class', 'viewport');
    this.linkPaths = this.viewport
      .append('g')
      .attr('class', 'links')
      .attr('fill', 'none')
      .selectAll<SVGPathElement, LinkKind>('path')
      .data(LINK_KINDS)
      .join('path')
      .attr('data-kind', (kind) => kind);
    this.nodeSel = this.viewport.append('g').attr('class', 'nodes').selectAll<SVGGElement, SimNode>('g');
    this.zoomer = zoom<SVGSVGElement, unknown>()
      .scaleExtent([0.15, 4])
      .on('zoom', (event: { transform: ZoomTransform; sourceEvent: unknown }) => {
        if (event.sourceEvent) this.touched = true;
        this.viewport.attr('transform', event.transform.toString());
        if (event.transform.k !== this.scale) {
          this.scale = event.transform.k;
          sizeLabels(this.nodeSel, this.scale);
        }
      });
    this.svg.call(this.zoomer).on('dblclick.zoom', null);
    this.simulation = forceSimulation<SimNode, SimLink>([])
      .force('link', forceLink<SimNode, SimLink>([]).id((d) => d.id).distance(FORCES.linkDistance))
      .force('charge', forceManyBody<SimNode>().strength(FORCES.charge))
      .force('collide', forceCollide<SimNode>(FORCES.collide))
      .force('center', forceCenter(0, 0))
      // Weak pulls toward the centre keep offline peers (no link) from drifting out of sight.
      .force('x', forceX<SimNode>(0).strength(0.04))
      .force('y', forceY<SimNode>(0).strength(0.04))
      .on('tick', () => this.tick())
      .stop();
  }

  /** Merge new data: unchanged nodes keep their place; new ones start beside a neighbour; reheat only as needed. */
  update(shaped: Shaped): void {
    const first = this.nodes.size === 0;
    const merged = mergeGraph(this.nodes, this.links, shaped);
    this.nodes = new Map(merged.nodes.map((node) => [node.id, node]));
    this.links = merged.links;
    this.simulation.nodes(merged.nodes);
    (this.simulation.force('link') as ForceLink<SimNode, SimLink>).links(this.links);
    this.join();
    if (first) {
      // The first layout is computed at once, then shown fitted: nothing flies in from the corners.
      const started = performance.now();
      this.simulation.alpha(1).tick(FULL_LAYOUT);
      this.tick();
      this.fit();
      // Visible in the browser's performance tools (and read by bench/web_graph.py).
      performance.measure('soundtime:graph-first-layout', { start: started, detail: { nodes: merged.nodes.length } });
      return;
    }
    const alpha = reheatAlpha(merged);
    if (alpha === 0) this.style();
    else if (this.animate) this.simulation.alpha(Math.max(this.simulation.alpha(), alpha)).restart();
    else {
      this.simulation.alpha(alpha).tick(60);
      this.tick();
    }
  }

  setTheme(theme: Theme): void {
    this.theme = theme;
    this.style();
  }

  setSelected(id: string | null): void {
    this.selected = id;
    this.style();
  }

  node(id: string): SimNode | undefined {
    return this.nodes.get(id);
  }

  /** Release one node (or all) to the forces. */
  unpin(id?: string): void {
    for (const node of id ? [this.nodes.get(id)].filter((n) => n !== undefined) : this.nodes.values()) {
      node.fx = null;
      node.fy = null;
    }
    this.style();
    this.reheat(0.2);
  }

  /** Unpin everything and lay the graph out again from where it is. */
  relayout(): void {
    this.unpin();
    this.reheat(1);
  }

  zoomBy(factor: number): void {
    this.touched = true;
    this.zoomer.scaleBy(this.svg, factor);
  }

  /** The drawing area changed size: fit again, unless the administrator chose a view. */
  resized(): void {
    if (!this.touched) this.fit();
  }

  /** Zoom and pan so that every node is in view (and follow the layout again on resize). */
  fit(): void {
    this.touched = false;
    const placed = [...this.nodes.values()].filter((n) => n.x !== undefined && n.y !== undefined);
    const box = this.svg.node()?.viewBox.baseVal;
    if (!placed.length || !box || !box.width) return;
    const xs = placed.map((n) => n.x as number);
    const ys = placed.map((n) => n.y as number);
    const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
    const margin = 60;
    const k = Math.min(box.width / (x1 - x0 + 2 * margin), box.height / (y1 - y0 + 2 * margin), 1.25);
    const transform = zoomIdentity.translate(-k * ((x0 + x1) / 2), -k * ((y0 + y1) / 2)).scale(k);
    this.zoomer.transform(this.svg, transform);
  }

  destroy(): void {
    this.simulation.stop();
    this.svg.on('.zoom', null);
  }

  private reheat(alpha: number): void {
    if (this.animate) this.simulation.alpha(alpha).restart();
    else {
      this.simulation.alpha(alpha).tick(Math.round(FULL_LAYOUT * alpha));
      this.tick();
    }
  }

  private join(): void {
    // Which links each path draws, as "source>target" (for tests and the curious; not updated per frame).
    this.linkPaths.attr('data-links', (kind) =>
      this.links
        .filter((link) => link.kind === kind)
        .map((link) => `${link.source.id}>${link.target.id}`)
        .join(' '),
    );
    this.nodeSel = this.nodeSel
      .data([...this.nodes.values()], (d) => d.id)
      .join((enter) => {
        const g = enter.append('g').attr('class', 'node');
        g.append('circle').attr('class', 'ring').attr('fill', 'none');
        g.append('circle').attr('class', 'body');
        g.append('path').attr('class', 'cross').attr('stroke-linecap', 'round');
        g.append('circle').attr('class', 'pin').attr('r', 4);
        g.append('text').attr('class', 'label').attr('text-anchor', 'middle').attr('paint-order', 'stroke');
        g.on('click', (_, d) => this.events.select(d.id))
          .on('dblclick', (_, d) => {
            this.unpin(d.id);
            this.events.pinned();
          })
          .on('pointerenter', (event: PointerEvent, d) => this.hover(d, event))
          .on('pointermove', (event: PointerEvent, d) => this.events.hover(d, event))
          .on('pointerleave', () => this.hover(null, null))
          .call(this.dragger());
        return g;
      });
    this.style();
  }

  private hover(node: SimNode | null, event: PointerEvent | null): void {
    this.hovered = node?.id ?? null;
    this.events.hover(node, event);
    this.style();
  }

  private dragger() {
    let moved = false;
    return drag<SVGGElement, SimNode>()
      .clickDistance(4)
      .on('start', () => {
        moved = false;
      })
      .on('drag', (event: { x: number; y: number; active: number }, d) => {
        if (!moved) {
          moved = true;
          if (!event.active) this.simulation.alphaTarget(0.3).restart();
        }
        d.fx = event.x;
        d.fy = event.y;
        this.tick();
      })
      .on('end', (event: { active: number }) => {
        if (!moved) return; // a click: select, do not pin
        if (!event.active) this.simulation.alphaTarget(0);
        this.style();
        this.events.pinned();
      });
  }

  /** Colours, sizes and states (no positions): after a theme change, a selection, or facts that changed. */
  private style(): void {
    const palette = PALETTES[this.theme];
    paintLinks(this.linkPaths, palette);
    paintNodes(this.nodeSel, palette, { count: this.nodes.size, selected: this.selected, hovered: this.hovered });
    sizeLabels(this.nodeSel, this.scale);
  }

  private tick(): void {
    const paths: Record<LinkKind, string[]> = { peer: [], relay: [], direct: [] };
    for (const { kind, source, target } of this.links) {
      paths[kind].push(`M${(source.x ?? 0).toFixed(1)} ${(source.y ?? 0).toFixed(1)}L${(target.x ?? 0).toFixed(1)} ${(target.y ?? 0).toFixed(1)}`);
    }
    this.linkPaths.attr('d', (kind) => paths[kind].join(''));
    this.nodeSel.attr('transform', (d) => `translate(${(d.x ?? 0).toFixed(1)},${(d.y ?? 0).toFixed(1)})`);
  }
}

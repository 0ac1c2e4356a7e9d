// Lays out a chain's entity graph in columns an analyst reads left to right: where the attacker came
// from (source addresses), who (users), where (hosts and services), what ran (processes, parents left of
// children), and where data went (destination addresses). Rows follow the first step showing a node.
// Deterministic, no physics.

export interface LayoutNode {
  id: string;
  type: string;
  label: string;
  steps: number[];
  key: boolean;
}

export interface LayoutEdge {
  from: string;
  to: string;
  relation: string;
  steps: number[];
}

export interface Placed extends LayoutNode {
  x: number;
  y: number;
  col: number;
}

export const NODE_W = 168;
export const NODE_H = 32;
const COL = 214;
const ROW = 50;
const PAD = 16;
const MAX_PROCESS_DEPTH = 3;

export function columnOf(nodes: LayoutNode[], edges: LayoutEdge[]): Map<string, number> {
  const incoming = new Set(edges.map((e) => e.to));
  const outgoing = new Set(edges.map((e) => e.from));
  // process depth along "spawned" edges (bounded, so a cycle cannot loop)
  const depth = new Map<string, number>();
  for (let pass = 0; pass < MAX_PROCESS_DEPTH; pass++) {
    for (const e of edges) {
      if (e.relation !== "spawned") continue;
      const d = Math.min(MAX_PROCESS_DEPTH - 1, (depth.get(e.from) ?? 0) + 1);
      if (d > (depth.get(e.to) ?? 0)) depth.set(e.to, d);
    }
  }
  const maxDepth = Math.max(0, ...depth.values());
  const col = new Map<string, number>();
  for (const n of nodes) {
    switch (n.type) {
      case "ip":
        col.set(n.id, outgoing.has(n.id) && !incoming.has(n.id) ? 0 : 4 + maxDepth);
        break;
      case "user":
        col.set(n.id, 1);
        break;
      case "host":
      case "service":
        col.set(n.id, 2);
        break;
      default:
        col.set(n.id, 3 + (depth.get(n.id) ?? 0));
    }
  }
  // drop empty columns so the graph stays compact
  const used = [...new Set(col.values())].sort((a, b) => a - b);
  const dense = new Map(used.map((c, i) => [c, i]));
  for (const [id, c] of col) col.set(id, dense.get(c)!);
  return col;
}

export function layout(nodes: LayoutNode[], edges: LayoutEdge[]): { nodes: Placed[]; width: number; height: number } {
  const col = columnOf(nodes, edges);
  const cols = new Map<number, LayoutNode[]>();
  for (const n of nodes) {
    const c = col.get(n.id) ?? 0;
    cols.set(c, [...(cols.get(c) ?? []), n]);
  }
  const placed: Placed[] = [];
  let rows = 0;
  for (const [c, list] of [...cols].sort((a, b) => a[0] - b[0])) {
    list.sort((a, b) => (a.steps[0] ?? 0) - (b.steps[0] ?? 0) || (a.label < b.label ? -1 : 1));
    list.forEach((n, i) => placed.push({ ...n, col: c, x: PAD + c * COL, y: PAD + i * ROW }));
    rows = Math.max(rows, list.length);
  }
  const maxCol = Math.max(0, ...placed.map((p) => p.col));
  return { nodes: placed, width: PAD * 2 + maxCol * COL + NODE_W, height: PAD * 2 + Math.max(1, rows) * ROW };
}

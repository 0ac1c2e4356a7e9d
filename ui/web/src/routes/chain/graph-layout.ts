// Lays out a chain's entity graph left to right: each node one column right of everything pointing at
// it (longest path), rows ordered by the first step that shows the node. Deterministic, no physics.

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
  rank: number;
}

export const NODE_W = 180;
export const NODE_H = 34;
const COL = 250;
const ROW = 58;
const PAD = 20;

export function layout(nodes: LayoutNode[], edges: LayoutEdge[]): { nodes: Placed[]; width: number; height: number } {
  const rank = new Map<string, number>(nodes.map((n) => [n.id, 0]));
  // longest path, bounded by the node count so a cycle cannot loop forever
  for (let pass = 0; pass < nodes.length; pass++) {
    let changed = false;
    for (const e of edges) {
      const r = (rank.get(e.from) ?? 0) + 1;
      if (r > (rank.get(e.to) ?? 0) && r < nodes.length) {
        rank.set(e.to, r);
        changed = true;
      }
    }
    if (!changed) break;
  }
  const cols = new Map<number, LayoutNode[]>();
  for (const n of nodes) {
    const r = rank.get(n.id) ?? 0;
    cols.set(r, [...(cols.get(r) ?? []), n]);
  }
  const placed: Placed[] = [];
  let rows = 0;
  for (const [r, col] of [...cols].sort((a, b) => a[0] - b[0])) {
    col.sort((a, b) => (a.steps[0] ?? 0) - (b.steps[0] ?? 0) || (a.label < b.label ? -1 : 1));
    col.forEach((n, i) => placed.push({ ...n, rank: r, x: PAD + r * COL, y: PAD + i * ROW }));
    rows = Math.max(rows, col.length);
  }
  const maxRank = Math.max(0, ...placed.map((p) => p.rank));
  return { nodes: placed, width: PAD * 2 + maxRank * COL + NODE_W, height: PAD * 2 + Math.max(1, rows) * ROW };
}

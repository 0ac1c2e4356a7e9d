// The entity graph of a chain: users, hosts, IPs, services and processes as nodes, joined by what its
// signals say about them (user on host, host ran process, parent spawned child, source connected to
// destination), each edge naming the steps that show it. Pure and bounded; the browser lays it out.

import { getField } from "../../../schema/fields.ts";
import type { Chain, Signal } from "../../../schema/signal.ts";

export type NodeType = "user" | "host" | "ip" | "service" | "process";

export interface GraphNode {
  id: string;
  type: NodeType;
  label: string;
  /** Step indexes (0-based) whose signals carry this entity. */
  steps: number[];
  /** Carried by the chain's entity summary (a linking entity) rather than only by one signal. */
  key: boolean;
}

export interface GraphEdge {
  from: string;
  to: string;
  relation: string;
  steps: number[];
}

export interface EntityGraph {
  nodes: GraphNode[];
  edges: GraphEdge[];
  truncated: boolean;
}

const MAX_NODES = 150;
const MAX_EDGES = 400;
const MAX_LABEL = 200;

function str(v: unknown): string | null {
  if (typeof v === "string" && v.trim()) return v.trim().slice(0, MAX_LABEL);
  if (typeof v === "number") return String(v);
  return null;
}

function processLabel(sig: Signal, prefix: "process" | "process.parent"): string | null {
  const name = str(getField(sig, `${prefix}.name`)) ?? baseName(str(getField(sig, `${prefix}.executable`)));
  if (!name) return null;
  const pid = getField(sig, `${prefix}.pid`);
  return typeof pid === "number" ? `${name} (${pid})` : name;
}

function baseName(p: string | null): string | null {
  if (!p) return null;
  const parts = p.split(/[\\/]/);
  return parts[parts.length - 1] || p;
}

export function buildEntityGraph(chain: Chain, signals: Map<string, Signal>): EntityGraph {
  const nodes = new Map<string, GraphNode>();
  const edges = new Map<string, GraphEdge>();
  let truncated = false;
  const keyValues = new Set<string>([
    ...(chain.entities?.users ?? []).map((v) => `user:${v}`),
    ...(chain.entities?.hosts ?? []).map((v) => `host:${v}`),
    ...(chain.entities?.ips ?? []).map((v) => `ip:${v}`),
    ...(chain.entities?.services ?? []).map((v) => `service:${v}`),
  ]);

  const node = (type: NodeType, label: string | null, step: number): string | null => {
    if (!label) return null;
    const id = `${type}:${type === "process" ? label : label.toLowerCase()}`;
    let n = nodes.get(id);
    if (!n) {
      if (nodes.size >= MAX_NODES) {
        truncated = true;
        return null;
      }
      n = { id, type, label, steps: [], key: keyValues.has(id) };
      nodes.set(id, n);
    }
    if (n.steps[n.steps.length - 1] !== step) n.steps.push(step);
    return id;
  };
  const edge = (from: string | null, to: string | null, relation: string, step: number) => {
    if (!from || !to || from === to) return;
    const id = `${from}\u0000${to}\u0000${relation}`;
    let e = edges.get(id);
    if (!e) {
      if (edges.size >= MAX_EDGES) {
        truncated = true;
        return;
      }
      e = { from, to, relation, steps: [] };
      edges.set(id, e);
    }
    if (e.steps[e.steps.length - 1] !== step) e.steps.push(step);
  };

  chain.steps.forEach((step, i) => {
    const sig = signals.get(step.signal_id);
    const user = node("user", str(sig ? getField(sig, "user.name") : null) ?? str(step.user), i);
    const host = node("host", str(sig ? getField(sig, "host.name") : null) ?? str(step.host), i);
    if (!sig) {
      edge(user, host, "on", i);
      return;
    }
    const service = node("service", str(getField(sig, "service.name")), i);
    const src = node("ip", str(getField(sig, "source.ip")), i);
    const dst = node("ip", str(getField(sig, "destination.ip")), i);
    const proc = node("process", processLabel(sig, "process"), i);
    const parent = node("process", processLabel(sig, "process.parent"), i);
    const targetUser = node("user", str(getField(sig, "user.target.name")), i);
    const place = host ?? service;
    edge(user, place, "on", i);
    edge(src, place ?? user, "connected to", i);
    edge(parent, proc, "spawned", i);
    edge(place, parent ?? proc, "ran", i);
    edge(proc ?? place, dst, "connected to", i);
    edge(user, targetUser, "acted as", i);
    if (host && service) edge(service, host, "runs on", i);
  });
  return { nodes: [...nodes.values()], edges: [...edges.values()], truncated };
}

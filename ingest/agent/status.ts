// The agent's status file: what `sigil agent status` shows (files, offsets, lag, buffer depth, link
// state, last error), written atomically every second by the running agent and read by the CLI.

import fs from "node:fs/promises";
import { SigilError } from "../../platform/errors.ts";
import { safeJsonParse } from "../../schema/fields.ts";
import { writeFileAtomic } from "./durable.ts";
import type { FileStatus } from "./files.ts";
import type { LastError } from "./shipper.ts";

export interface AgentStatus {
  version: 1;
  pid: number;
  agent_id: string;
  host_name: string;
  agent_version: string;
  started_at: string;
  updated_at: string;
  /** "running", or "stopped" after a clean shutdown. */
  state: "running" | "stopped";
  link: "unknown" | "up" | "down";
  breaker: "closed" | "open" | "half_open";
  endpoint: string;
  in_flight_batches: number;
  pending_batches: number;
  shipped_lines: number;
  buffer: {
    enabled: boolean;
    bytes: number;
    batches: number;
    lines: number;
    dropped_batches: number;
    dropped_lines: number;
    corrupt_frames: number;
    full: boolean;
  };
  dead_letter: { batches: number; lines: number };
  last_error: LastError | null;
  files: FileStatus[];
  stdin: { offset: number; committed: number; ended: boolean } | null;
  metrics_address: string | null;
}

export async function writeStatus(file: string, s: AgentStatus): Promise<void> {
  await writeFileAtomic(file, JSON.stringify(s, null, 1) + "\n", { sync: false, mode: 0o640 });
}

/** Reads a status file; a missing or unreadable one is a clear error with a way out. */
export async function readStatus(file: string): Promise<AgentStatus> {
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new SigilError("agent_status_missing", `no agent status at ${file} (${code ?? "unreadable"})`, {
      location: { file },
      hint: "is the agent running with this config? `sigil agent status --config <agent.yml>` reads <data_dir>/status.json",
    });
  }
  const s = safeJsonParse(text) as unknown as AgentStatus;
  if (!s || s.version !== 1 || !Array.isArray(s.files)) throw new SigilError("agent_status_corrupt", `${file} is not an agent status file`, { location: { file } });
  return s;
}

/** Whether the process that wrote the status still runs and wrote it recently. */
export function isLive(s: AgentStatus, now = Date.now(), staleMs = 10_000): boolean {
  if (s.state !== "running") return false;
  try {
    process.kill(s.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  return now - Date.parse(s.updated_at) < staleMs;
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const u = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < u.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${u[i]}`;
}

/** The human view of a status: a summary, then one line per file. */
export function formatStatus(s: AgentStatus, now = Date.now()): string {
  const live = isLive(s, now);
  const lines: string[] = [];
  const age = Math.max(0, Math.round((now - Date.parse(s.updated_at)) / 1000));
  lines.push(`agent ${s.agent_id} on ${s.host_name} (sigil-agent ${s.agent_version}, pid ${s.pid}): ${live ? "running" : s.state === "stopped" ? "stopped" : `not running (status from ${age} s ago)`}`);
  lines.push(`ingest ${s.endpoint}: link ${s.link}, breaker ${s.breaker.replace("_", "-")}, ${s.in_flight_batches} batches in flight, ${s.shipped_lines} lines shipped since start`);
  const b = s.buffer;
  lines.push(
    b.enabled
      ? `buffer: ${b.batches} batches, ${b.lines} lines, ${bytes(b.bytes)} on disk${b.full ? " (FULL: reading paused)" : ""}${b.dropped_lines ? `, ${b.dropped_lines} lines dropped (drop_oldest)` : ""}${b.corrupt_frames ? `, ${b.corrupt_frames} corrupt frames skipped` : ""}`
      : `buffer: disabled (${b.batches} batches held in memory)`,
  );
  if (s.dead_letter.batches) lines.push(`dead letter: ${s.dead_letter.batches} batches (${s.dead_letter.lines} lines) refused by ingest, kept in <data_dir>/dead-letter`);
  if (s.last_error) lines.push(`last error: ${s.last_error.code} at ${s.last_error.at}: ${s.last_error.message}`);
  if (s.stdin) lines.push(`stdin: ${s.stdin.offset} bytes read, ${s.stdin.committed} safe${s.stdin.ended ? " (ended)" : ""}`);
  lines.push("");
  if (s.files.length === 0) lines.push("no files");
  else {
    const head = ["STATE", "OFFSET", "SIZE", "LAG", "PATH"];
    const rows = s.files.map((f) => [f.state, String(f.offset), String(f.size), bytes(f.lag_bytes), f.path]);
    const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    lines.push(head.map((h, i) => (i === head.length - 1 ? h : h.padEnd(w[i]))).join("  "));
    for (const r of rows) lines.push(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]))).join("  "));
  }
  return lines.join("\n") + "\n";
}

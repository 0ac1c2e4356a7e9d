// Deterministic, realistic ECS events for the store benchmarks: seven days of process, network and
// authentication events over 500 hosts and 5000 users, with a rare word in 0.1% of them.
import type { Doc } from "../../platform/store/types.ts";
import { mulberry32 } from "../../platform/prng.ts";

export const SPAN_MS = 7 * 86_400_000;
export const T_END = Date.UTC(2026, 10, 1);
export const T_START = T_END - SPAN_MS;

const rng = mulberry32;
const WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu".split(" ");
const PROCS = Array.from({ length: 200 }, (_, i) => (i === 0 ? "powershell.exe" : i === 1 ? "cmd.exe" : `proc${i}.exe`));
const DATASETS = ["windows.sysmon", "system.auth", "nginx.access", "zeek.conn", "aws.cloudtrail"];

export function makeEvent(i: number, n: number): Doc {
  const r = rng(i * 2654435761);
  const ts = T_START + Math.floor((i / n) * SPAN_MS);
  const host = `host-${Math.floor(r() * 500)}`;
  const user = `user${Math.floor(r() * 5000)}`;
  const proc = PROCS[Math.floor(r() * r() * PROCS.length)];
  const ds = DATASETS[i % DATASETS.length];
  const w = () => WORDS[Math.floor(r() * WORDS.length)];
  const rare = i % 1000 === 7 ? " mimikatz" : "";
  const cmd = `${proc} /c ${w()} ${w()} --id ${Math.floor(r() * 1e6)}${i % 50 === 3 ? " whoami" : ""}${rare}`;
  const src = `10.${Math.floor(r() * 4)}.${Math.floor(r() * 256)}.${Math.floor(r() * 256)}`;
  const dst = `192.168.${Math.floor(r() * 16)}.${Math.floor(r() * 256)}`;
  const port = [22, 80, 443, 445, 3389, 8080][Math.floor(r() * 6)];
  const outcome = r() < 0.1 ? "failure" : "success";
  return {
    "@timestamp": new Date(ts).toISOString(),
    event: {
      id: `ev-${i.toString(36)}-${Math.floor(r() * 1e9).toString(36)}`,
      kind: "event",
      category: [i % 3 === 0 ? "process" : i % 3 === 1 ? "network" : "authentication"],
      type: ["start"],
      action: i % 3 === 0 ? "process-created" : i % 3 === 1 ? "connection" : "logon",
      dataset: ds,
      code: String(4600 + (i % 90)),
      outcome,
      original: `${new Date(ts).toISOString()} ${host} ${ds}: user=${user} src=${src} dst=${dst}:${port} cmd="${cmd}" outcome=${outcome}`,
    },
    host: { name: host, os: { family: i % 2 ? "windows" : "linux" } },
    user: { name: user, domain: "CORP" },
    source: { ip: src, port: 1024 + Math.floor(r() * 60000) },
    destination: { ip: dst, port },
    process: { name: proc, pid: Math.floor(r() * 65535), command_line: cmd, executable: `C:\\Windows\\System32\\${proc}`, parent: { name: PROCS[Math.floor(r() * 10)] } },
    message: `${w()} ${w()} ${w()} by ${user} on ${host}${rare}`,
    tags: i % 7 === 0 ? ["prod", "pci"] : ["prod"],
    ecs: { version: "8.11.0" },
  };
}


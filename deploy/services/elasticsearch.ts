// The local Elasticsearch node: the integ-test-zip from Maven Central, single-node, security off,
// on loopback, run as an unprivileged user when we are root (Elasticsearch refuses root), ready
// when _cluster/health reports yellow.

import fs from "node:fs";
import path from "node:path";
import { spawn, spawnSync } from "node:child_process";
import { SigilError } from "../../platform/errors.ts";
import { setAutogroupNice } from "../../platform/sched.ts";
import { javaHome, type Progress } from "./fetch.ts";
import { cmdline, pidAlive, portHolder, readPid, sleep, stopPid, tail } from "./proc.ts";
import { HOST, esUrl, type Layout, type ServicesSettings } from "./settings.ts";

export function esYaml(s: ServicesSettings, l: Layout): string {
  return [
    "# Written by `sigil services up`; edits are overwritten. One node on loopback for development and tests.",
    "cluster.name: sigil-dev",
    "node.name: sigil-dev",
    "discovery.type: single-node",
    `network.host: ${HOST}`,
    `http.port: ${s.ports.elasticsearch}`,
    `transport.port: ${s.ports.transport}`,
    `path.data: ${l.esData}`,
    `path.logs: ${l.esLogs}`,
    "xpack.security.enabled: false",
    // Shared developer machines run low on disk; tests must not fail on read-only indices.
    "cluster.routing.allocation.disk.threshold_enabled: false",
    // Tests delete their own indices by prefix pattern.
    "action.destructive_requires_name: false",
    "",
  ].join("\n");
}

interface RunAs {
  uid: number;
  gid: number;
  name: string;
}

/** When root, the unprivileged user Elasticsearch runs as (created if missing); else null (run as we are). */
function ensureUser(name: string, progress: Progress): RunAs | null {
  if (typeof process.getuid !== "function" || process.getuid() !== 0) return null;
  const lookup = () => {
    const u = spawnSync("id", ["-u", name], { encoding: "utf8" });
    const g = spawnSync("id", ["-g", name], { encoding: "utf8" });
    return u.status === 0 && g.status === 0 ? { uid: Number(u.stdout.trim()), gid: Number(g.stdout.trim()), name } : null;
  };
  const found = lookup();
  if (found) return found;
  progress(`creating the unprivileged user ${name} for Elasticsearch (it refuses to run as root)`);
  const r = spawnSync("useradd", ["--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name], { encoding: "utf8" });
  const created = lookup();
  if (!created) {
    throw new SigilError("services_es_user", `cannot create the user ${name} for Elasticsearch: ${(r.stderr || r.error?.message || "").trim()}`, {
      hint: `create it yourself (useradd --system ${name}) or set SIGIL_SERVICES_ES_USER to an existing unprivileged user`,
    });
  }
  return created;
}

function chownTree(p: string, uid: number, gid: number): void {
  fs.chownSync(p, uid, gid);
  if (!fs.statSync(p).isDirectory()) return;
  for (const e of fs.readdirSync(p)) chownTree(path.join(p, e), uid, gid);
}

/** The folders above `p` must be enterable by the Elasticsearch user. */
function checkTraversable(p: string, user: RunAs): void {
  let cur = path.dirname(p);
  while (cur !== path.dirname(cur)) {
    const st = fs.statSync(cur);
    const others = st.mode & 0o001;
    const group = st.gid === user.gid && st.mode & 0o010;
    const owner = st.uid === user.uid && st.mode & 0o100;
    if (!others && !group && !owner) {
      throw new SigilError("services_es_permissions", `the Elasticsearch user ${user.name} cannot enter ${cur}`, {
        location: { file: cur },
        hint: `chmod o+x ${cur}, or set SIGIL_SERVICES_DIR to a folder outside it`,
      });
    }
    cur = path.dirname(cur);
  }
}

/** True when the running node was started with other settings than these. */
export function esConfigChanged(l: Layout, yaml: string): boolean {
  try {
    return fs.readFileSync(path.join(l.esConfig, "elasticsearch.yml"), "utf8") !== yaml;
  } catch {
    return true;
  }
}

/** The pid of the node this services folder runs, if it is alive. */
export function managedEsPid(s: ServicesSettings, l: Layout): number | null {
  // The node's command line names its home (an install under this services folder), not its config.
  const ours = (cmd: string) => cmd.includes(`-Des.path.home=${path.join(s.dir, "elasticsearch-")}`);
  const pid = readPid(l.esPid);
  if (pid !== null && pidAlive(pid) && ours(cmdline(pid))) return pid;
  const holder = portHolder(s.ports.elasticsearch);
  if (holder?.pid && ours(holder.command)) return holder.pid;
  return null;
}

/** Prepares config and folders and launches the node daemonized; returns its pid once the launcher handed over. */
export async function startElasticsearch(s: ServicesSettings, l: Layout, progress: Progress): Promise<number> {
  const user = ensureUser(s.esUser, progress);
  for (const d of [l.esHome, l.esData, l.esLogs]) fs.mkdirSync(d, { recursive: true });
  if (!fs.existsSync(path.join(l.esConfig, "jvm.options"))) {
    fs.cpSync(path.join(l.esInstall, "config"), l.esConfig, { recursive: true });
    // The stock options write GC logs and heap dumps relative to the working folder; keep logs in path.logs.
    const jvm = path.join(l.esConfig, "jvm.options");
    const text = fs
      .readFileSync(jvm, "utf8")
      .split("\n")
      .map((line) => (line.startsWith("-Xlog:gc") ? `-Xlog:gc*,gc+age=trace,safepoint:file=${path.join(l.esLogs, "gc.log")}:utctime,level,pid,tags:filecount=4,filesize=16m` : line))
      .map((line) => (line.startsWith("-XX:ErrorFile=") ? `-XX:ErrorFile=${path.join(l.esLogs, "hs_err_pid%p.log")}` : line))
      .map((line) => (line === "-XX:+HeapDumpOnOutOfMemoryError" ? "" : line))
      .join("\n");
    fs.writeFileSync(jvm, text);
  }
  fs.writeFileSync(path.join(l.esConfig, "elasticsearch.yml"), esYaml(s, l));
  fs.rmSync(l.esPid, { force: true });
  if (user) {
    checkTraversable(l.esHome, user);
    checkTraversable(l.esInstall, user);
    chownTree(l.esHome, user.uid, user.gid);
  }
  const launcherLog = path.join(l.esLogs, "launcher.log");
  const out = fs.openSync(launcherLog, "w");
  if (user) fs.fchownSync(out, user.uid, user.gid);
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    LANG: "C.UTF-8",
    HOME: l.esHome,
    ES_JAVA_HOME: javaHome(),
    ES_PATH_CONF: l.esConfig,
    ES_JAVA_OPTS: `-Xms${s.esHeap} -Xmx${s.esHeap}`,
  };
  // `-d` daemonizes: the launcher exits once the node started (or failed), leaving the node running.
  // With SIGIL_SERVICES_ES_NICE, started through nice(1): the JVM and every thread it starts run at that priority (decision 0022).
  const launcher = path.join(l.esInstall, "bin", "elasticsearch");
  const argv = ["-d", "-p", l.esPid];
  const child = spawn(s.esNice > 0 ? "nice" : launcher, s.esNice > 0 ? ["-n", String(s.esNice), launcher, ...argv] : argv, {
    cwd: l.esHome,
    env,
    stdio: ["ignore", out, out],
    detached: true,
    ...(user ? { uid: user.uid, gid: user.gid } : {}),
  });
  fs.closeSync(out);
  const code = await new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => resolve(null), s.readyTimeoutSec * 1000);
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(new SigilError("services_es_failed", `cannot launch Elasticsearch: ${err.message}`, { location: { file: path.join(l.esInstall, "bin", "elasticsearch") } }));
    });
    child.once("exit", (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  if (code !== 0) {
    throw new SigilError("services_es_failed", `Elasticsearch did not start (launcher ${code === null ? "timed out" : `exit ${code}`}); last lines:\n${tail(launcherLog) || tail(path.join(l.esLogs, "sigil-dev.log"))}`, {
      location: { file: launcherLog },
      hint: "read the log above; a corrupt data folder can be reset with `sigil services down --purge`",
    });
  }
  for (let i = 0; i < 50; i++) {
    const pid = readPid(l.esPid);
    if (pid === null) {
      await sleep(100);
      continue;
    }
    // the launcher ran in a session of its own (detached), which is its own autogroup where the kernel
    // has them: nice(1) ranks the JVM's threads only inside that group, the group's nice value ranks it
    // against the pipeline's processes (platform/sched.ts)
    if (s.esNice > 0) {
      const r = setAutogroupNice(pid, s.esNice);
      if (r instanceof Error) progress(`warning: cannot set the nice value of Elasticsearch's autogroup (${r.message}); it competes with the pipeline as an equal`);
    }
    return pid;
  }
  throw new SigilError("services_es_failed", `Elasticsearch started but wrote no pid file at ${l.esPid}`, { location: { file: launcherLog } });
}

export interface EsProbe {
  ok: boolean;
  detail: string;
  version?: string;
  status?: string;
}

/** Asks the node: cluster health (yellow or green) and its version. */
export async function probeElasticsearch(url: string, timeoutMs = 5000): Promise<EsProbe> {
  try {
    const health = await fetch(`${url}/_cluster/health?wait_for_status=yellow&timeout=1s`, { signal: AbortSignal.timeout(timeoutMs) });
    const body = (await health.json()) as { status?: string; timed_out?: boolean; cluster_name?: string };
    if (health.headers.get("x-elastic-product") !== "Elasticsearch") return { ok: false, detail: `${url} answered but is not Elasticsearch` };
    if (!health.ok || body.timed_out || (body.status !== "yellow" && body.status !== "green")) {
      return { ok: false, detail: `cluster health is ${body.status ?? `HTTP ${health.status}`}`, status: body.status };
    }
    const nodes = await fetch(`${url}/_nodes/_local?filter_path=nodes.*.version`, { signal: AbortSignal.timeout(timeoutMs) });
    const nb = (await nodes.json()) as { nodes?: Record<string, { version?: string }> };
    const version = Object.values(nb.nodes ?? {})[0]?.version;
    return { ok: true, detail: `cluster ${body.cluster_name}, health ${body.status}`, version, status: body.status };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    return { ok: false, detail: e.cause?.code ?? e.message };
  }
}

export async function waitEsReady(s: ServicesSettings, l: Layout, pid: number | null): Promise<EsProbe> {
  const end = Date.now() + s.readyTimeoutSec * 1000;
  let last: EsProbe = { ok: false, detail: "not probed yet" };
  while (Date.now() < end) {
    if (pid !== null && !pidAlive(pid)) {
      throw new SigilError("services_es_failed", `Elasticsearch (pid ${pid}) exited while starting; last log lines:\n${tail(path.join(l.esLogs, "sigil-dev.log"))}`, {
        location: { file: path.join(l.esLogs, "sigil-dev.log") },
        hint: "read the log above; a corrupt data folder can be reset with `sigil services down --purge`",
      });
    }
    last = await probeElasticsearch(esUrl(s), 3000);
    if (last.ok) return last;
    await sleep(500);
  }
  throw new SigilError("services_es_unready", `Elasticsearch at ${esUrl(s)} did not become ready within ${s.readyTimeoutSec} s (${last.detail})`, {
    location: { address: esUrl(s), file: path.join(l.esLogs, "sigil-dev.log") },
    hint: "see the node log; raise SIGIL_SERVICES_READY_TIMEOUT on a slow machine",
  });
}

export async function stopElasticsearch(pid: number): Promise<"stopped" | "killed" | "not-running"> {
  return stopPid(pid, 60_000);
}

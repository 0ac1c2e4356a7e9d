// Fetches Kafka's libraries and Elasticsearch's integ-test-zip from Maven Central with the pom in
// this folder, unpacks Elasticsearch, and finds the JDK both need. Progress goes to stderr.

import fs from "node:fs";
import path from "node:path";
import { spawn, spawnSync } from "node:child_process";
import { SigilError } from "../../platform/errors.ts";
import { POM_FILE, type Layout, type ServiceName, type ServicesSettings } from "./settings.ts";

export type Progress = (line: string) => void;

const EXTRACTED_MARK = ".sigil-extracted";

function kafkaFetched(s: ServicesSettings, l: Layout): boolean {
  return (
    fs.existsSync(path.join(l.kafkaLibs, `kafka_2.13-${s.versions.kafka}.jar`)) &&
    fs.existsSync(path.join(l.kafkaLibs, `log4j-slf4j-impl-${s.versions.log4j}.jar`))
  );
}

function esExtracted(l: Layout): boolean {
  return fs.existsSync(path.join(l.esInstall, EXTRACTED_MARK));
}

/** Makes sure the engines named are on disk: runs Maven only when something is missing. */
export async function ensureFetched(s: ServicesSettings, l: Layout, progress: Progress, which: readonly ServiceName[]): Promise<void> {
  const needKafka = which.includes("kafka") && !kafkaFetched(s, l);
  const needEs = which.includes("elasticsearch") && !esExtracted(l) && !fs.existsSync(l.esZip);
  if (needKafka || needEs) {
    const what = [needKafka ? `Kafka ${s.versions.kafka}` : "", needEs ? `Elasticsearch ${s.versions.elasticsearch}` : ""].filter(Boolean).join(" and ");
    progress(`fetching ${what} from Maven Central (once; kept in ${s.dir})`);
    await runMaven(s, progress, { kafka: needKafka, elasticsearch: needEs });
    if (needKafka && !kafkaFetched(s, l)) {
      throw new SigilError("services_fetch_failed", `Maven finished but the Kafka libraries are not in ${l.kafkaLibs}`, { location: { file: POM_FILE } });
    }
  }
  if (which.includes("elasticsearch") && !esExtracted(l)) await extractElasticsearch(l, progress);
}

function runMaven(s: ServicesSettings, progress: Progress, need: Record<ServiceName, boolean>): Promise<void> {
  const mvn = process.env.SIGIL_SERVICES_MVN || "mvn";
  const args = [
    "-B",
    "-Dstyle.color=never",
    "-f",
    POM_FILE,
    `-Dsigil.services.dir=${s.dir}`,
    `-Dsigil.skip.kafka=${!need.kafka}`,
    `-Dsigil.skip.elasticsearch=${!need.elasticsearch}`,
    "package",
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(mvn, args, { stdio: ["ignore", "pipe", "pipe"], env: process.env });
    const lastLines: string[] = [];
    const started = Date.now();
    let lastOutput = Date.now();
    const ticker = setInterval(() => {
      if (Date.now() - lastOutput > 10_000) progress(`  still fetching (${Math.round((Date.now() - started) / 1000)} s)`);
    }, 10_000);
    let pending = "";
    const onData = (chunk: Buffer) => {
      pending += chunk.toString("utf8");
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const raw of lines) {
        const line = raw.replace(/\x1b\[[0-9;]*m/g, "").trimEnd();
        if (!line) continue;
        lastLines.push(line);
        if (lastLines.length > 40) lastLines.shift();
        // Show the artifacts that matter (the big ones), not every pom Maven resolves.
        const m = /^\[INFO\] Downloaded from [^:]+: (\S+) \(([^)]*)\)/.exec(line);
        if (m && /\.(jar|zip)$/.test(m[1])) {
          const file = m[1].slice(m[1].lastIndexOf("/") + 1);
          if (/elasticsearch|kafka|log4j|scala|zstd|jackson-databind/.test(file)) progress(`  fetched ${file} (${m[2]})`);
          lastOutput = Date.now();
        } else if (/^\[INFO\] Downloading from [^:]+: \S+elasticsearch-[\d.]+\.zip$/.test(line)) {
          progress(`  downloading the Elasticsearch distribution (about 100 MB)`);
          lastOutput = Date.now();
        }
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("error", (err) => {
      clearInterval(ticker);
      const missing = (err as NodeJS.ErrnoException).code === "ENOENT";
      reject(
        new SigilError(missing ? "services_maven_missing" : "services_fetch_failed", missing ? `Maven (${mvn}) is not installed` : `cannot run Maven: ${err.message}`, {
          hint: missing ? "install it (Debian: apt-get install -y maven) or set SIGIL_SERVICES_MVN" : undefined,
        }),
      );
    });
    child.on("close", (code) => {
      clearInterval(ticker);
      if (code === 0) {
        progress(`  fetched in ${Math.round((Date.now() - started) / 1000)} s`);
        resolve();
        return;
      }
      const errors = lastLines.filter((l) => l.startsWith("[ERROR]")).slice(0, 8);
      reject(
        new SigilError("services_fetch_failed", `Maven could not fetch the services (exit ${code}):\n${(errors.length ? errors : lastLines.slice(-10)).join("\n")}`, {
          location: { file: POM_FILE },
          hint: /Could not (resolve|transfer)|Unknown host|Connection|timed out|PKIX/i.test(lastLines.join("\n"))
            ? "check that Maven Central (https://repo.maven.apache.org) is reachable, or the proxy settings in ~/.m2/settings.xml"
            : "see Maven's errors above; run the same command with -e for details: mvn -B -f deploy/services/pom.xml package",
        }),
      );
    });
  });
}

async function extractElasticsearch(l: Layout, progress: Progress): Promise<void> {
  if (!fs.existsSync(l.esZip)) {
    throw new SigilError("services_fetch_failed", `the Elasticsearch zip is missing: ${l.esZip}`, { hint: "run `sigil services up` again to fetch it" });
  }
  progress(`  unpacking ${path.basename(l.esZip)}`);
  const tmp = `${l.esInstall}.partial`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  let r = spawnSync("unzip", ["-q", "-o", l.esZip, "-d", tmp], { stdio: ["ignore", "ignore", "pipe"] });
  if (r.error && (r.error as NodeJS.ErrnoException).code === "ENOENT") {
    // No unzip on this machine: the JDK's jar tool reads zips too (it drops file modes; fixed below).
    r = spawnSync(path.join(javaHome(), "bin", "jar"), ["xf", l.esZip], { cwd: tmp, stdio: ["ignore", "ignore", "pipe"] });
  }
  if (r.status !== 0) {
    throw new SigilError("services_fetch_failed", `cannot unpack ${l.esZip}: ${r.stderr?.toString().trim() || r.error?.message || `exit ${r.status}`}`, {
      location: { file: l.esZip },
      hint: "delete the file and run `sigil services up` again",
    });
  }
  // The zip has no top-level folder in some versions and one in others.
  const entries = fs.readdirSync(tmp);
  const root = entries.length === 1 && fs.statSync(path.join(tmp, entries[0])).isDirectory() ? path.join(tmp, entries[0]) : tmp;
  for (const f of fs.readdirSync(path.join(root, "bin"))) fs.chmodSync(path.join(root, "bin", f), 0o755);
  // Everything must be readable by the unprivileged user Elasticsearch runs as.
  chmodReadable(root);
  fs.writeFileSync(path.join(root, EXTRACTED_MARK), new Date().toISOString() + "\n");
  fs.rmSync(l.esInstall, { recursive: true, force: true });
  fs.renameSync(root, l.esInstall);
  if (root !== tmp) fs.rmSync(tmp, { recursive: true, force: true });
}

function chmodReadable(dir: string): void {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      fs.chmodSync(p, 0o755);
      chmodReadable(p);
    } else if (e.isFile()) {
      const mode = fs.statSync(p).mode & 0o777;
      fs.chmodSync(p, mode | 0o444);
    }
  }
}

let cachedJavaHome: string | null = null;

/** The JDK to run both services: $JAVA_HOME, else the `java` on PATH. Must be Java 17 or newer. */
export function javaHome(): string {
  if (cachedJavaHome) return cachedJavaHome;
  let home = process.env.SIGIL_SERVICES_JAVA_HOME || process.env.JAVA_HOME || "";
  if (!home) {
    const which = spawnSync("sh", ["-c", "command -v java"], { encoding: "utf8" });
    const bin = which.stdout.trim();
    if (!bin) {
      throw new SigilError("services_java_missing", "no Java found: Kafka and Elasticsearch need a JDK 17 or newer", {
        hint: "install one (Debian: apt-get install -y openjdk-17-jdk-headless) or set JAVA_HOME",
      });
    }
    home = path.dirname(path.dirname(fs.realpathSync(bin)));
  }
  const java = path.join(home, "bin", "java");
  const r = spawnSync(java, ["-version"], { encoding: "utf8" });
  const m = /version "(\d+)(?:\.(\d+))?/.exec(`${r.stderr}${r.stdout}`);
  const major = m ? (m[1] === "1" ? Number(m[2]) : Number(m[1])) : NaN;
  if (r.error || !(major >= 17)) {
    throw new SigilError("services_java_missing", `${java} is not a usable Java 17 or newer (${r.error?.message ?? (m ? `found ${m[0]}` : "no version")})`, {
      hint: "install OpenJDK 17 (apt-get install -y openjdk-17-jdk-headless) or point JAVA_HOME at one",
    });
  }
  cachedJavaHome = home;
  return home;
}

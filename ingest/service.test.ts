import dgram from "node:dgram";
import net from "node:net";
import { describe, expect, it } from "vitest";
import { MemoryBus } from "../platform/bus/memory.ts";
import type { Batch } from "../platform/bus/types.ts";
import { configSchema } from "../platform/config/schema.ts";
import { SigilError } from "../platform/errors.ts";
import { Health } from "../platform/telemetry/health.ts";
import { logger } from "../platform/telemetry/log.ts";
import { checkIngestConfig, ingestRole } from "./service.ts";

const verifier = { verify: async () => null };

describe("ingest role", () => {
  it("refuses bad time zones, unknown syslog formats and TLS without certificates, naming the key", () => {
    const bad = (ingest: Record<string, unknown>) => {
      try {
        checkIngestConfig(configSchema.parse({ ingest }));
        return null;
      } catch (err) {
        return [(err as SigilError).code, (err as SigilError).location?.key];
      }
    };
    expect(bad({})).toBeNull();
    expect(bad({ timezone: "Mars/Olympus" })).toEqual(["config_bad_value", "ingest.timezone"]);
    expect(bad({ syslog: { tcp: { format: "nope" } } })).toEqual(["config_bad_value", "ingest.syslog.tcp.format"]);
    expect(bad({ http: { tls: { enabled: true } } })).toEqual(["tls_missing_file", "ingest.http.tls"]);
    expect(bad({ syslog: { tls: { enabled: true } } })).toEqual(["config_bad_value", "ingest.syslog.tls.tls.enabled"]);
  });

  it("starts its listeners as named steps, reports readiness, publishes syslog and stops cleanly", async () => {
    const config = configSchema.parse({ ingest: { http: { port: 0 }, otlp: { port: 0 }, syslog: { udp: { port: 0 }, tcp: { port: 0 } }, publish: { linger_ms: 100 } } });
    const bus = new MemoryBus({ partitions: 1 });
    const health = new Health();
    const role = ingestRole({ config, bus, verifier, log: logger("test"), health });
    await role.lifecycle.start();
    const names = role.listeners().map((l) => l.name);
    expect(names).toEqual(["http", "otlp", "syslog-udp", "syslog-tcp"]);
    expect((await health.readiness()).ready).toBe(true);
    const got: string[] = [];
    const c = await bus.consumer({ groupId: "t", topics: ["events"] });
    void c.run(async (b: Batch) => {
      for (const m of b.messages) got.push(JSON.parse(m.value.toString()).message);
    });
    const udp = role.listeners().find((l) => l.name === "syslog-udp")!;
    const s = dgram.createSocket("udp4");
    await new Promise<void>((r) => s.send("<13>Oct 30 09:00:00 h app[1]: hello over udp", udp.port, "127.0.0.1", () => r()));
    s.close();
    for (let i = 0; i < 200 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(got).toEqual(["hello over udp"]);

    // an indented line from another connection never continues this connection's record
    const tcp = role.listeners().find((l) => l.name === "syslog-tcp")!;
    const dead: string[] = [];
    const d = await bus.consumer({ groupId: "d", topics: ["dlq"] });
    void d.run(async (b: Batch) => {
      for (const m of b.messages) dead.push(JSON.parse(m.value.toString()).reason.code);
    });
    const a = net.connect(tcp.port, "127.0.0.1");
    const bSock = net.connect(tcp.port, "127.0.0.1");
    await Promise.all([new Promise((r) => a.once("connect", r)), new Promise((r) => bSock.once("connect", r))]);
    a.write("<13>Oct 30 09:00:01 h app[1]: record of connection a\n");
    await new Promise((r) => setTimeout(r, 5));
    bSock.write("    indented line of connection b\n");
    a.end();
    bSock.end();
    for (let i = 0; i < 200 && (got.length < 2 || dead.length < 1); i++) await new Promise((r) => setTimeout(r, 10));
    expect(got).toContain("record of connection a");
    expect(dead).toEqual(["syslog_orphan_continuation"]);
    await d.close();
    await c.close();
    await role.lifecycle.stop();
    expect(role.listeners()).toEqual([]);
    await bus.close();
  });
});

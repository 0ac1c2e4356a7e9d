// The Kafka bus over TLS with SASL PLAIN, against the test broker's secured listener: a round trip,
// and the clear, immediate errors for a wrong password and an untrusted certificate.
import { afterAll, describe, expect, it } from "vitest";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { busSchema } from "../../platform/config/sections/bus.ts";
import { KafkaBus } from "../../platform/bus/kafka.ts";
import { SigilError } from "../../platform/errors.ts";
import { KAFKA_TLS_MISSING, testIsolation, testKafkaTls } from "../support/services.ts";
import { until } from "./contract.ts";

const tls = testKafkaTls();
const iso = testIsolation(import.meta.url);
const quiet = pino({ level: "silent" });

function secured(overrides: { password?: { file?: string | null; env?: string | null }; ca?: string | null; verify?: boolean } = {}) {
  return busSchema.parse({
    type: "kafka",
    partitions: 2,
    topic_prefix: iso.prefix,
    kafka: {
      brokers: tls!.brokers,
      startup_timeout_ms: 5000,
      session_timeout_ms: 6000,
      heartbeat_interval_ms: 500,
      max_wait_ms: 100,
      tls: { enabled: true, ca_file: overrides.ca === undefined ? tls!.caFile : overrides.ca, verify: overrides.verify ?? true },
      sasl: { mechanism: "plain", username: tls!.username, password: overrides.password ?? { file: tls!.passwordFile } },
    },
  });
}

describe.skipIf(!tls)(`kafka bus over TLS + SASL${tls ? "" : ` (skipped: ${KAFKA_TLS_MISSING})`}`, () => {
  afterAll(() => iso.cleanup());

  it("produces and consumes in a group over TLS with SASL PLAIN (password from a file)", async () => {
    const bus = await KafkaBus.connect(secured(), { logger: quiet });
    try {
      expect((await bus.health()).ok).toBe(true);
      const prod = await bus.producer();
      await prod.send("events", [{ key: "host-a", value: "over-tls" }]);
      const got: string[] = [];
      const c = await bus.consumer({ groupId: "tls", topics: ["events"] });
      await c.run(async (b) => void got.push(...b.messages.map((m) => m.value.toString())));
      await until(() => got.length === 1, 30_000, "the message");
      expect(got).toEqual(["over-tls"]);
    } finally {
      await bus.close();
    }
  });

  it("fails at once with bus_auth_failed on a wrong password (from an environment variable)", async () => {
    const t0 = Date.now();
    const err = await KafkaBus.connect(secured({ password: { env: "SIGIL_TEST_WRONG_KAFKA_PASSWORD" } }), { logger: quiet, env: { SIGIL_TEST_WRONG_KAFKA_PASSWORD: "not-the-password" } }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SigilError);
    expect((err as SigilError).code).toBe("bus_auth_failed");
    expect((err as SigilError).location?.address).toBe(tls!.brokers.join(","));
    expect(Date.now() - t0).toBeLessThan(5000); // not retried until the start-up timeout
  });

  it("fails with bus_tls_failed when the broker's certificate is not trusted", async () => {
    // A CA file that is not the broker's: the system CAs and this one do not vouch for the dev CA.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-tls-"));
    const { createDevCerts } = await import("../../platform/security/certs.ts");
    const other = await createDevCerts(dir);
    try {
      const err = await KafkaBus.connect(secured({ ca: other.caCert }), { logger: quiet }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(SigilError);
      expect((err as SigilError).code).toBe("bus_tls_failed");
      expect((err as SigilError).location?.key).toBe("bus.kafka.tls");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reports a missing password reference as a config error naming the key", async () => {
    const cfg = secured({ password: { file: null, env: null } });
    const err = await KafkaBus.connect(cfg, { logger: quiet }).then(
      () => null,
      (e: unknown) => e,
    );
    expect((err as SigilError).code).toBe("config_bad_value");
    expect((err as SigilError).location?.key).toBe("bus.kafka.sasl.password");
  });
});

import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parser } from "./index.ts";
import { defineFixtureTests, fixtureEvents } from "../fixture-test.ts";
import { getField } from "../../../schema/fields.ts";

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures");

describe("k8s-audit parser", () => {
  defineFixtureTests(parser, FIXTURES);
  const { events, rejections } = fixtureEvents(parser, FIXTURES, "audit.log");
  const byUser = (u: string) => events.find((e) => e.user?.name === u)!;

  it("maps an exec into a pod to an API call that starts a process, with user, sources and object", () => {
    const e = byUser("mallory");
    expect(e["@timestamp"]).toBe("2024-10-31T08:00:00.250Z");
    expect(e.event).toMatchObject({ dataset: "kubernetes.audit", action: "create", category: ["api", "process"], type: ["start"], outcome: "success" });
    expect(e.source?.ip).toBe("198.51.100.70");
    expect(e.related?.ip).toEqual(["198.51.100.70", "10.0.0.1"]);
    expect(e.orchestrator).toMatchObject({ type: "kubernetes", namespace: "prod", resource: { name: "web-7d9f", type: "pods" } });
    expect(getField(e, "kubernetes.audit.objectRef.subresource")).toBe("exec");
    expect(getField(e, "kubernetes.audit.annotations.authorization_k8s_io/decision")).toBe("allow");
    expect(e.url?.path).toBe("/api/v1/namespaces/prod/pods/web-7d9f/exec");
  });

  it("marks forbidden requests as failures", () => {
    expect(byUser("system:anonymous").event).toMatchObject({ outcome: "failure", type: ["creation"] });
  });

  it("splits EventLists, unwraps GKE and AKS envelopes, and rejects the rest", () => {
    expect(byUser("admin").event).toMatchObject({ action: "delete", type: ["deletion"] });
    const gke = byUser("dev@example.com");
    expect(gke.event).toMatchObject({ action: "list", outcome: "success" });
    expect(gke.orchestrator).toMatchObject({ cluster: { name: "prod-gke", id: "acme-prod" }, namespace: "default" });
    expect(gke.source?.ip).toBe("192.0.2.15");
    const aks = byUser("aks-admin");
    expect(aks.event).toMatchObject({ action: "patch", type: ["change"] });
    expect(rejections.map((r) => [r.record.line, r.code])).toEqual([
      [3, "k8s_audit_bad_timestamp"],
      [6, "k8s_audit_not_an_event"],
    ]);
  });
});

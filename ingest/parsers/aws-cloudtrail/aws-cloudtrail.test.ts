import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parser } from "./index.ts";
import { defineFixtureTests, fixtureEvents } from "../fixture-test.ts";
import { runParser } from "../conformance.ts";
import { getField } from "../../../schema/fields.ts";

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures");

describe("aws-cloudtrail parser", () => {
  defineFixtureTests(parser, FIXTURES);
  const { byLine, rejections } = fixtureEvents(parser, FIXTURES, "cloudtrail.json");

  it("maps a failed console login to a failed authentication", () => {
    const e = byLine.get(1)!;
    expect(e.event).toMatchObject({ action: "ConsoleLogin", provider: "signin.amazonaws.com", category: ["authentication"], outcome: "failure", dataset: "aws.cloudtrail" });
    expect(e.user).toEqual({ id: "AIDAEXAMPLE1", name: "alice" });
    expect(e.cloud).toEqual({ provider: "aws", account: { id: "111122223333" }, region: "us-east-1" });
    expect(e.source).toEqual({ address: "198.51.100.23", ip: "198.51.100.23" });
    expect(e.error).toEqual({ message: "Failed authentication" });
  });

  it("names an assumed role by its role, and classifies IAM changes", () => {
    const e = byLine.get(2)!;
    expect(e.user).toMatchObject({ name: "ci-deployer", changes: { name: "ci-session" } });
    expect(e.role).toEqual({ name: "ci-deployer", id: "arn:aws:iam::111122223333:role/ci-deployer" });
    expect(e.event).toMatchObject({ category: ["iam"], type: ["user", "creation"], outcome: "success" });
  });

  it("keeps the original record nested so deep Sigma paths resolve", () => {
    const e = byLine.get(3)!;
    expect(getField(e, "aws.cloudtrail.requestParameters.containerDefinitions.command")).toBeUndefined();
    const defs = getField(e, "aws.cloudtrail.requestParameters.containerDefinitions") as Array<{ command: string[] }>;
    expect(defs[0].command[2]).toContain("curl");
    expect(getField(e, "aws.cloudtrail.request_parameters.family")).toBe("web");
    expect(getField(e, "aws.cloudtrail.userIdentity.invokedBy")).toBe("ecs-tasks.amazonaws.com");
    expect(e.user?.name).toBe("ecs-tasks.amazonaws.com");
    expect(e.source).toEqual({ address: "ecs-tasks.amazonaws.com", domain: "ecs-tasks.amazonaws.com" });
    expect(e.cloud?.account).toEqual({ id: "444455556666" });
  });

  it("marks error codes as failures and derives the id from eventID", () => {
    const e = byLine.get(4)!;
    expect(e.event.outcome).toBe("failure");
    expect(e.error).toEqual({ code: "AccessDenied", message: "Access Denied" });
    expect(getField(e, "aws.cloudtrail.error_code")).toBe("AccessDenied");
    const again = runParser(parser, [JSON.stringify(JSON.parse(fixtureEvents(parser, FIXTURES, "cloudtrail.json").byLine.get(4)!.event.original!))]);
    expect(again.events[0].event.id).toBe(e.event.id);
    expect(rejections.map((r) => [r.record.line, r.code])).toEqual([
      [5, "cloudtrail_bad_timestamp"],
      [6, "cloudtrail_not_a_record"],
    ]);
  });

  it("splits {\"Records\": [...]} files and rejects the bad element alone", () => {
    const r = fixtureEvents(parser, FIXTURES, "records-file.json");
    expect(r.events.map((e) => e.event.action)).toEqual(["DeleteAccountPasswordPolicy", "DescribeInstances"]);
    expect(r.events[0].user?.name).toBe("root");
    expect(r.events[1].event.type).toEqual(["access"]);
    expect(r.rejections).toHaveLength(1);
    expect(r.rejections[0].code).toBe("cloudtrail_not_a_record");
    expect(JSON.parse(r.rejections[0].record.data).eventID).toBe("r-2");
  });
});

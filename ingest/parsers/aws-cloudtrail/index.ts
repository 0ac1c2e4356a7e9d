// AWS CloudTrail records, one per line or in a {"Records": [...]} file: action, provider, outcome, the
// identity (IAM user, assumed role, service), account, region, source address, user agent. The original
// record stays nested verbatim under aws.cloudtrail (camelCase, so deep Sigma paths such as
// requestParameters.containerDefinitions.command resolve), next to the snake_case names Elastic uses.

import type { EcsEvent, EventCategory, EventType, JsonObject, JsonValue } from "../../../schema/ecs.ts";
import { eventId } from "../../../schema/event-id.ts";
import type { Parser, RawRecord } from "../types.ts";
import { lineParser, type Mixed } from "../common/line-parser.ts";
import { finish, relate } from "../common/event.ts";
import { asObject, checkLimits, parseJson } from "../common/json.ts";
import { DEFAULT_JSON_LIMITS } from "../types.ts";
import { asIp } from "../common/net.ts";
import { parseIso, toIso, type ZoneOffset } from "../common/time.ts";

const MAX_RECORDS_PER_DOCUMENT = 100_000;

function text(v: JsonValue | undefined): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}

const AUTH_ACTIONS = new Set(["ConsoleLogin", "CheckMfa", "SwitchRole", "ExitRole", "AssumeRole", "AssumeRoleWithSAML", "AssumeRoleWithWebIdentity", "GetSessionToken", "GetFederationToken", "GetSigninToken", "PasswordRecoveryRequested", "PasswordRecoveryCompleted"]);

/** event.category/type from the API call: authentication, IAM changes, other API reads and writes. */
function classify(action: string, source: string): [EventCategory[], EventType[]] {
  if (AUTH_ACTIONS.has(action)) return [["authentication"], ["info"]];
  const verb = /^[A-Z][a-z]+/.exec(action)?.[0] ?? "";
  const iam = source === "iam.amazonaws.com" || source === "sso.amazonaws.com" || source === "identitystore.amazonaws.com";
  const target: EventType[] = iam ? (/User/.test(action) ? ["user"] : /Group/.test(action) ? ["group"] : []) : [];
  let t: EventType;
  switch (verb) {
    case "Create":
    case "Put":
    case "Run":
    case "Import":
    case "Register":
    case "Upload":
    case "Copy":
    case "Allocate":
      t = "creation";
      break;
    case "Delete":
    case "Terminate":
    case "Remove":
    case "Deregister":
    case "Release":
    case "Revoke":
    case "Detach":
      t = action.startsWith("Remove") || action.startsWith("Revoke") || action.startsWith("Detach") ? "change" : "deletion";
      break;
    case "Get":
    case "List":
    case "Describe":
    case "Head":
    case "Lookup":
    case "Search":
    case "Select":
    case "Scan":
    case "Query":
    case "Batch":
      t = iam ? "info" : "access";
      break;
    default:
      t = "change";
  }
  return [iam ? ["iam"] : ["api"], [...target, t]];
}

/** The ECS event of one CloudTrail record. */
export function cloudtrailEvent(o: JsonObject, zone: ZoneOffset): EcsEvent | { code: string; reason: string } {
  // eventTime, or the @timestamp a Logstash pipeline put in its place
  const tv = o.eventTime ?? o["@timestamp"];
  const ms = typeof tv === "string" ? parseIso(tv, zone) : NaN;
  const ts = toIso(ms);
  if (ts === null) return { code: "cloudtrail_bad_timestamp", reason: `eventTime ${JSON.stringify(tv)?.slice(0, 40)} is not an ISO 8601 time` };
  const action = text(o.eventName) ?? "unknown";
  const provider = text(o.eventSource) ?? "";
  const [category, type] = classify(action, provider);
  const ev: EcsEvent = {
    "@timestamp": ts,
    event: { id: "", kind: "event", category, type, dataset: "aws.cloudtrail", module: "aws", action, provider },
  };
  if (!provider) delete ev.event.provider;
  const errorCode = text(o.errorCode);
  const errorMessage = text(o.errorMessage);
  const resp = asObject(o.responseElements);
  const login = text(resp?.ConsoleLogin);
  if (login) ev.event.outcome = login === "Success" ? "success" : "failure";
  else ev.event.outcome = errorCode || errorMessage ? "failure" : "success";
  if (errorCode) ev.error = { code: errorCode, ...(errorMessage ? { message: errorMessage } : {}) };
  else if (errorMessage) ev.error = { message: errorMessage };

  const ui = asObject(o.userIdentity) ?? {};
  const uiType = text(ui.type);
  const session = asObject(ui.sessionContext);
  const issuer = asObject(session?.sessionIssuer);
  const user: JsonObject = {};
  const principal = text(ui.principalId);
  if (principal) user.id = principal;
  let name = text(ui.userName);
  if (!name && uiType === "AssumedRole") name = text(issuer?.userName);
  if (!name && uiType === "Root") name = "root";
  if (!name && uiType === "AWSService") name = text(ui.invokedBy);
  if (!name && uiType === "AssumedRole") name = text(ui.arn)?.split("/")[1];
  if (name) {
    user.name = name;
    if (uiType !== "AssumedRole" && uiType !== "AWSService") relate(ev, "user", name);
  }
  if (issuer && uiType === "AssumedRole") {
    const roleName = text(issuer.userName);
    const roleArn = text(issuer.arn);
    if (roleName || roleArn) ev.role = { ...(roleName ? { name: roleName } : {}), ...(roleArn ? { id: roleArn } : {}) } as JsonObject;
    const sessionName = text(ui.arn)?.split("/")[2];
    if (sessionName) user.changes = { name: sessionName };
  }
  if (Object.keys(user).length > 0) ev.user = user;

  const cloud: JsonObject = { provider: "aws" };
  const account = text(ui.accountId) ?? text(o.recipientAccountId);
  if (account) cloud.account = { id: account };
  const region = text(o.awsRegion);
  if (region) cloud.region = region;
  ev.cloud = cloud;

  const src = text(o.sourceIPAddress);
  if (src) {
    const ip = asIp(src);
    ev.source = ip ? { address: src, ip } : { address: src, domain: src };
    if (ip) relate(ev, "ip", ip);
  }
  const ua = text(o.userAgent);
  if (ua) ev.user_agent = { original: ua };

  // the record verbatim (camelCase), plus the snake_case names of Elastic's integration
  const ct: JsonObject = { ...o };
  delete ct["@timestamp"];
  delete ct["@version"];
  const ident: JsonObject = { ...ui };
  if (uiType) ident.type = uiType;
  if (text(ui.arn)) ident.arn = text(ui.arn);
  if (text(ui.accessKeyId)) ident.access_key_id = text(ui.accessKeyId);
  if (text(ui.invokedBy)) ident.invoked_by = text(ui.invokedBy);
  if (session) ident.session_context = { ...(session.attributes ? { mfa_authenticated: asObject(session.attributes)?.mfaAuthenticated, creation_date: asObject(session.attributes)?.creationDate } : {}), ...(issuer ? { session_issuer: { type: issuer.type, principal_id: issuer.principalId, arn: issuer.arn, account_id: issuer.accountId, user_name: issuer.userName } } : {}) };
  ct.user_identity = ident;
  if (errorCode) ct.error_code = errorCode;
  if (errorMessage) ct.error_message = errorMessage;
  if (text(o.eventType)) ct.event_type = text(o.eventType);
  if (text(o.eventVersion)) ct.event_version = text(o.eventVersion);
  if (text(o.eventCategory)) ct.event_category = text(o.eventCategory);
  if (text(o.eventID)) ct.event_id = text(o.eventID);
  if (text(o.requestID)) ct.request_id = text(o.requestID);
  if (text(o.recipientAccountId)) ct.recipient_account_id = text(o.recipientAccountId);
  if (o.requestParameters !== undefined && o.requestParameters !== null) ct.request_parameters = o.requestParameters;
  if (o.responseElements !== undefined && o.responseElements !== null) ct.response_elements = o.responseElements;
  if (o.additionalEventData !== undefined && o.additionalEventData !== null) ct.additional_eventdata = o.additionalEventData;
  ev.aws = { cloudtrail: ct };
  return ev;
}

function isCloudTrail(o: JsonObject): boolean {
  return typeof o.eventName === "string" && typeof o.eventSource === "string";
}

function finishRecord(ev: EcsEvent, o: JsonObject, rec: RawRecord, raw: string): EcsEvent {
  finish(ev, rec, raw, true);
  // CloudTrail's eventID is globally unique: the same API call delivered twice (S3 and EventBridge) dedupes
  const id = text(o.eventID);
  if (id) ev.event.id = eventId("aws.cloudtrail", id, "cloudtrail");
  return ev;
}

export const parser: Parser = lineParser({
  name: "aws-cloudtrail",
  description: "AWS CloudTrail records (one JSON record per line, or {\"Records\": [...]} files); original kept under aws.cloudtrail",
  detect(sample) {
    if (!/^\s*[[{]/.test(sample)) return 0;
    if (sample.includes('"eventSource"') && sample.includes('"eventName"') && (sample.includes('"eventTime"') || sample.includes('"awsRegion"') || sample.includes('"eventID"'))) return 0.97;
    if (/^\s*\{\s*"Records"\s*:/.test(sample)) return 0.8;
    return 0;
  },
  parse(rec, env) {
    const limits = env.ctx.jsonLimits ?? DEFAULT_JSON_LIMITS;
    const r = parseJson(rec.data, limits, true);
    if (!r.ok) return r;
    const v = r.value;
    const wrapped = asObject(v)?.Records;
    const list = Array.isArray(wrapped) ? wrapped : Array.isArray(v) ? v : [v];
    if (list.length === 0) return { code: "cloudtrail_no_records", reason: "the document holds no CloudTrail records" };
    if (list.length > MAX_RECORDS_PER_DOCUMENT) return { code: "cloudtrail_too_many_records", reason: `document holds ${list.length} records, more than ${MAX_RECORDS_PER_DOCUMENT}` };
    const single = list.length === 1 && !Array.isArray(wrapped) && !Array.isArray(v);
    const out: Mixed = { events: [], rejected: [] };
    for (let i = 0; i < list.length; i++) {
      const o = asObject(list[i]);
      const data = single ? undefined : JSON.stringify(list[i]);
      const tooBig = o ? checkLimits(o, limits) : null;
      if (tooBig) {
        out.rejected.push({ code: tooBig.code, reason: single ? tooBig.reason : `element ${i}: ${tooBig.reason}`, data });
        continue;
      }
      if (!o || !isCloudTrail(o)) {
        out.rejected.push({ code: "cloudtrail_not_a_record", reason: `${single ? "JSON" : `element ${i}`} has no eventName/eventSource/eventTime: not a CloudTrail record`, data });
        continue;
      }
      const ev = cloudtrailEvent(o, env.zone);
      if (!("event" in ev)) {
        out.rejected.push({ code: ev.code, reason: single ? ev.reason : `element ${i}: ${ev.reason}`, data });
        continue;
      }
      out.events.push(finishRecord(ev, o, rec, data ?? rec.data));
    }
    return out;
  },
});

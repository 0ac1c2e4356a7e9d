// ATT&CK tactics in kill-chain order, and reading tactics and techniques off signals (ECS threat.*
// fields or Sigma `attack.*` tags), so chain steps can be ordered by how an intrusion progresses.

import type { Signal } from "../../schema/signal.ts";

/** Enterprise ATT&CK tactics, in the order an intrusion usually moves through them. */
export const TACTICS = [
  { id: "TA0043", name: "reconnaissance" },
  { id: "TA0042", name: "resource-development" },
  { id: "TA0001", name: "initial-access" },
  { id: "TA0002", name: "execution" },
  { id: "TA0003", name: "persistence" },
  { id: "TA0004", name: "privilege-escalation" },
  { id: "TA0005", name: "defense-evasion" },
  { id: "TA0006", name: "credential-access" },
  { id: "TA0007", name: "discovery" },
  { id: "TA0008", name: "lateral-movement" },
  { id: "TA0009", name: "collection" },
  { id: "TA0011", name: "command-and-control" },
  { id: "TA0010", name: "exfiltration" },
  { id: "TA0040", name: "impact" },
] as const;

const RANK = new Map<string, number>();
TACTICS.forEach((t, i) => {
  RANK.set(t.name, i);
  RANK.set(t.id.toLowerCase(), i);
});
const BY_ID = new Map<string, string>(TACTICS.map((t) => [t.id.toLowerCase(), t.name]));

/** "Credential Access", "credential_access", "attack.credential-access", "TA0006" → "credential-access". */
export function normalizeTactic(raw: string): string | null {
  let s = raw.trim().toLowerCase();
  if (s.startsWith("attack.")) s = s.slice(7);
  const byId = BY_ID.get(s);
  if (byId) return byId;
  s = s.replace(/[\s_]+/g, "-");
  return RANK.has(s) ? s : null;
}

/** Position of a tactic in the kill chain (unknown tactics sort last). */
export function tacticRank(name: string | undefined): number {
  if (!name) return TACTICS.length;
  return RANK.get(name) ?? TACTICS.length;
}

/** "attack.t1059.001", "t1059.001", "T1059.001" → "T1059.001". */
export function normalizeTechnique(raw: string): string | null {
  let s = raw.trim().toLowerCase();
  if (s.startsWith("attack.")) s = s.slice(7);
  return /^t\d{4}(\.\d{3})?$/.test(s) ? s.toUpperCase() : null;
}

/** Tactics (kill-chain order) and techniques of a signal, from threat.* or the rule's tags. */
export function signalAttack(s: Signal): { tactics: string[]; techniques: string[] } {
  const tactics = new Set<string>();
  const techniques = new Set<string>();
  const th = s.threat;
  if (th) {
    for (const n of th.tactic?.name ?? []) {
      const t = normalizeTactic(n);
      if (t) tactics.add(t);
    }
    for (const id of th.tactic?.id ?? []) {
      const t = normalizeTactic(id);
      if (t) tactics.add(t);
    }
    for (const id of th.technique?.id ?? []) {
      const t = normalizeTechnique(id);
      if (t) techniques.add(t);
    }
  }
  for (const tag of s.rule?.tags ?? []) {
    if (typeof tag !== "string" || !tag.toLowerCase().startsWith("attack.")) continue;
    const tech = normalizeTechnique(tag);
    if (tech) techniques.add(tech);
    else {
      const t = normalizeTactic(tag);
      if (t) tactics.add(t);
    }
  }
  return { tactics: [...tactics].sort((a, b) => tacticRank(a) - tacticRank(b)), techniques: [...techniques].sort() };
}

/** Sorts tactic names in kill-chain order. */
export function sortTactics(names: Iterable<string>): string[] {
  return [...new Set(names)].sort((a, b) => tacticRank(a) - tacticRank(b));
}

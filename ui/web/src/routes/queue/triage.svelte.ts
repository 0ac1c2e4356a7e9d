// Triage from the browser: the change shows at once (optimistic), the server's answer replaces it
// (confirmed), and a change another analyst made meanwhile comes back as a conflict instead of being
// overwritten. The base sent with each change is the alert as this analyst last saw it.

import { postJson } from "../../lib/api.ts";
import { live } from "../../lib/live.svelte.ts";
import { summarizeAlert } from "../../../../shared/alert-filter.ts";
import type { Alert, AlertStatus } from "../../../../../schema/signal.ts";

export const CLOSE_REASONS = [
  { value: "true_positive", label: "True positive" },
  { value: "benign_positive", label: "Benign positive (expected activity)" },
  { value: "false_positive", label: "False positive" },
  { value: "duplicate", label: "Duplicate" },
] as const;

export interface TriageChange {
  status?: AlertStatus;
  close_reason?: string | null;
  assignee?: string | null;
  note?: string;
}

export interface Conflict {
  field: "status" | "assignee";
  base: string | null;
  yours: string | null;
  theirs: string | null;
}

export interface TriageResult {
  alert: Alert;
  applied: string[];
  conflicts: Conflict[];
}

export interface Overlay {
  status?: AlertStatus;
  close_reason?: string | null;
  assignee?: string | null;
}

class TriageState {
  /** Changes sent but not yet confirmed, by alert id: the queue shows them with a "saving" mark. */
  pending = $state<Record<string, Overlay>>({});

  async send(base: Alert, change: TriageChange, force = false): Promise<TriageResult> {
    const overlay: Overlay = {};
    if (change.status !== undefined) overlay.status = change.status;
    if (change.close_reason !== undefined) overlay.close_reason = change.close_reason;
    if (change.assignee !== undefined) overlay.assignee = change.assignee;
    if (Object.keys(overlay).length) this.pending[base.id] = overlay;
    const baseValues: Record<string, unknown> = {};
    if (change.status !== undefined) {
      baseValues["status"] = base.status;
      baseValues["close_reason"] = base.close_reason ?? null;
    }
    if (change.assignee !== undefined) baseValues["assignee"] = base.assignee ?? null;
    try {
      const res = await postJson<TriageResult>(`/api/alerts/${encodeURIComponent(base.id)}/triage`, {
        base_version: base.version,
        base: baseValues,
        change,
        ...(force ? { force: true } : {}),
      });
      live.apply(summarizeAlert(res.alert));
      return res;
    } finally {
      delete this.pending[base.id];
    }
  }
}

export const triage = new TriageState();

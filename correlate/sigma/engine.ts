// The Sigma engine as other parts use it: compile rule directories into a plan, evaluate events
// against the current plan, swap in a new plan atomically when rules change (watchRules), and report
// every match (rule, event, input line) through a callback.

import fs from "node:fs";
import path from "node:path";
import { SigilError, UsageError, formatProblem, type Problem } from "../../platform/errors.ts";
import { loadRules } from "./loader.ts";
import { BUILTIN_PIPELINE_DIR, loadPipelines, logsourceRouted, type Pipeline } from "./pipeline.ts";
import { buildPlan, type Plan, type RuleInfo } from "./plan.ts";
import type { LoadedRules } from "./types.ts";

export interface CompileOptions {
  /** Pipeline names (rules/pipelines/<name>.yml) or paths; "all" (default) = every built-in pipeline. */
  pipelines?: string[] | "all";
  /** Extra folders searched for pipeline names. */
  pipelineDirs?: string[];
  placeholders?: Record<string, string[]>;
}

export interface Compiled {
  plan: Plan;
  loaded: LoadedRules;
  pipelines: Pipeline[];
  /** Problems of the rule files (errors and warnings), plus routing warnings. */
  problems: Problem[];
}

/** Warnings for rules whose logsource no pipeline route produces (they only see events tagged by sigil.logsource). */
export function routingProblems(loaded: LoadedRules, pipelines: Pipeline[]): Problem[] {
  const out: Problem[] = [];
  const seen = new Set<string>();
  for (const r of loaded.rules) {
    const key = `${r.logsource.category ?? ""}/${r.logsource.product ?? ""}/${r.logsource.service ?? ""}`;
    if (logsourceRouted(r.logsource, pipelines)) continue;
    out.push({
      code: "logsource_unrouted",
      message: `no pipeline route produces events for logsource ${key}; the rule only sees events that carry sigil.logsource ${key}`,
      severity: "warning",
      location: { file: r.file, line: r.line, column: 1 },
      hint: seen.has(key) ? undefined : "add a route to a pipeline in rules/pipelines/, or tag events with sigil.logsource",
    });
    seen.add(key);
  }
  return out;
}

/** Loads, validates and compiles rules (engine mode: any rule error is fatal, as a SigilError listing them all). */
export function compileRuleDirs(dirs: string[], opts: CompileOptions = {}): Compiled {
  const loaded = loadRules(dirs, { placeholders: opts.placeholders });
  const errors = loaded.problems.filter((p) => p.severity === "error");
  if (errors.length) {
    const shown = errors.slice(0, 20).map(formatProblem).join("\n");
    const more = errors.length > 20 ? `\n... and ${errors.length - 20} more` : "";
    const err = new UsageError(errors[0].code, `${errors.length} error(s) in ${loaded.failedFiles.size} rule file(s):\n${shown}${more}`, { location: errors[0].location, hint: "run `sigil rules lint` for every problem with its position" });
    (err as SigilError & { problems?: Problem[] }).problems = loaded.problems;
    throw err;
  }
  const pipelines = loadPipelines(opts.pipelines ?? "all", [...(opts.pipelineDirs ?? []), BUILTIN_PIPELINE_DIR]);
  const plan = buildPlan(loaded, pipelines);
  return { plan, loaded, pipelines, problems: [...loaded.problems, ...routingProblems(loaded, pipelines)] };
}

/** What a match reports: the rule, the normalized event, and where the event came from. */
export interface SigmaMatch {
  rule: RuleInfo;
  event: Record<string, unknown>;
  /** 1-based index (or line) of the input record, when the caller knows it. */
  line?: number;
}

/**
 * Holds the current plan. `match` evaluates one event against the plan that is current when the call
 * starts (a swap during a batch never splits an event between two plans); `swap` replaces it atomically.
 */
export class SigmaEngine {
  private current: Plan;
  private generation = 0;

  constructor(plan: Plan) {
    this.current = plan;
  }

  get plan(): Plan {
    return this.current;
  }

  /** Number of swaps so far. */
  get version(): number {
    return this.generation;
  }

  swap(plan: Plan): void {
    this.current = plan;
    this.generation++;
  }

  /** Evaluates one event; returns the number of matches. */
  match(event: Record<string, unknown>, onMatch: (m: SigmaMatch) => void, line?: number): number {
    const plan = this.current;
    return plan.match(event, (rule, ev) => onMatch({ rule, event: ev, line }));
  }

  /** Evaluates a batch against one plan snapshot (a swap takes effect at the next batch). */
  matchBatch(events: Record<string, unknown>[], onMatch: (m: SigmaMatch) => void, firstLine?: number): number {
    const plan = this.current;
    let n = 0;
    events.forEach((ev, i) => {
      n += plan.match(ev, (rule, e) => onMatch({ rule, event: e, line: firstLine === undefined ? undefined : firstLine + i }));
    });
    return n;
  }
}

export interface WatchOptions extends CompileOptions {
  /** Quiet time after the last change before recompiling. */
  debounceMs?: number;
  /** Called with the new plan after a successful rebuild (after the swap). */
  onSwap?: (c: Compiled) => void;
  /** Called when a rebuild fails; the previous plan stays in use. */
  onError?: (err: unknown) => void;
}

export interface RuleWatcher {
  /** Rebuild now (also what a file change triggers). Resolves when done; never rejects. */
  reload(): Promise<boolean>;
  close(): void;
}

/**
 * Watches rule directories (and pipeline files) and swaps a freshly compiled plan into `engine` when
 * they change. Events keep flowing on the old plan during the rebuild; a failed rebuild keeps it.
 */
export function watchRules(engine: SigmaEngine, dirs: string[], opts: WatchOptions = {}): RuleWatcher {
  const debounce = opts.debounceMs ?? 250;
  let timer: NodeJS.Timeout | null = null;
  let closed = false;
  let running: Promise<boolean> | null = null;
  let again = false;
  const reload = async (): Promise<boolean> => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      let ok = false;
      do {
        again = false;
        try {
          const c = compileRuleDirs(dirs, opts);
          if (closed) return false;
          engine.swap(c.plan);
          ok = true;
          opts.onSwap?.(c);
        } catch (err) {
          ok = false;
          opts.onError?.(err);
        }
      } while (again && !closed);
      return ok;
    })().finally(() => {
      running = null;
    });
    return running;
  };
  const schedule = (_ev: string, file: string | Buffer | null) => {
    if (closed) return;
    const name = file ? String(file) : "";
    if (name && !/\.ya?ml$/.test(name) && !name.includes(path.sep) && name.includes(".")) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      void reload();
    }, debounce);
  };
  const watchers: fs.FSWatcher[] = [];
  const targets = [...dirs, BUILTIN_PIPELINE_DIR, ...(opts.pipelineDirs ?? [])];
  for (const d of targets) {
    try {
      watchers.push(fs.watch(d, { recursive: true }, schedule));
    } catch (err) {
      opts.onError?.(new SigilError("rules_watch_failed", `cannot watch ${d}: ${(err as Error).message}`, { location: { file: d }, hint: "rules still load at start; restart to pick up changes" }));
    }
  }
  return {
    reload,
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      for (const w of watchers) w.close();
    },
  };
}

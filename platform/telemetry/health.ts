// Liveness and readiness of a process's roles: each role registers named checks; /readyz is ready when
// every check passes (connected to bus and store, caught up within a bound), /healthz when the process runs.

export interface CheckResult {
  ok: boolean;
  detail: string;
}

export type Check = () => Promise<CheckResult> | CheckResult;

export class Health {
  private readonly checks = new Map<string, Check>();
  private draining = false;

  /** Registers a readiness check, e.g. "correlate.bus", "ingest.store", "correlate.lag". */
  register(name: string, check: Check): void {
    this.checks.set(name, check);
  }

  unregister(name: string): void {
    this.checks.delete(name);
  }

  /** Marks the process as shutting down: readiness fails so load balancers stop sending work. */
  drain(): void {
    this.draining = true;
  }

  async readiness(timeoutMs = 2000): Promise<{ ready: boolean; checks: Record<string, CheckResult> }> {
    const out: Record<string, CheckResult> = {};
    await Promise.all(
      [...this.checks].map(async ([name, check]) => {
        try {
          out[name] = await Promise.race([
            Promise.resolve(check()),
            new Promise<CheckResult>((resolve) => setTimeout(() => resolve({ ok: false, detail: `check timed out after ${timeoutMs} ms` }), timeoutMs).unref()),
          ]);
        } catch (err) {
          out[name] = { ok: false, detail: (err as Error).message };
        }
      }),
    );
    if (this.draining) out["process"] = { ok: false, detail: "shutting down" };
    return { ready: Object.values(out).every((c) => c.ok), checks: out };
  }
}

/** The process-wide health registry. */
export const health = new Health();

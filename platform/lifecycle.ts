// Start-up is a list of named steps with a matching teardown list, so every role starts and stops
// the same way and a failed step says which. Teardown runs in reverse and finishes in-flight work.

import { SigilError, describeError } from "./errors.ts";
import type { Logger } from "./telemetry/log.ts";

export interface Step {
  name: string;
  start(): Promise<void> | void;
  /** Undo what start did; called in reverse order on shutdown or when a later step fails. */
  stop?(): Promise<void> | void;
}

export class Lifecycle {
  private readonly steps: Step[] = [];
  private started: Step[] = [];

  constructor(readonly role: string, private readonly log?: Logger) {}

  add(step: Step): this {
    this.steps.push(step);
    return this;
  }

  async start(): Promise<void> {
    for (const step of this.steps) {
      try {
        await step.start();
        this.started.push(step);
        this.log?.debug({ step: step.name }, "step started");
      } catch (err) {
        await this.stop();
        const inner = err instanceof SigilError ? err : null;
        throw new SigilError(inner?.code ?? "startup_failed", `${this.role}: start-up step "${step.name}" failed: ${describeError(err)}`, {
          cause: err,
          location: inner?.location,
          hint: inner?.hint,
          exitCode: inner?.exitCode ?? 1,
        });
      }
    }
  }

  /** Stops started steps in reverse; each gets `timeoutMs` before we move on. */
  async stop(timeoutMs = 30_000): Promise<void> {
    const todo = this.started.reverse();
    this.started = [];
    for (const step of todo) {
      if (!step.stop) continue;
      try {
        await Promise.race([
          Promise.resolve(step.stop()),
          new Promise((_, rej) => setTimeout(() => rej(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs).unref()),
        ]);
      } catch (err) {
        this.log?.warn({ step: step.name, err: describeError(err) }, "step failed to stop cleanly");
      }
    }
  }
}

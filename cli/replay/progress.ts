// A progress bar on stderr for long inputs: bytes read of the total, events and events/s. On a TTY it
// redraws one line; otherwise it prints a line every ten seconds, and nothing for short runs.

import type { Writable } from "node:stream";

export class Progress {
  private read = 0;
  private count = 0;
  private last = 0;
  private readonly start = Date.now();
  private readonly tty: boolean;
  private readonly on: boolean;
  private drawn = false;

  constructor(private readonly out: Writable, private readonly total: number, mode: boolean | "auto") {
    this.tty = Boolean((out as Writable & { isTTY?: boolean }).isTTY);
    this.on = mode === true || (mode === "auto" && this.tty);
  }

  bytes(n: number): void {
    this.read += n;
  }

  events(n: number): void {
    this.count += n;
    if (!this.on) return;
    const now = Date.now();
    const every = this.tty ? 200 : 10_000;
    if (now - this.last < every) return;
    this.last = now;
    this.draw(now);
  }

  private draw(now: number): void {
    const frac = this.total > 0 ? Math.min(1, this.read / this.total) : 0;
    const width = 30;
    const full = Math.round(frac * width);
    const secs = Math.max(0.001, (now - this.start) / 1000);
    const rate = Math.round(this.count / secs);
    const line = `replay [${"#".repeat(full)}${".".repeat(width - full)}] ${(frac * 100).toFixed(0).padStart(3)}% ${mb(this.read)}/${mb(this.total)} ${this.count.toLocaleString("en-US")} events ${rate.toLocaleString("en-US")}/s`;
    if (this.tty) this.out.write(`\r${line}\x1b[K`);
    else this.out.write(line + "\n");
    this.drawn = true;
  }

  done(): void {
    if (this.on && this.drawn) {
      this.draw(Date.now());
      if (this.tty) this.out.write("\n");
    }
  }
}

function mb(n: number): string {
  return `${(n / 1048576).toFixed(1)} MB`;
}

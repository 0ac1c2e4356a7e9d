// A steady, checkable load for the chaos suite: sshd log lines appended to the file the agent tails,
// each with a unique sequence number (the syslog PROCID, so it lands in process.pid), plus password
// guessing attacks (five failures, then a password login, from an address and on a host of their own)
// that the rule pack turns into one correlation hit and one alert each, and decoys (two failures from an
// address of their own) that must never become a hit: a redelivered failure counted twice would.

import fs from "node:fs";

export interface Attack {
  k: number;
  host: string;
  ip: string;
  user: string;
  /** Sequence numbers of its six lines. */
  seqs: number[];
}

/** The correlation rule the attacks trigger (rules/correlation/linux/credential-access_ssh_brute_force_then_success.yml). */
export const BRUTE_FORCE_RULE = "ssh_brute_force_then_success";

export interface Decoy {
  k: number;
  ip: string;
  seqs: number[];
}

export class LoadGenerator {
  /** The last sequence number written (lines 1..seq are in the file). */
  seq = 0;
  readonly attacks: Attack[] = [];
  readonly decoys: Decoy[] = [];
  private timer: NodeJS.Timeout | null = null;
  private lastAttack = 0;
  private carry = 0;
  private lastTick = 0;

  constructor(
    readonly file: string,
    readonly opts: { linesPerSecond: number; attackEveryMs: number; hosts?: number },
  ) {}

  private line(ts: number, host: string, msg: string): string {
    this.seq++;
    return `<86>1 ${new Date(ts).toISOString()} ${host} sshd ${this.seq} - - ${msg}\n`;
  }

  /** Background lines: key logins of a fixed set of users, each always from the same address. */
  private background(n: number): string {
    const now = Date.now();
    const hosts = this.opts.hosts ?? 8;
    let out = "";
    for (let i = 0; i < n; i++) {
      const u = (this.seq + 1) % 40;
      out += this.line(now, `app-${(this.seq + 1) % hosts}`, `Accepted publickey for svc${u} from 10.20.0.${u + 1} port 22 ssh2`);
    }
    return out;
  }

  /** One attack: five failed passwords, then a password login, all within the last few seconds. */
  private attack(): string {
    const k = this.attacks.length + 1;
    const a: Attack = { k, host: `target-${k}`, ip: `203.0.113.${k % 250}`, user: `deploy${k}`, seqs: [] };
    if (k >= 250) a.ip = `198.51.100.${k % 250}`;
    const now = Date.now();
    let out = "";
    for (let i = 0; i < 5; i++) {
      out += this.line(now - 5000 + i * 1000, a.host, `Failed password for ${a.user} from ${a.ip} port ${40000 + i} ssh2`);
      a.seqs.push(this.seq);
    }
    out += this.line(now, a.host, `Accepted password for ${a.user} from ${a.ip} port 40010 ssh2`);
    a.seqs.push(this.seq);
    this.attacks.push(a);
    // a decoy: two typos from another address, far below the rule's five failures
    const d: Decoy = { k, ip: `198.18.${k >> 8}.${k & 255}`, seqs: [] };
    for (let i = 0; i < 2; i++) {
      out += this.line(now - 2000 + i * 1000, `decoy-${k}`, `Failed password for intern${k} from ${d.ip} port ${41000 + i} ssh2`);
      d.seqs.push(this.seq);
    }
    this.decoys.push(d);
    return out;
  }

  /** Appends `n` background lines at once (filling the agent's buffer). */
  burst(n: number): void {
    fs.appendFileSync(this.file, this.background(n));
  }

  start(): void {
    if (this.timer) return;
    this.lastTick = Date.now();
    this.lastAttack = Date.now();
    this.timer = setInterval(() => this.tick(), 100);
  }

  private tick(): void {
    const now = Date.now();
    this.carry += ((now - this.lastTick) / 1000) * this.opts.linesPerSecond;
    this.lastTick = now;
    const n = Math.floor(this.carry);
    this.carry -= n;
    let out = this.background(n);
    if (now - this.lastAttack >= this.opts.attackEveryMs) {
      this.lastAttack = now;
      out += this.attack();
    }
    if (out) fs.appendFileSync(this.file, out);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

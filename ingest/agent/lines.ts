// Turns a byte stream into records: splits lines, joins multiline events by pattern, and cuts lines
// longer than the limit (keeping the head and flagging it). Offsets are exact byte positions, so a
// record's end is where a restart resumes. Allocation-light: one string per emitted record.

import type { MultilineConfig } from "./config.ts";

/** Receives one record: its text, the byte offset where it starts, where it ends (after its newline), and whether it was cut. */
export type RecordSink = (text: string, start: number, end: number, truncated: boolean) => void;

const NL = 0x0a;
const CR = 0x0d;

/** The largest prefix of `buf[start, start+max)` that does not split a UTF-8 character. */
function utf8Cut(buf: Buffer, start: number, max: number): number {
  let end = start + max;
  // Back off over continuation bytes (10xxxxxx) to the start of the character that would be split.
  let back = 0;
  while (back < 4 && end > start && (buf[end] & 0xc0) === 0x80) {
    end--;
    back++;
  }
  return end;
}

interface PendingEvent {
  text: string;
  start: number;
  end: number;
  lines: number;
  bytes: number;
  truncated: boolean;
}

export class LineSplitter {
  private readonly maxBytes: number;
  private readonly ml: { re: RegExp; continueOnMatch: boolean; maxLines: number; timeoutMs: number } | null;
  /** Bytes of the line being assembled across chunks (at most maxBytes are kept). */
  private carry: Buffer;
  private carryLen = 0;
  /** Offset where the line being assembled starts. */
  private lineStart: number;
  /** True after the current line passed maxBytes: the rest up to the newline is skipped. */
  private overflow = false;
  private pending: PendingEvent | null = null;
  private pendingSince = 0;
  /** Next byte offset expected by push(). */
  private pos: number;
  /** Lines cut because they were too long (for metrics). */
  truncatedCount = 0;
  /** Records emitted so far (for metrics). */
  emitted = 0;

  constructor(
    private readonly sink: RecordSink,
    opts: { maxLineBytes: number; multiline: MultilineConfig | null; startOffset: number },
  ) {
    this.maxBytes = opts.maxLineBytes;
    this.carry = Buffer.allocUnsafe(Math.min(opts.maxLineBytes, 64 * 1024));
    this.lineStart = opts.startOffset;
    this.pos = opts.startOffset;
    const m = opts.multiline;
    this.ml = m ? { re: new RegExp(m.pattern), continueOnMatch: m.match === "continue", maxLines: m.max_lines, timeoutMs: m.timeout_ms } : null;
  }

  private emit(text: string, start: number, end: number, truncated: boolean): void {
    this.emitted++;
    this.sink(text, start, end, truncated);
  }

  /** The byte offset after everything pushed so far. */
  get offset(): number {
    return this.pos;
  }

  /** Offset of the first byte not yet part of an emitted record (where a restart would resume). */
  get emittedUpTo(): number {
    return this.pending ? this.pending.start : this.lineStart;
  }

  /** True when a partial line or an unfinished multiline event is held. */
  get holding(): boolean {
    return this.pending !== null || this.carryLen > 0 || this.overflow;
  }

  /** Feeds bytes buf[0, len) that sit at the current offset of the stream. */
  push(buf: Buffer, len: number = buf.length, now = 0): void {
    let i = 0;
    const base = this.pos;
    while (i < len) {
      const nl = buf.indexOf(NL, i);
      if (nl < 0 || nl >= len) {
        this.hold(buf, i, len);
        break;
      }
      const lineEnd = base + nl + 1;
      if (this.carryLen === 0 && !this.overflow) {
        let e = nl;
        if (e > i && buf[e - 1] === CR) e--;
        if (e - i > this.maxBytes) {
          const cut = utf8Cut(buf, i, this.maxBytes);
          this.truncatedCount++;
          this.line(buf.toString("utf8", i, cut), this.lineStart, lineEnd, true, now);
        } else this.line(buf.toString("utf8", i, e), this.lineStart, lineEnd, false, now);
      } else {
        if (!this.overflow) this.hold(buf, i, nl);
        let text: string;
        let truncated = this.overflow;
        if (truncated) {
          text = this.carry.toString("utf8", 0, this.carryLen);
        } else {
          let e = this.carryLen;
          if (e > 0 && this.carry[e - 1] === CR) e--;
          text = this.carry.toString("utf8", 0, e);
          truncated = false;
        }
        if (truncated) this.truncatedCount++;
        this.line(text, this.lineStart, lineEnd, truncated, now);
        this.carryLen = 0;
        this.overflow = false;
      }
      this.lineStart = lineEnd;
      i = nl + 1;
    }
    this.pos = base + len;
  }

  /** Keeps bytes of an unfinished line; past maxBytes it keeps the head and skips the rest. */
  private hold(buf: Buffer, from: number, to: number): void {
    if (this.overflow) return;
    const n = to - from;
    if (this.carryLen + n > this.maxBytes) {
      const room = this.maxBytes - this.carryLen;
      this.ensure(this.maxBytes);
      const cut = utf8Cut(buf, from, room);
      buf.copy(this.carry, this.carryLen, from, cut);
      this.carryLen += cut - from;
      this.overflow = true;
      return;
    }
    this.ensure(this.carryLen + n);
    buf.copy(this.carry, this.carryLen, from, to);
    this.carryLen += n;
  }

  private ensure(size: number): void {
    if (this.carry.length >= size) return;
    const next = Buffer.allocUnsafe(Math.min(this.maxBytes, Math.max(size, this.carry.length * 2)));
    this.carry.copy(next, 0, 0, this.carryLen);
    this.carry = next;
  }

  /** One complete physical line: empty lines are skipped; multiline joining happens here. */
  private line(text: string, start: number, end: number, truncated: boolean, now: number): void {
    const ml = this.ml;
    if (!ml) {
      if (text.length > 0) this.emit(text, start, end, truncated);
      return;
    }
    const matches = ml.re.test(text);
    const continues = ml.continueOnMatch ? matches : !matches;
    const p = this.pending;
    if (p && continues && p.lines < ml.maxLines) {
      p.end = end;
      p.lines++;
      if (!p.truncated) {
        const add = Buffer.byteLength(text) + 1;
        if (p.bytes + add > this.maxBytes) {
          p.truncated = true;
          this.truncatedCount++;
        } else {
          p.text += "\n" + text;
          p.bytes += add;
        }
      }
      if (truncated && !p.truncated) {
        p.truncated = true;
      }
      this.pendingSince = now;
      return;
    }
    if (p) this.emitPending();
    if (text.length === 0 && !continues) {
      // A blank line that cannot start an event: emit nothing, but it still counts as read.
      return;
    }
    this.pending = { text, start, end, lines: 1, bytes: Buffer.byteLength(text), truncated };
    this.pendingSince = now;
  }

  private emitPending(): void {
    const p = this.pending;
    if (!p) return;
    this.pending = null;
    if (p.text.length > 0 || p.lines > 1) this.emit(p.text, p.start, p.end, p.truncated);
  }

  /** Emits a multiline event that has seen no new line for its timeout. Returns true if it emitted. */
  flushIdle(now: number): boolean {
    if (!this.ml || !this.pending) return false;
    if (now - this.pendingSince < this.ml.timeoutMs) return false;
    this.emitPending();
    return true;
  }

  /**
   * End of the stream (a finished file or stdin closed): emits the held multiline event and a final
   * line without a newline, which then ends at the current offset.
   */
  finish(): void {
    if (this.carryLen > 0 || this.overflow) {
      let e = this.carryLen;
      if (!this.overflow && e > 0 && this.carry[e - 1] === CR) e--;
      const text = this.carry.toString("utf8", 0, e);
      const truncated = this.overflow;
      if (truncated) this.truncatedCount++;
      this.carryLen = 0;
      this.overflow = false;
      const start = this.lineStart;
      this.lineStart = this.pos;
      this.line(text, start, this.pos, truncated, 0);
    }
    this.emitPending();
  }
}

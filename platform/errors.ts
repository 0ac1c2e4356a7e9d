// The error model every part of Sigil uses: a stable snake_case code, a location, and a way out.
// Tests assert codes and positions, never wording.

/** Where a problem is: a file and position, a source and byte offset, or an address. */
export interface Location {
  file?: string;
  line?: number; // 1-based
  column?: number; // 1-based
  offset?: number; // byte offset in a stream or file
  source?: string; // e.g. "syslog-udp 10.0.0.4:514", "http 127.0.0.1"
  key?: string; // a config key path or field path, e.g. "bus.kafka.brokers"
  address?: string; // a network address, e.g. "127.0.0.1:9092"
}

export type Severity = "error" | "warning";

/** A problem as data: what lint and config checks collect and report all at once. */
export interface Problem {
  code: string;
  message: string;
  severity: Severity;
  location?: Location;
  hint?: string;
}

/** An error with a stable code, an optional location and a hint that tells the user what to do. */
export class SigilError extends Error {
  readonly code: string;
  readonly location?: Location;
  readonly hint?: string;
  /** Process exit code the CLI uses when this error ends a command: 1 failure, 2 bad usage or input. */
  readonly exitCode: 1 | 2;

  constructor(code: string, message: string, opts: { location?: Location; hint?: string; cause?: unknown; exitCode?: 1 | 2 } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = "SigilError";
    this.code = code;
    this.location = opts.location;
    this.hint = opts.hint;
    this.exitCode = opts.exitCode ?? 1;
  }

  toProblem(): Problem {
    return { code: this.code, message: this.message, severity: "error", location: this.location, hint: this.hint };
  }
}

/** Errors caused by what the user gave us (bad flags, bad config, bad rule file): exit code 2. */
export class UsageError extends SigilError {
  constructor(code: string, message: string, opts: { location?: Location; hint?: string; cause?: unknown } = {}) {
    super(code, message, { ...opts, exitCode: 2 });
    this.name = "UsageError";
  }
}

/** "file:line:column" or "source@offset", whichever the location has. */
export function formatLocation(loc: Location | undefined): string {
  if (!loc) return "";
  const parts: string[] = [];
  if (loc.file) {
    let s = loc.file;
    if (loc.line !== undefined) s += `:${loc.line}`;
    if (loc.line !== undefined && loc.column !== undefined) s += `:${loc.column}`;
    parts.push(s);
  }
  if (loc.source) parts.push(loc.source);
  if (loc.offset !== undefined) parts.push(`offset ${loc.offset}`);
  if (loc.address) parts.push(loc.address);
  if (loc.key) parts.push(`key ${loc.key}`);
  return parts.join(" ");
}

/** One line for humans: "file:3:5: error config_unknown_key: message (hint: ...)". */
export function formatProblem(p: Problem): string {
  const where = formatLocation(p.location);
  const head = where ? `${where}: ` : "";
  const hint = p.hint ? `\n  hint: ${p.hint}` : "";
  return `${head}${p.severity} ${p.code}: ${p.message}${hint}`;
}

/** Turns anything thrown into a one-paragraph message without a stack trace. */
export function describeError(err: unknown): string {
  if (err instanceof SigilError) return formatProblem(err.toProblem());
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}

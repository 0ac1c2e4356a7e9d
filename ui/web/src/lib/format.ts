// Formatting for the console: times in the analyst's zone with UTC on hover, relative ages, numbers.

const dtf = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
const tf = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
const nf = new Intl.NumberFormat();

export function parseTs(v: string | number | null | undefined): number | null {
  if (v === null || v === undefined || v === "") return null;
  const t = typeof v === "number" ? v : Date.parse(v);
  return Number.isFinite(t) ? t : null;
}

export function dateTime(v: string | number | null | undefined): string {
  const t = parseTs(v);
  return t === null ? "—" : dtf.format(t);
}

export function timeOnly(v: string | number | null | undefined): string {
  const t = parseTs(v);
  return t === null ? "—" : tf.format(t);
}

export function iso(v: string | number | null | undefined): string {
  const t = parseTs(v);
  return t === null ? "" : new Date(t).toISOString();
}

export function ago(v: string | number | null | undefined, now = Date.now()): string {
  const t = parseTs(v);
  if (t === null) return "—";
  const s = Math.round((now - t) / 1000);
  if (s < 0) return "in the future";
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}

export function num(n: number | null | undefined): string {
  return n === null || n === undefined ? "—" : nf.format(n);
}

export function rate(n: number | null | undefined): string {
  if (n === null || n === undefined) return "—";
  return n >= 100 ? nf.format(Math.round(n)) : n.toFixed(n >= 10 ? 1 : 2);
}

/** "credential-access" → "Credential access". */
export function humanize(s: string): string {
  const t = s.replace(/[-_]+/g, " ").trim();
  return t.charAt(0).toUpperCase() + t.slice(1);
}

/** Value of a field as text for display: strings as they are, everything else as JSON. */
export function text(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return JSON.stringify(v);
}

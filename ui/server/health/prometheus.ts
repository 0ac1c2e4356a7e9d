// A small, bounded parser for the Prometheus text exposition format (what every Sigil role serves on
// /metrics): samples as name, labels and value; comments and malformed lines are skipped.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const MAX_LINES = 200_000;
const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;

function parseLabels(s: string, start: number): { labels: Record<string, string>; end: number } | null {
  const labels: Record<string, string> = Object.create(null);
  let i = start;
  for (;;) {
    while (s[i] === " " || s[i] === ",") i++;
    if (s[i] === "}") return { labels, end: i + 1 };
    const m = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(s.slice(i, i + 200));
    if (!m) return null;
    const key = m[0];
    i += key.length;
    if (s[i] !== "=" || s[i + 1] !== '"') return null;
    i += 2;
    let v = "";
    while (i < s.length && s[i] !== '"') {
      if (s[i] === "\\" && i + 1 < s.length) {
        const n = s[i + 1];
        v += n === "n" ? "\n" : n;
        i += 2;
      } else v += s[i++];
      if (v.length > 1024) return null;
    }
    if (s[i] !== '"') return null;
    i++;
    labels[key] = v;
  }
}

export function parsePrometheus(text: string): Sample[] {
  const out: Sample[] = [];
  let lines = 0;
  for (const raw of text.split("\n")) {
    if (++lines > MAX_LINES) break;
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const m = NAME_RE.exec(line);
    if (!m) continue;
    let i = m[0].length;
    let labels: Record<string, string> = Object.create(null);
    if (line[i] === "{") {
      const l = parseLabels(line, i + 1);
      if (!l) continue;
      labels = l.labels;
      i = l.end;
    }
    const rest = line.slice(i).trim().split(/\s+/);
    const v = rest[0] === "+Inf" ? Infinity : rest[0] === "-Inf" ? -Infinity : Number(rest[0]);
    if (rest[0] === undefined || rest[0] === "" || Number.isNaN(v)) continue;
    out.push({ name: m[0], labels, value: v });
  }
  return out;
}

// Splits text into JSON values: one per line, or concatenated pretty-printed objects (the SigmaHQ
// regression files), without parsing twice. Each value comes with its 1-based starting line.

export interface JsonChunk {
  text: string;
  line: number;
}

/**
 * Scans for balanced top-level `{...}`/`[...]` values, honouring strings and escapes; text outside
 * values that is not whitespace becomes its own chunk (so the caller reports it as a bad record).
 */
export function* splitJsonValues(text: string): Generator<JsonChunk> {
  let i = 0;
  let line = 1;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 10) {
      line++;
      i++;
      continue;
    }
    if (c === 32 || c === 9 || c === 13) {
      i++;
      continue;
    }
    const startLine = line;
    if (c !== 123 && c !== 91) {
      // not an object/array: the rest of the line is one (bad) record
      let j = text.indexOf("\n", i);
      if (j < 0) j = n;
      yield { text: text.slice(i, j), line: startLine };
      i = j;
      continue;
    }
    let depth = 0;
    let inStr = false;
    let j = i;
    for (; j < n; j++) {
      const d = text.charCodeAt(j);
      if (d === 10) line++;
      if (inStr) {
        if (d === 92) j++;
        else if (d === 34) inStr = false;
        continue;
      }
      if (d === 34) inStr = true;
      else if (d === 123 || d === 91) depth++;
      else if (d === 125 || d === 93) {
        depth--;
        if (depth === 0) break;
      }
    }
    yield { text: text.slice(i, j + 1), line: startLine };
    i = j + 1;
  }
}

// Timestamps for parsers: ISO 8601 with any offset form, year-less RFC 3164 stamps resolved against a
// pinnable clock, local times in an IANA zone or fixed offset. Everything returns epoch milliseconds
// (NaN when the text is not a time) so the hot path allocates nothing but the final ISO string.

const MONTHS: Record<string, number> = {
  jan: 0, feb: 1, mar: 2, apr: 3, may: 4, jun: 5, jul: 6, aug: 7, sep: 8, oct: 9, nov: 10, dec: 11,
};

/** Month index 0..11 of a three-letter English month name (any case), else -1. */
export function monthIndex(name: string): number {
  const m = MONTHS[name.toLowerCase()];
  return m === undefined ? -1 : m;
}

/** A compiled time zone: the offset in minutes east of UTC at a UTC instant. */
export type ZoneOffset = (utcMs: number) => number;

const FIXED_OFFSET = /^([+-])(\d{2}):?(\d{2})$/;
const zoneCache = new Map<string, ZoneOffset>();

/** True when `tz` is "UTC", "Z", a fixed offset ("+02:00", "-0530") or an IANA zone this runtime knows. */
export function isValidTimezone(tz: string): boolean {
  if (tz === "UTC" || tz === "Z" || FIXED_OFFSET.test(tz)) return true;
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/**
 * Compiles a zone name once. IANA zones go through Intl (slow), so their offsets are cached per UTC
 * hour in a bounded map. An unknown zone compiles to UTC; callers validate names with isValidTimezone.
 */
export function compileZone(tz: string): ZoneOffset {
  const hit = zoneCache.get(tz);
  if (hit) return hit;
  let fn: ZoneOffset;
  const m = FIXED_OFFSET.exec(tz);
  if (tz === "UTC" || tz === "Z" || tz === "Etc/UTC" || !isValidTimezone(tz)) fn = () => 0;
  else if (m) {
    const off = (m[1] === "-" ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
    fn = () => off;
  } else {
    const fmt = new Intl.DateTimeFormat("en-US", {
      timeZone: tz, hourCycle: "h23", year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "numeric", second: "numeric",
    });
    const perHour = new Map<number, number>();
    fn = (utcMs) => {
      const hour = Math.floor(utcMs / 3_600_000);
      const cached = perHour.get(hour);
      if (cached !== undefined) return cached;
      const parts = fmt.formatToParts(new Date(hour * 3_600_000));
      const get = (t: string) => Number(parts.find((p) => p.type === t)?.value ?? 0);
      const local = Date.UTC(get("year"), get("month") - 1, get("day"), get("hour"), get("minute"), get("second"));
      const off = Math.round((local - hour * 3_600_000) / 60_000);
      if (perHour.size > 4096) perHour.clear();
      perHour.set(hour, off);
      return off;
    };
  }
  if (zoneCache.size > 256) zoneCache.clear();
  zoneCache.set(tz, fn);
  return fn;
}

/** Epoch ms of a wall-clock time in a zone (handles DST: the offset is re-checked at the result). */
export function localToUtc(zone: ZoneOffset, y: number, mo: number, d: number, h: number, mi: number, s: number, ms: number): number {
  const wall = Date.UTC(y, mo, d, h, mi, s, ms);
  const off1 = zone(wall);
  const guess = wall - off1 * 60_000;
  const off2 = zone(guess);
  return off2 === off1 ? guess : wall - off2 * 60_000;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** True when y-mo-d is a real calendar date. */
export function validDate(y: number, mo: number, d: number): boolean {
  if (mo < 0 || mo > 11 || d < 1 || d > 31) return false;
  // the usual case by arithmetic (this runs once per line); Date.UTC's own rules for the rest (years 0-99 are 1900-1999 there)
  if (Number.isInteger(y) && y >= 100 && y <= 9999 && Number.isInteger(mo) && Number.isInteger(d)) {
    return d <= DAYS_IN_MONTH[mo] || (mo === 1 && d === 29 && y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0));
  }
  const t = new Date(Date.UTC(y, mo, d));
  return t.getUTCDate() === d && t.getUTCMonth() === mo;
}

/** The UTC year of an instant, remembered for the last year asked about (the clock's year, for year-less stamps). */
let yearStartMs = 0;
let yearEndMs = -1;
let yearOfRange = 1970;
export function utcYear(ms: number): number {
  if (ms >= yearStartMs && ms < yearEndMs) return yearOfRange;
  const y = new Date(ms).getUTCFullYear();
  // Date.UTC reads years 0-99 as 1900-1999: such a year is not remembered
  if (Number.isNaN(y) || y < 100) return y;
  yearOfRange = y;
  yearStartMs = Date.UTC(y, 0, 1);
  yearEndMs = Date.UTC(y + 1, 0, 1);
  return y;
}

/** Allowed clock skew into the future before a year-less stamp is taken to be from last year. */
const FUTURE_SLACK_MS = 31 * 24 * 3_600_000;

/**
 * Resolves a year-less stamp (RFC 3164 "Feb 21 21:54:44") against `nowMs`: the current year, or the
 * previous one when that would put the stamp more than a month in the future (a December line read in
 * January). Feb 29 goes to the nearest earlier leap year.
 */
export function resolveYearless(zone: ZoneOffset, nowMs: number, mo: number, d: number, h: number, mi: number, s: number, ms: number): number {
  let y = utcYear(nowMs);
  let t = validDate(y, mo, d) ? localToUtc(zone, y, mo, d, h, mi, s, ms) : NaN;
  if (Number.isNaN(t) || t - nowMs > FUTURE_SLACK_MS) {
    for (let back = 1; back <= 4; back++) {
      if (validDate(y - back, mo, d)) {
        y -= back;
        t = localToUtc(zone, y, mo, d, h, mi, s, ms);
        break;
      }
    }
  }
  return t;
}

function digits(s: string, i: number, n: number): number {
  let v = 0;
  for (let k = 0; k < n; k++) {
    const c = s.charCodeAt(i + k) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/** Result of parseIsoAt: epoch ms and where the stamp ended, or ms NaN. */
export interface ParsedStamp {
  ms: number;
  end: number;
}

/**
 * Parses an ISO 8601 / RFC 3339 stamp starting at `i`: "2019-06-14T10:40:20.912134+01:30",
 * "...Z", "...+0400", "...+04", a space instead of T, or no offset (then `zone` applies).
 */
export function parseIsoAt(s: string, i: number, zone: ZoneOffset, out: ParsedStamp): ParsedStamp {
  out.ms = NaN;
  out.end = i;
  const y = digits(s, i, 4);
  if (y < 0 || s.charCodeAt(i + 4) !== 45 /* - */) return out;
  const mo = digits(s, i + 5, 2);
  if (mo < 1 || s.charCodeAt(i + 7) !== 45) return out;
  const d = digits(s, i + 8, 2);
  const sep = s.charCodeAt(i + 10);
  if (d < 1 || (sep !== 84 /* T */ && sep !== 32 && sep !== 116 /* t */)) return out;
  const h = digits(s, i + 11, 2);
  const mi = digits(s, i + 14, 2);
  if (h < 0 || mi < 0 || s.charCodeAt(i + 13) !== 58 || h > 23 || mi > 59) return out;
  let p = i + 16;
  let sec = 0;
  if (s.charCodeAt(p) === 58) {
    sec = digits(s, p + 1, 2);
    if (sec < 0 || sec > 60) return out;
    p += 3;
  }
  let ms = 0;
  const dot = s.charCodeAt(p);
  if (dot === 46 || dot === 44) {
    p++;
    let scale = 100;
    let n = 0;
    while (p < s.length) {
      const c = s.charCodeAt(p) - 48;
      if (c < 0 || c > 9) break;
      if (scale >= 1) ms += c * scale;
      scale /= 10;
      n++;
      p++;
    }
    if (n === 0 || n > 9) return out;
    ms = Math.floor(ms);
  }
  if (!validDate(y, mo - 1, d)) return out;
  const z = s.charCodeAt(p);
  if (z === 90 || z === 122 /* Z z */) {
    out.ms = Date.UTC(y, mo - 1, d, h, mi, Math.min(sec, 59), ms);
    out.end = p + 1;
    return out;
  }
  if (z === 43 || z === 45 /* + - */) {
    const oh = digits(s, p + 1, 2);
    if (oh < 0) return out;
    let q = p + 3;
    let om = 0;
    if (s.charCodeAt(q) === 58) {
      om = digits(s, q + 1, 2);
      q += 3;
    } else {
      const m2 = digits(s, q, 2);
      if (m2 >= 0) {
        om = m2;
        q += 2;
      }
    }
    if (om < 0 || oh > 23 || om > 59) return out;
    const off = (z === 45 ? -1 : 1) * (oh * 60 + om);
    out.ms = Date.UTC(y, mo - 1, d, h, mi, Math.min(sec, 59), ms) - off * 60_000;
    out.end = q;
    return out;
  }
  out.ms = localToUtc(zone, y, mo - 1, d, h, mi, Math.min(sec, 59), ms);
  out.end = p;
  return out;
}

const scratch: ParsedStamp = { ms: NaN, end: 0 };

/** Epoch ms of a whole ISO 8601 string (trailing text not allowed), or NaN. */
export function parseIso(s: string, zone: ZoneOffset): number {
  const r = parseIsoAt(s, 0, zone, scratch);
  return r.end === s.length ? r.ms : NaN;
}

/** Epoch ms from seconds (Zeek `ts`, auditd) given as a number or decimal string. */
export function epochSecondsToMs(v: unknown): number {
  const n = typeof v === "number" ? v : typeof v === "string" && v.length > 0 ? Number(v) : NaN;
  return Number.isFinite(n) ? Math.floor(n * 1000) : NaN;
}

/** Smallest and largest instants a parser accepts (year 1970 .. 2200). */
const MIN_MS = 0;
const MAX_MS = Date.UTC(2200, 0, 1);

/** ISO 8601 UTC with milliseconds, or null when the instant is not usable. */
export function toIso(ms: number): string | null {
  if (!Number.isFinite(ms) || ms < MIN_MS || ms >= MAX_MS) return null;
  // consecutive records of a log mostly share their stamp: remember the last one
  if (ms === lastIsoMs) return lastIso;
  lastIsoMs = ms;
  lastIso = isoUtc(ms);
  return lastIso;
}

let lastIsoMs = NaN;
let lastIso = "";

const DAY_MS = 86_400_000;
const PAD2 = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, "0"));
const PAD3 = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, "0"));
/** The "YYYY-MM-DDT" of the day formatted last (a log's records mostly share their day). */
let lastDay = NaN;
let lastDayText = "";

/**
 * Date#toISOString for instants in years 1970..9999 without a Date object (V8 formats that through
 * snprintf, a visible share of ingest CPU): the civil date from the day number (H. Hinnant's
 * days-to-civil), each day's "YYYY-MM-DDT" remembered.
 */
export function isoUtc(msIn: number): string {
  const ms = Math.trunc(msIn);
  const day = Math.floor(ms / DAY_MS);
  let rem = ms - day * DAY_MS;
  if (day !== lastDay) {
    const z = day + 719_468;
    const era = Math.floor(z / 146_097);
    const doe = z - era * 146_097;
    const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
    const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
    const mp = Math.floor((5 * doy + 2) / 153);
    const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
    const m = mp < 10 ? mp + 3 : mp - 9;
    const y = yoe + era * 400 + (m <= 2 ? 1 : 0);
    lastDay = day;
    lastDayText = `${y}-${PAD2[m]}-${PAD2[d]}T`;
  }
  const h = Math.floor(rem / 3_600_000);
  rem -= h * 3_600_000;
  const mi = Math.floor(rem / 60_000);
  rem -= mi * 60_000;
  const sec = Math.floor(rem / 1000);
  return `${lastDayText}${PAD2[h]}:${PAD2[mi]}:${PAD2[sec]}.${PAD3[rem - sec * 1000]}Z`;
}

/** "Mon dd HH:MM:SS" style English dates used by Apache ("26/Dec/2016:16:16:28 +0200"). */
export function parseClfDate(s: string, zone: ZoneOffset): number {
  // dd/Mmm/yyyy:HH:MM:SS +zzzz
  const d = digits(s, 0, 2);
  const mo = monthIndex(s.slice(3, 6));
  const y = digits(s, 7, 4);
  const h = digits(s, 12, 2);
  const mi = digits(s, 15, 2);
  const sec = digits(s, 18, 2);
  if (d < 1 || mo < 0 || y < 0 || h < 0 || mi < 0 || sec < 0 || s.charCodeAt(2) !== 47 || s.charCodeAt(6) !== 47 || s.charCodeAt(11) !== 58) return NaN;
  if (h > 23 || mi > 59 || sec > 60 || !validDate(y, mo, d)) return NaN;
  let off = NaN;
  if (s.length >= 26 && s.charCodeAt(20) === 32) {
    const sign = s.charCodeAt(21);
    const oh = digits(s, 22, 2);
    const om = digits(s, 24, 2);
    if ((sign === 43 || sign === 45) && oh >= 0 && om >= 0) off = (sign === 45 ? -1 : 1) * (oh * 60 + om);
  }
  if (Number.isNaN(off)) return localToUtc(zone, y, mo, d, h, mi, Math.min(sec, 59), 0);
  return Date.UTC(y, mo, d, h, mi, Math.min(sec, 59)) - off * 60_000;
}

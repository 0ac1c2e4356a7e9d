// The in-process bus's on-disk journal: an SQLite file (WAL) holding every message the bus has not
// yet dropped and every group's committed offsets, so the one-process setup loses no acknowledged
// message and re-reads nothing already committed after kill -9. A send is acknowledged only after its
// transaction committed. Messages are stored as one row per send and partition (a record batch, like
// Kafka's), not one row per message. See docs/decisions/0003-bus-journal.md.

import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import type BetterSqlite3 from "better-sqlite3";
import { SigilError } from "../errors.ts";
import type { TopicName } from "./types.ts";

const FORMAT = "1";

export interface JournalRow {
  topic: TopicName;
  partition: number;
  offset: number;
  key: string | null;
  value: Buffer;
  headers: Record<string, string>;
  timestamp: number;
}

export interface JournalState {
  /** Next offset per "topic/partition" (the log end, even when every message was dropped). */
  ends: Map<string, number>;
  rows: JournalRow[];
  commits: { group: string; topic: TopicName; partition: number; next: number }[];
}

export class BusJournal {
  private readonly db: BetterSqlite3.Database;
  private readonly insertBatch: BetterSqlite3.Statement;
  private readonly upsertEnd: BetterSqlite3.Statement;
  private readonly upsertCommit: BetterSqlite3.Statement;
  private readonly deleteBefore: BetterSqlite3.Statement;
  private readonly appendTx: (rows: JournalRow[], ends: [TopicName, number, number][]) => void;

  /** Opens (or creates) the journal; it must have been written with the same partition count. */
  constructor(
    readonly file: string,
    partitions: number,
    sync: "normal" | "full" = "normal",
  ) {
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      this.db = new Database(file, { timeout: 1000 });
      // One bus per journal: the exclusive lock (taken by the first write below) keeps a second process,
      // or a second bus in this one, from interleaving its offsets with ours.
      this.db.pragma("locking_mode = EXCLUSIVE");
      // Record batches are tens of kB: large pages mean fewer overflow pages per batch (only applies to a new file).
      this.db.pragma("page_size = 32768");
      this.db.pragma("journal_mode = WAL");
      // WAL + NORMAL: a committed transaction survives the process being killed (it is in the WAL);
      // FULL also survives power loss, at an fsync per send.
      this.db.pragma(`synchronous = ${sync === "full" ? "FULL" : "NORMAL"}`);
      this.db.exec(`
        CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS batches (
          topic TEXT NOT NULL, part INTEGER NOT NULL, first INTEGER NOT NULL, last INTEGER NOT NULL, data BLOB NOT NULL,
          PRIMARY KEY (topic, part, first)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS ends (topic TEXT NOT NULL, part INTEGER NOT NULL, next INTEGER NOT NULL, PRIMARY KEY (topic, part)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS commits (grp TEXT NOT NULL, topic TEXT NOT NULL, part INTEGER NOT NULL, next INTEGER NOT NULL, PRIMARY KEY (grp, topic, part)) WITHOUT ROWID;
      `);
      this.db.exec("BEGIN IMMEDIATE; COMMIT");
    } catch (err) {
      if ((err as { code?: string }).code === "SQLITE_BUSY") {
        throw new SigilError("bus_journal_in_use", "the bus journal is in use by another Sigil bus (another process, or a second bus in this one)", {
          location: { file },
          hint: "run one `sigil start` per data_dir, and create one bus per process and share it between the roles",
          cause: err,
        });
      }
      throw new SigilError("bus_journal_unreadable", `cannot open the bus journal: ${(err as Error).message}`, {
        location: { file },
        hint: "check the file and folder permissions; if the file is damaged, move it away (its unconsumed messages are then lost)",
        cause: err,
      });
    }
    const meta = new Map((this.db.prepare("SELECT k, v FROM meta").all() as { k: string; v: string }[]).map((r) => [r.k, r.v]));
    if (meta.size === 0) {
      const put = this.db.prepare("INSERT INTO meta (k, v) VALUES (?, ?)");
      put.run("format", FORMAT);
      put.run("partitions", String(partitions));
    } else {
      if (meta.get("format") !== FORMAT) {
        this.db.close();
        throw new SigilError("bus_journal_unreadable", `the bus journal has format ${meta.get("format")}, this Sigil reads format ${FORMAT}`, { location: { file } });
      }
      const had = Number(meta.get("partitions"));
      if (had !== partitions) {
        this.db.close();
        throw new SigilError("bus_journal_mismatch", `the bus journal was written with ${had} partitions per topic but bus.partitions is ${partitions}`, {
          location: { file, key: "bus.partitions" },
          hint: `set bus.partitions back to ${had} (keys map to partitions by that count), or move the journal away once its messages were consumed`,
        });
      }
    }
    this.insertBatch = this.db.prepare("INSERT OR REPLACE INTO batches (topic, part, first, last, data) VALUES (?, ?, ?, ?, ?)");
    this.upsertEnd = this.db.prepare("INSERT INTO ends (topic, part, next) VALUES (?, ?, ?) ON CONFLICT (topic, part) DO UPDATE SET next = excluded.next");
    this.upsertCommit = this.db.prepare("INSERT INTO commits (grp, topic, part, next) VALUES (?, ?, ?, ?) ON CONFLICT (grp, topic, part) DO UPDATE SET next = excluded.next");
    this.deleteBefore = this.db.prepare("DELETE FROM batches WHERE topic = ? AND part = ? AND last < ?");
    this.appendTx = this.db.transaction((rows: JournalRow[], ends: [TopicName, number, number][]) => {
      // One record batch per partition touched by this send; rows of one partition come in offset order.
      const byPart = new Map<number, JournalRow[]>();
      for (const r of rows) {
        let list = byPart.get(r.partition);
        if (!list) byPart.set(r.partition, (list = []));
        list.push(r);
      }
      for (const [p, list] of byPart) this.insertBatch.run(list[0].topic, p, list[0].offset, list[list.length - 1].offset, encodeBatch(list));
      for (const [t, p, next] of ends) this.upsertEnd.run(t, p, next);
    });
  }

  /** Everything the journal holds, in offset order per partition. */
  load(): JournalState {
    const ends = new Map<string, number>();
    for (const r of this.db.prepare("SELECT topic, part, next FROM ends").all() as { topic: string; part: number; next: number }[]) ends.set(`${r.topic}/${r.part}`, r.next);
    const rows: JournalRow[] = [];
    for (const b of this.db.prepare("SELECT topic, part, first, data FROM batches ORDER BY topic, part, first").iterate() as Iterable<{
      topic: TopicName;
      part: number;
      first: number;
      data: Buffer;
    }>) {
      try {
        decodeBatch(b.data, b.topic, b.part, b.first, rows);
      } catch (err) {
        throw new SigilError("bus_journal_unreadable", `the bus journal has a damaged record batch (${b.topic} partition ${b.part} from offset ${b.first}): ${(err as Error).message}`, {
          location: { file: this.file, offset: b.first },
          hint: "move the journal away to start with an empty bus (its unconsumed messages are then lost)",
        });
      }
    }
    const commits = (this.db.prepare("SELECT grp, topic, part, next FROM commits").all() as { grp: string; topic: TopicName; part: number; next: number }[]).map((c) => ({
      group: c.grp,
      topic: c.topic,
      partition: c.part,
      next: c.next,
    }));
    return { ends, rows, commits };
  }

  /** Appends messages and the new log ends in one transaction; durable when this returns. */
  append(rows: JournalRow[], ends: [TopicName, number, number][]): void {
    this.appendTx(rows, ends);
  }

  commit(group: string, topic: TopicName, partition: number, next: number): void {
    this.upsertCommit.run(group, topic, partition, next);
  }

  /** Deletes the record batches that lie wholly below `before` in a partition (they were dropped from memory). */
  trim(topic: TopicName, partition: number, before: number): void {
    this.deleteBefore.run(topic, partition, before);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

/**
 * A record batch: per message, key length (int32, -1 for null) and UTF-8 key, value length and
 * bytes, headers length and JSON (0 for none), timestamp (float64). Offsets are first + index.
 */
export function encodeBatch(rows: JournalRow[]): Buffer {
  const heads: (string | null)[] = new Array(rows.length);
  let size = 0;
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    let hasHeaders = false;
    for (const _ in r.headers) {
      hasHeaders = true;
      break;
    }
    heads[i] = hasHeaders ? JSON.stringify(r.headers) : null;
    size += 20 + (r.key === null ? 0 : Buffer.byteLength(r.key)) + r.value.length + (heads[i] === null ? 0 : Buffer.byteLength(heads[i]!));
  }
  const out = Buffer.allocUnsafe(size);
  let o = 0;
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    if (r.key === null) {
      out.writeInt32LE(-1, o);
      o += 4;
    } else {
      const n = out.write(r.key, o + 4, "utf8");
      out.writeInt32LE(n, o);
      o += 4 + n;
    }
    out.writeInt32LE(r.value.length, o);
    o += 4;
    o += r.value.copy(out, o);
    const h = heads[i];
    if (h === null) {
      out.writeInt32LE(0, o);
      o += 4;
    } else {
      const n = out.write(h, o + 4, "utf8");
      out.writeInt32LE(n, o);
      o += 4 + n;
    }
    out.writeDoubleLE(r.timestamp, o);
    o += 8;
  }
  return out;
}

export function decodeBatch(data: Buffer, topic: TopicName, partition: number, first: number, into: JournalRow[]): void {
  let o = 0;
  let offset = first;
  const need = (n: number) => {
    if (o + n > data.length) throw new Error(`truncated at byte ${o}`);
  };
  while (o < data.length) {
    need(4);
    const kl = data.readInt32LE(o);
    o += 4;
    let key: string | null = null;
    if (kl >= 0) {
      need(kl);
      key = data.toString("utf8", o, o + kl);
      o += kl;
    }
    need(4);
    const vl = data.readInt32LE(o);
    o += 4;
    if (vl < 0) throw new Error(`negative value length at byte ${o - 4}`);
    need(vl);
    // A copy, so the batch buffer is not kept alive by one message.
    const value = Buffer.from(data.subarray(o, o + vl));
    o += vl;
    need(4);
    const hl = data.readInt32LE(o);
    o += 4;
    const headers: Record<string, string> = Object.create(null);
    if (hl > 0) {
      need(hl);
      const parsed = JSON.parse(data.toString("utf8", o, o + hl)) as Record<string, string>;
      for (const [hk, hv] of Object.entries(parsed)) headers[hk] = String(hv);
      o += hl;
    }
    need(8);
    const timestamp = data.readDoubleLE(o);
    o += 8;
    into.push({ topic, partition, offset: offset++, key, value, headers, timestamp });
  }
}

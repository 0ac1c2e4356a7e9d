// The in-process bus's on-disk journal: an SQLite file (WAL) holding every message the bus has not
// yet dropped and every group's committed offsets, so the one-process setup loses no acknowledged
// message and re-reads nothing already committed after kill -9. A send is acknowledged only after its
// transaction committed. See docs/decisions/0003-bus-journal.md.

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
  private readonly insertMsg: BetterSqlite3.Statement;
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
      this.db = new Database(file);
      this.db.pragma("journal_mode = WAL");
      // WAL + NORMAL: a committed transaction survives the process being killed (it is in the WAL);
      // FULL also survives power loss, at an fsync per send.
      this.db.pragma(`synchronous = ${sync === "full" ? "FULL" : "NORMAL"}`);
      this.db.exec(`
        CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS messages (
          topic TEXT NOT NULL, part INTEGER NOT NULL, off INTEGER NOT NULL,
          key TEXT, value BLOB NOT NULL, headers TEXT, ts INTEGER NOT NULL,
          PRIMARY KEY (topic, part, off)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS ends (topic TEXT NOT NULL, part INTEGER NOT NULL, next INTEGER NOT NULL, PRIMARY KEY (topic, part)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS commits (grp TEXT NOT NULL, topic TEXT NOT NULL, part INTEGER NOT NULL, next INTEGER NOT NULL, PRIMARY KEY (grp, topic, part)) WITHOUT ROWID;
      `);
    } catch (err) {
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
    this.insertMsg = this.db.prepare("INSERT OR REPLACE INTO messages (topic, part, off, key, value, headers, ts) VALUES (?, ?, ?, ?, ?, ?, ?)");
    this.upsertEnd = this.db.prepare("INSERT INTO ends (topic, part, next) VALUES (?, ?, ?) ON CONFLICT (topic, part) DO UPDATE SET next = excluded.next");
    this.upsertCommit = this.db.prepare("INSERT INTO commits (grp, topic, part, next) VALUES (?, ?, ?, ?) ON CONFLICT (grp, topic, part) DO UPDATE SET next = excluded.next");
    this.deleteBefore = this.db.prepare("DELETE FROM messages WHERE topic = ? AND part = ? AND off < ?");
    this.appendTx = this.db.transaction((rows: JournalRow[], ends: [TopicName, number, number][]) => {
      for (const r of rows) {
        const h = Object.keys(r.headers).length ? JSON.stringify(r.headers) : null;
        this.insertMsg.run(r.topic, r.partition, r.offset, r.key, r.value, h, r.timestamp);
      }
      for (const [t, p, next] of ends) this.upsertEnd.run(t, p, next);
    });
  }

  /** Everything the journal holds, in offset order per partition. */
  load(): JournalState {
    const ends = new Map<string, number>();
    for (const r of this.db.prepare("SELECT topic, part, next FROM ends").all() as { topic: string; part: number; next: number }[]) ends.set(`${r.topic}/${r.part}`, r.next);
    const rows: JournalRow[] = [];
    for (const r of this.db.prepare("SELECT topic, part, off, key, value, headers, ts FROM messages ORDER BY topic, part, off").iterate() as Iterable<{
      topic: TopicName;
      part: number;
      off: number;
      key: string | null;
      value: Buffer;
      headers: string | null;
      ts: number;
    }>) {
      const headers: Record<string, string> = Object.create(null);
      if (r.headers) Object.assign(headers, JSON.parse(r.headers) as Record<string, string>);
      rows.push({ topic: r.topic, partition: r.part, offset: r.off, key: r.key, value: r.value, headers, timestamp: r.ts });
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

  /** Deletes messages below `before` in a partition (they were dropped from memory). */
  trim(topic: TopicName, partition: number, before: number): void {
    this.deleteBefore.run(topic, partition, before);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

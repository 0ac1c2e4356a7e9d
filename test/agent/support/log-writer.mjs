// Writes numbered log lines to a file as fast as it can, rotating it every N lines the way logrotate
// does: "rename" (rename to <file>.<k>, create a new file) or "copytruncate" (copy to <file>.<k>,
// truncate in place; the writer keeps its O_APPEND descriptor). Used by the agent's rotation tests.
// usage: node log-writer.mjs <file> <from> <to> <mode: rename|copytruncate|none> <rotateEvery> [linesPerSecond]
import fs from "node:fs";

const [file, fromS, toS, mode, everyS, rateS] = process.argv.slice(2);
const rate = Number(rateS ?? 0);
const t0 = Date.now();
const pause = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
const from = Number(fromS);
const to = Number(toS);
const every = Number(everyS);
const line = (i) => `line ${String(i).padStart(8, "0")} lorem ipsum dolor sit amet consectetur adipiscing elit\n`;

let fd = fs.openSync(file, "a");
let k = 0;
let reopen = false;
const CHUNK = 50;
for (let i = from; i < to; ) {
  const end = Math.min(to, i + CHUNK, every > 0 ? (Math.floor((i - from) / every) + 1) * every + from : to);
  let s = "";
  for (let j = i; j < end; j++) s += line(j);
  fs.writeSync(fd, s);
  i = end;
  if (rate > 0) {
    const ahead = ((i - from) / rate) * 1000 - (Date.now() - t0);
    if (ahead > 1) pause(ahead);
  }
  if (reopen) {
    // The application reopens its log one write after the rename: that write went to the old file.
    fs.closeSync(fd);
    fd = fs.openSync(file, "a");
    reopen = false;
  }
  if (every > 0 && (i - from) % every === 0 && i < to) {
    k++;
    if (mode === "rename") {
      fs.renameSync(file, `${file}.${k}`);
      reopen = true;
    } else if (mode === "copytruncate") {
      fs.copyFileSync(file, `${file}.${k}`);
      fs.truncateSync(file, 0);
    }
  }
}
fs.closeSync(fd);

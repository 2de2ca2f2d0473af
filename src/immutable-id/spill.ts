/**
 * Records a full Immutable ID re-plan puts aside until it can conclude them, in the encrypted temporary file of the
 * directory snapshot (`RecordFile`: a key held only in memory, unlinked once open): appended one JSON line at a time,
 * read back in the same order, as often as needed, 256 KiB at a time. Memory: one read block, not the records.
 */
import { RecordFile } from "../directory/snapshot.js";

const BLOCK = 256 * 1024;

export class SpillFile<T> {
  private readonly file = new RecordFile("The full Immutable ID re-plan");
  private end = 0;
  count = 0;

  append(record: T): void {
    // ASCII only (JSON escapes for the rest), so that a read block never ends inside a character.
    const line = JSON.stringify(record).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
    const { at, length } = this.file.append(`${line}\n`);
    this.end = at + length;
    this.count++;
  }

  /** The records in the order they were appended. */
  async *read(): AsyncIterable<T> {
    let rest = "";
    for (let at = 0; at < this.end; at += BLOCK) {
      // The file pads each flushed chunk with NULs to a cipher block (never inside a record: JSON escapes them).
      const text = rest + this.file.read(at, Math.min(BLOCK, this.end - at)).replace(/\0+/g, "");
      const lines = text.split("\n");
      rest = lines.pop()!;
      for (const line of lines) yield JSON.parse(line) as T;
    }
    if (rest) yield JSON.parse(rest) as T;
  }

  close(): void {
    this.file.close();
  }
}

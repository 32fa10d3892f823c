/**
 * What `npm start` did with each object, one JSON line per outcome and per event it gave up on, in
 * `<state>/outcomes.jsonl` (started afresh by each npm start). `npm run put -- --wait` reads it for what the
 * object itself cannot show: that npm start gave up on it, or refused it without room for the error tag.
 */
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface JournalEntry {
  at: string;
  bucket: string;
  key: string;
  /** The ETag the event announced (without quotes): which content of the key this is about. */
  eTag?: string;
  event?: string;
  /** An outcome of the pipeline, or `given-up`: the event failed its last attempt. */
  outcome: "uploaded" | "skipped" | "rejected" | "failed" | "given-up";
  /** The refusal's code, or the skip's reason. */
  code?: string;
  /** The refusal's reason, or the failure's message. */
  reason?: string;
  fileToken?: string;
  attempts?: number;
}

export const journalPath = (stateDir: string) => join(stateDir, "outcomes.jsonl");

export class JournalWriter {
  constructor(private readonly path: string) {
    writeFileSync(path, "");
  }

  add(entry: Omit<JournalEntry, "at">): void {
    try {
      appendFileSync(this.path, `${JSON.stringify({ at: new Date().toISOString(), ...entry })}\n`);
    } catch {
      // The journal only helps `put --wait`; the terminal line says the same.
    }
  }
}

/** Reads the entries added since the last call (whole lines only: one still being written waits). */
export class JournalReader {
  private offset = 0;

  constructor(private readonly path: string) {}

  next(): JournalEntry[] {
    let file: Buffer;
    try {
      file = readFileSync(this.path);
    } catch {
      return [];
    }
    // A new npm start began the journal again.
    if (file.length < this.offset) this.offset = 0;
    const text = file.subarray(this.offset);
    const end = text.lastIndexOf("\n") + 1;
    this.offset += end;
    return text
      .subarray(0, end)
      .toString("utf8")
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as JournalEntry);
  }
}

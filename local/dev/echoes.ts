/**
 * Which outcomes in `npm start` are the echo of a write rather than news. S3 announces every write, including
 * the function's own: its metadata copy (ObjectCreated:Copy), its error tag (ObjectTagging:Put), and the same
 * writes made by another run (a backfill). Those, and a tag change that names where the object already is,
 * are expected: they are shown dimmed, said for what they are.
 */
import type { ObjectReport } from "../../lib/handler";
import type { OutcomeLine } from "../shared/format";

export class EchoDetector {
  /** The file_token this session's function wrote on each object. */
  private readonly written = new Map<string, string>();
  /** The refusal (`code: reason`) this session's function told each object. */
  private readonly refused = new Map<string, string>();

  /** How to show the report of an event named `eventName`: the line's fields beyond time, key and size. */
  describe(
    report: ObjectReport,
    eventName: string | undefined,
  ): Pick<OutcomeLine, "outcome" | "said" | "note" | "quiet"> {
    const id = `${report.bucket}/${report.key}`;
    const { outcome } = report;
    if (outcome.kind === "uploaded") this.written.set(id, outcome.fileToken);
    if (outcome.kind === "rejected") {
      const refusal = `${outcome.code}: ${outcome.reason}`;
      const told = this.refused.get(id) === refusal;
      this.refused.set(id, refusal);
      if (told && eventName === "ObjectTagging:Put") {
        return { outcome, note: "the event of the function's own error tag", quiet: true };
      }
    }
    if (outcome.kind !== "skipped" || outcome.reason !== "already-uploaded") return { outcome };
    if (eventName === "ObjectTagging:Put") {
      return { outcome, note: "its tags changed, and name where it already is", quiet: true };
    }
    if (eventName !== "ObjectCreated:Copy") return { outcome };
    if (outcome.fileToken && this.written.get(id) === outcome.fileToken) {
      return {
        outcome: { kind: "skipped", reason: "already-uploaded" },
        note: "the event of the function's own metadata write",
        quiet: true,
      };
    }
    return { outcome, said: "uploaded by another run", note: "the event of its metadata write", quiet: true };
  }
}

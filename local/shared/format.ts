/**
 * Human-readable lines for the local tools (`npm start`, `npm run backfill`): one line per object
 * outcome, sizes and durations, and ANSI colours only on a terminal that wants them.
 */
import type { RejectionCode } from "../../lib/contract";
import type { Outcome } from "../../lib/pipeline";

/** The refusal an object has no room to show (it already has the 10 tags S3 allows): only the tools can say it. */
export const UNTOLD: RejectionCode = "too-many-tags";

export function wantsColor(stream: { isTTY?: boolean }): boolean {
  return Boolean(stream.isTTY) && !process.env.NO_COLOR && process.env.TERM !== "dumb";
}

export interface Paint {
  dim(s: string): string;
  bold(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
}

export function painter(color: boolean): Paint {
  const sgr = (open: number, close: number) => (s: string) => (color ? `\x1b[${open}m${s}\x1b[${close}m` : s);
  return {
    dim: sgr(2, 22),
    bold: sgr(1, 22),
    red: sgr(31, 39),
    green: sgr(32, 39),
    yellow: sgr(33, 39),
    cyan: sgr(36, 39),
  };
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

export function clock(at = new Date()): string {
  return at.toTimeString().slice(0, 8);
}

export interface OutcomeLine {
  key: string;
  outcome: Outcome;
  durationMs: number;
  /** The size the event or listing announced, used when the outcome does not carry one. */
  size?: number;
  /** Said instead of a skip's reason, when the reason alone would mislead (another run's upload). */
  said?: string;
  /** Said after the outcome, e.g. why a skip is expected. */
  note?: string;
  /** Render the whole line dimmed (an expected, uninteresting event). */
  quiet?: boolean;
}

/**
 * `12:03:04  uploaded  reports/q3.pdf  1.2 MiB  -> docx_file/doxcn…  boxcn…  153 ms`
 * Fields: time, outcome, key, size, where it went or why not, duration.
 */
export function outcomeLine(line: OutcomeLine, paint: Paint, at = new Date()): string {
  const { outcome } = line;
  const size = "size" in outcome && outcome.size !== undefined ? outcome.size : line.size;
  const sizeText = size === undefined ? "?" : formatBytes(size);
  let label: string;
  let detail: string;
  switch (outcome.kind) {
    case "uploaded":
      label = paint.green("uploaded");
      detail = `-> ${outcome.target}  file_token ${outcome.fileToken}${outcome.route === "chunked" ? "  (chunked)" : ""}${outcome.replaces ? `  (moved from ${outcome.replaces})` : ""}`;
      break;
    case "skipped":
      label = "skipped ";
      detail = [line.said ?? outcome.reason, outcome.fileToken && `file_token ${outcome.fileToken}`, outcome.detail]
        .filter(Boolean)
        .join("  ");
      break;
    case "rejected":
      label = paint.yellow("rejected");
      detail = `${outcome.code}: ${outcome.reason}`;
      break;
    case "failed": {
      label = paint.red("FAILED  ");
      const larkCode = (outcome.error as { larkCode?: number }).larkCode;
      detail = `${outcome.error.name}: ${outcome.error.message}${larkCode !== undefined && !outcome.error.message.includes(String(larkCode)) ? ` (Lark ${larkCode})` : ""}`;
      break;
    }
  }
  const text = [
    clock(at),
    label,
    line.key,
    sizeText,
    detail + (line.note ? `  (${line.note})` : ""),
    formatMs(line.durationMs),
  ].join("  ");
  return line.quiet ? paint.dim(text) : text;
}

/**
 * Progress of a backfill: on a terminal, one bar rewritten in place with \r (done/total, bytes, rate,
 * ETA, the object at hand) with notable lines printed above it; elsewhere (a pipe, CI, a log file) just
 * the lines, one per object.
 */
import { formatBytes, formatMs } from "../shared/format";

export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
}

export class Progress {
  private done = 0;
  private bytes = 0;
  private current = "";
  private readonly started = Date.now();
  private timer?: NodeJS.Timeout;
  private drawn = false;

  constructor(
    private readonly out: ProgressStream,
    private readonly total: number,
    private readonly totalBytes: number,
  ) {
    if (this.tty) {
      // Keeps the rate and ETA moving during a long upload.
      this.timer = setInterval(() => this.draw(), 500);
      this.timer.unref();
    }
  }

  get tty(): boolean {
    return Boolean(this.out.isTTY);
  }

  /** The object now being worked on. */
  start(key: string): void {
    this.current = key;
    this.draw();
  }

  /** One object finished; `line` is printed (above the bar on a terminal) when given. */
  finish(size: number, line?: string): void {
    this.done++;
    this.bytes += size;
    this.current = "";
    if (line !== undefined) this.print(line);
    else this.draw();
  }

  /** A line that stays: above the bar on a terminal, as is elsewhere. */
  print(line: string): void {
    if (this.tty) this.out.write(`\r\x1b[2K${line}\n`);
    else this.out.write(`${line}\n`);
    this.drawn = false;
    this.draw();
  }

  /** Removes the bar for good. */
  end(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.tty && this.drawn) this.out.write("\r\x1b[2K");
    this.drawn = false;
  }

  private draw(): void {
    if (!this.tty) return;
    const width = Math.max(40, this.out.columns || 80);
    const elapsed = (Date.now() - this.started) / 1000;
    const rate = elapsed > 0 ? this.done / elapsed : 0;
    const left = this.total - this.done;
    const eta = this.done > 0 && rate > 0 ? formatMs((left / rate) * 1000) : "?";
    const pct = this.total ? Math.floor((100 * this.done) / this.total) : 100;
    const barWidth = 20;
    const fill = this.total ? Math.round((barWidth * this.done) / this.total) : barWidth;
    const bar = `[${"#".repeat(fill)}${"-".repeat(barWidth - fill)}]`;
    const text =
      `${bar} ${this.done}/${this.total} ${pct}%  ${formatBytes(this.bytes)}/${formatBytes(this.totalBytes)}  ` +
      `${rate.toFixed(1)} obj/s  ETA ${eta}${this.current ? `  ${this.current}` : ""}`;
    this.out.write(`\r\x1b[2K${text.length > width - 1 ? `${text.slice(0, width - 2)}…` : text}`);
    this.drawn = true;
  }
}

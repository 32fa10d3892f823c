/**
 * Lark's upload endpoints take one call at a time and at most 5 a second per app. Every upload call
 * in the process goes through one Pacer, so parallel work inside an invocation cannot break either rule.
 */
export interface PacerOptions {
  /** Starts allowed per window. */
  perWindow: number;
  windowMs: number;
  /**
   * Extra spacing added to the window: requests are timed where they start here but counted where they
   * arrive at Lark, and a fast request can arrive closer to its predecessor than it started.
   */
  marginMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export class Pacer {
  private readonly starts: number[] = [];
  private tail: Promise<unknown> = Promise.resolve();
  private pausedUntil = 0;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly opts: PacerOptions) {
    this.now = opts.now ?? Date.now;
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /** Runs `fn` when it is its turn: after every earlier call has finished and a start slot is free. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const turn = this.tail.then(async () => {
      await this.waitForSlot();
      return fn();
    });
    // The queue goes on whether this call succeeds or not.
    this.tail = turn.catch(() => undefined);
    return turn;
  }

  /** Lark told us to wait (x-ogw-ratelimit-reset): no call starts before then. */
  pauseFor(ms: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, this.now() + ms);
  }

  private async waitForSlot(): Promise<void> {
    const window = this.opts.windowMs + (this.opts.marginMs ?? 0);
    for (;;) {
      const now = this.now();
      while (this.starts.length && this.starts[0]! <= now - window) this.starts.shift();
      let wait = this.pausedUntil - now;
      if (this.starts.length >= this.opts.perWindow) wait = Math.max(wait, this.starts[0]! + window - now);
      if (wait <= 0) break;
      await this.sleep(wait);
    }
    this.starts.push(this.now());
  }
}

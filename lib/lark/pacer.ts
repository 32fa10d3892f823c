/**
 * One of Lark's rate rules ("N calls a window, one at a time"), kept for every call that falls under it in
 * the process, so parallel work inside an invocation cannot break it. lib/lark/limits.ts hands them out.
 *
 * Lark counts a call when it arrives, which we cannot see: a call may sit in a TLS handshake or a slow
 * network for a while after it starts here. What we do know is that it arrived before its reply came
 * back. So a call's slot is held until one window after its reply: the next calls can then never arrive
 * less than a window after it, whatever the network did, at the price of one call's duration per window.
 */
import { TransientError } from "../errors";

/** A reset longer than this is a misbehaving header, not a plan: the retry's own backoff takes over. */
const MAX_PAUSE_MS = 60_000;

export interface PacerOptions {
  /** Calls allowed per window. */
  perWindow: number;
  windowMs: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export class Pacer {
  /** When each recent call ended; a call counts against the window until windowMs after that. */
  private readonly ends: number[] = [];
  private tail: Promise<unknown> = Promise.resolve();
  private pausedUntil = 0;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly opts: PacerOptions) {
    this.now = opts.now ?? Date.now;
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /**
   * Runs `fn` when it is its turn: after every earlier call has finished and a slot in the window is free.
   * If that turn would come after `deadline`, it fails with TransientError instead of sleeping past it.
   */
  run<T>(fn: () => Promise<T>, deadline = Infinity): Promise<T> {
    const turn = this.tail.then(async () => {
      await this.waitForSlot(deadline);
      try {
        return await fn();
      } finally {
        this.ends.push(this.now());
      }
    });
    // The queue goes on whether this call succeeds or not.
    this.tail = turn.catch(() => undefined);
    return turn;
  }

  /** Lark told us to wait (x-ogw-ratelimit-reset): no call starts before then (a minute at most). */
  pauseFor(ms: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, this.now() + Math.min(ms, MAX_PAUSE_MS));
  }

  private async waitForSlot(deadline: number): Promise<void> {
    for (;;) {
      const now = this.now();
      while (this.ends.length && this.ends[0]! <= now - this.opts.windowMs) this.ends.shift();
      let wait = this.pausedUntil - now;
      if (this.ends.length >= this.opts.perWindow) wait = Math.max(wait, this.ends[0]! + this.opts.windowMs - now);
      if (wait <= 0) return;
      if (now + wait >= deadline)
        throw new TransientError(`Lark's rate window would open after the invocation's deadline`);
      await this.sleep(wait);
    }
  }
}

/**
 * One of Lark's rate rules ("N calls a window", and for some "one at a time"), kept for every call that falls
 * under it in the process, so parallel work inside an invocation cannot break it. lib/lark/limits.ts hands them out.
 *
 * Lark counts a call when it arrives, which we cannot see: a call may sit in a TLS handshake or a slow
 * network for a while after it starts here. What we do know is that it arrived before its reply came
 * back. So a call's slot is taken when it starts and held until one window after its reply: any N+1 calls
 * that could arrive within one window would need N+1 slots at once, whatever the network did, at the price
 * of one call's duration per window.
 */
import { TransientError } from "../errors";

/**
 * Epoch milliseconds with their fraction: a window measured in whole milliseconds could close up to one early,
 * which matters when tests shrink windows to a few milliseconds.
 */
const preciseNow = () => performance.timeOrigin + performance.now();

/** A reset longer than this is a misbehaving header, not a plan: the retry's own backoff takes over. */
const MAX_PAUSE_MS = 60_000;

/** What a call needs from a rule: its turn, and a pause when Lark says to wait. */
export interface Pacing {
  /**
   * Runs `fn` when it is its turn: after every earlier call has taken its slot and a slot is free.
   * If that turn would come after `deadline`, it fails with TransientError instead of sleeping past it.
   */
  run<T>(fn: () => Promise<T>, deadline?: number): Promise<T>;
  /** Lark told us to wait (x-ogw-ratelimit-reset): no call starts before then (a minute at most). */
  pauseFor(ms: number): void;
}

export interface PacerOptions {
  /** Calls allowed per window. */
  perWindow: number;
  windowMs: number;
  /** No call starts while another is in flight (default: true, as Lark's media rule demands). */
  oneAtATime?: boolean;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export class Pacer implements Pacing {
  /** When each recent call ended; a call counts against the window until windowMs after that. */
  private readonly ends: number[] = [];
  private inFlight = 0;
  /** Calls that have not taken their slot yet. */
  private waiting = 0;
  /** Turns are taken in arrival order: each waits for the one before it to take its slot (or give up). */
  private tail: Promise<unknown> = Promise.resolve();
  private pausedUntil = 0;
  /** Wakes the call at the head of the queue when a call in flight ends. */
  private wake?: () => void;
  private readonly oneAtATime: boolean;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly opts: PacerOptions) {
    this.oneAtATime = opts.oneAtATime ?? true;
    this.now = opts.now ?? preciseNow;
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  run<T>(fn: () => Promise<T>, deadline = Infinity): Promise<T> {
    this.waiting++;
    const slot = this.tail.then(() => this.takeSlot(deadline)).finally(() => this.waiting--);
    // The queue goes on whether this call gets its slot or not.
    this.tail = slot.catch(() => undefined);
    return slot.then(async () => {
      try {
        return await fn();
      } finally {
        this.inFlight--;
        this.ends.push(this.now());
        this.wake?.();
      }
    });
  }

  pauseFor(ms: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, this.now() + Math.min(ms, MAX_PAUSE_MS));
  }

  /** Nothing queued, in flight, paused or counting against a window: a new pacer would behave the same. */
  idle(): boolean {
    const now = this.now();
    const counting = this.ends.length > 0 && this.ends[this.ends.length - 1]! > now - this.opts.windowMs;
    return this.waiting === 0 && this.inFlight === 0 && this.pausedUntil <= now && !counting;
  }

  private async takeSlot(deadline: number): Promise<void> {
    for (;;) {
      const now = this.now();
      while (this.ends.length && this.ends[0]! <= now - this.opts.windowMs) this.ends.shift();
      const full = this.inFlight + this.ends.length >= this.opts.perWindow;
      // Only a reply frees what a call in flight holds; only time frees what an ended call holds.
      if ((this.oneAtATime && this.inFlight > 0) || (full && this.ends.length === 0)) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
        continue;
      }
      let wait = this.pausedUntil - now;
      if (full) wait = Math.max(wait, this.ends[0]! + this.opts.windowMs - now);
      if (wait <= 0) {
        this.inFlight++;
        return;
      }
      if (now + wait >= deadline)
        throw new TransientError(`Lark's rate window would open after the invocation's deadline`);
      await this.sleep(wait);
    }
  }
}

/**
 * One rule kept per resource (a document, a table): a pacer per key, made on first use and forgotten once idle,
 * so a long-lived process does not keep one for every document it ever wrote to. The pacer is looked up when a
 * call runs, in the same tick as it joins the queue, so one forgotten meanwhile is simply made again.
 */
export class PacerPerKey {
  private readonly pacers = new Map<string, Pacer>();

  constructor(private readonly opts: PacerOptions) {}

  for(key: string): Pacing {
    return {
      run: <T>(fn: () => Promise<T>, deadline?: number) => this.pacer(key).run(fn, deadline),
      pauseFor: (ms: number) => this.pacer(key).pauseFor(ms),
    };
  }

  /** How many pacers are kept now. */
  get size(): number {
    return this.pacers.size;
  }

  private pacer(key: string): Pacer {
    let pacer = this.pacers.get(key);
    if (!pacer) {
      for (const [other, kept] of this.pacers) if (kept.idle()) this.pacers.delete(other);
      pacer = new Pacer(this.opts);
      this.pacers.set(key, pacer);
    }
    return pacer;
  }
}

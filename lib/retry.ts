import { TransientError } from "./errors";

export interface RetryOptions {
  maxAttempts: number;
  /** Epoch ms after which no new attempt starts: the invocation must keep time to fail cleanly. */
  deadline: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  onRetry?: (err: TransientError, attempt: number, delayMs: number) => void;
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Retries transient failures with capped exponential backoff and full jitter, never sleeping past the
 * deadline and never waiting less than the server asked (retryAfterMs). Other errors pass straight through.
 */
export async function withRetries<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  const base = opts.baseDelayMs ?? 200;
  const cap = opts.maxDelayMs ?? 5_000;
  const random = opts.random ?? Math.random;
  const sleep = opts.sleep ?? ((ms: number) => new Promise((r) => setTimeout(r, ms)));
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (!(err instanceof TransientError) || attempt >= opts.maxAttempts) throw err;
      const backoff = Math.round(random() * Math.min(cap, base * 2 ** (attempt - 1)));
      const delay = Math.max(backoff, err.retryAfterMs ?? 0);
      if (Date.now() + delay >= opts.deadline) throw err;
      opts.onRetry?.(err, attempt, delay);
      await sleep(delay);
    }
  }
}

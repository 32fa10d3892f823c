/**
 * How `npm start` invokes the handler: as Lambda invokes a function with reserved concurrency 1 for S3's
 * asynchronous events. One event at a time, in arrival order; a failed invocation is tried again twice,
 * after a delay, then given up (on AWS the event would go to the on-failure destination).
 */

/** Lambda retries a failed asynchronous invocation twice before the on-failure destination. */
export const LAMBDA_ASYNC_RETRIES = 2;

export interface QueueOptions<E> {
  invoke(event: E, attempt: number): Promise<void>;
  /** The wait before retry n is n times this (Lambda: about 1 then 2 minutes). */
  retryDelayMs: number;
  /** Told of each failed attempt, with the wait before the retry, or without one when this was the last. */
  onFailure(event: E, attempt: number, error: Error, retryInMs?: number): void;
}

/** What is still to do at a moment: the invocation running, the events waiting behind it and for a retry. */
export interface Backlog {
  running: boolean;
  queued: number;
  retrying: number;
}

export class InvocationQueue<E> {
  private readonly waiting: { event: E; attempt: number }[] = [];
  private readonly retries = new Set<NodeJS.Timeout>();
  private running?: Promise<void>;
  private stopped = false;

  constructor(private readonly opts: QueueOptions<E>) {}

  add(event: E, attempt = 1): void {
    if (this.stopped) return;
    this.waiting.push({ event, attempt });
    this.running ??= this.drain();
  }

  backlog(): Backlog {
    return { running: this.running !== undefined, queued: this.waiting.length, retrying: this.retries.size };
  }

  /**
   * Takes no more events and drops the ones waiting; resolves with what was left when the running invocation
   * has ended, or after `graceMs` with `running` still true.
   */
  async stop(graceMs: number): Promise<Backlog> {
    const left = this.backlog();
    this.stopped = true;
    this.waiting.length = 0;
    for (const timer of this.retries) clearTimeout(timer);
    this.retries.clear();
    let timer: NodeJS.Timeout | undefined;
    const ended = await Promise.race([
      this.running?.then(() => true) ?? true,
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), graceMs))),
    ]);
    clearTimeout(timer);
    return { ...left, running: left.running && !ended };
  }

  private async drain(): Promise<void> {
    for (let next = this.waiting.shift(); next && !this.stopped; next = this.waiting.shift()) {
      const { event, attempt } = next;
      try {
        await this.opts.invoke(event, attempt);
      } catch (err) {
        this.failed(event, attempt, err as Error);
      }
    }
    this.running = undefined;
  }

  private failed(event: E, attempt: number, error: Error): void {
    if (attempt > LAMBDA_ASYNC_RETRIES) {
      this.opts.onFailure(event, attempt, error);
      return;
    }
    const delay = this.opts.retryDelayMs * attempt;
    this.opts.onFailure(event, attempt, error, delay);
    const timer = setTimeout(() => {
      this.retries.delete(timer);
      this.add(event, attempt + 1);
    }, delay);
    this.retries.add(timer);
  }
}

/**
 * What Lambda does between an event source and the function, for the host (lambda-host.ts) to be driven as
 * the deployed function is:
 *
 * - AsyncInvoker: an asynchronous invocation (S3 -> Lambda). Events wait in Lambda's own queue while the
 *   function is at its reserved concurrency; a failed invocation is retried `MaximumRetryAttempts` times
 *   (Lambda waits about 1 and then 2 minutes: the delays are a parameter, for tests to compress time), then
 *   the event goes to the on-failure destination as Lambda's invocation record, sent with the function's role.
 * - SqsPoller: an SQS event source mapping. Pollers receive batches with the function's role, invoke the
 *   function synchronously and delete what succeeded (all, or all but the `batchItemFailures` with
 *   ReportBatchItemFailures); a failed or throttled batch is left to reappear after the visibility timeout,
 *   and SQS's redrive policy moves a message to the DLQ after its receive count.
 */
import { randomUUID } from "node:crypto";
import type { Invocation, LambdaHost } from "./lambda-host";
import type { Sqs, SqsMessage } from "./sqs";

export interface AsyncInvokeConfig {
  maximumRetryAttempts: number;
  maximumEventAgeSeconds: number;
  /** The on-failure destination, an SQS queue URL. */
  onFailureQueueUrl?: string;
}

interface Pending {
  event: unknown;
  received: number;
  attempts: number;
  requestId: string;
  last?: Invocation;
}

export class AsyncInvoker {
  private readonly queue: Pending[] = [];
  private timers = new Set<NodeJS.Timeout>();
  private running = 0;
  private polling = false;
  readonly invocations: Invocation[] = [];
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly host: LambdaHost,
    private readonly config: AsyncInvokeConfig,
    /** The function's role, which Lambda uses to send to the destination. */
    private readonly roleSqs: Sqs,
    private readonly retryDelaysMs: number[] = [60_000, 120_000],
  ) {}

  /** Lambda accepted an asynchronous invocation (202). */
  push(event: unknown): void {
    this.queue.push({ event, received: Date.now(), attempts: 0, requestId: randomUUID() });
    this.pump();
  }

  /**
   * Takes each message of `queueUrl` (where the bucket's Lambda notifications are sent, see stack.ts) as an
   * asynchronous invocation. S3 sends no s3:TestEvent to a Lambda function: the one moto sends the queue when
   * the configuration is written is dropped.
   */
  pollNotifications(sqs: Sqs, queueUrl: string): void {
    this.polling = true;
    void (async () => {
      while (this.polling) {
        const messages = await sqs.receive(queueUrl, { max: 10, waitSeconds: 1 }).catch(() => []);
        for (const m of messages) {
          await sqs.delete(queueUrl, m.ReceiptHandle);
          const event = JSON.parse(m.Body);
          if (event.Event !== "s3:TestEvent") this.push(event);
        }
      }
    })();
  }

  private pump(): void {
    while (this.queue.length && this.running < this.host.concurrency) {
      const pending = this.queue.shift()!;
      this.running++;
      void this.attempt(pending).finally(() => {
        this.running--;
        this.pump();
        this.checkIdle();
      });
    }
  }

  private async attempt(pending: Pending): Promise<void> {
    if (Date.now() - pending.received > this.config.maximumEventAgeSeconds * 1000)
      return this.toDestination(pending, "EventAgeExceeded");
    pending.attempts++;
    const result = await this.host.invoke(pending.event);
    this.invocations.push(result);
    pending.last = result;
    if (!result.error) return;
    if (pending.attempts > this.config.maximumRetryAttempts) return this.toDestination(pending, "RetriesExhausted");
    const delay = this.retryDelaysMs[Math.min(pending.attempts - 1, this.retryDelaysMs.length - 1)]!;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.queue.push(pending);
      this.pump();
    }, delay);
    this.timers.add(timer);
  }

  /** Lambda's invocation record for a destination (the shape documented for on-failure destinations). */
  private async toDestination(pending: Pending, condition: string): Promise<void> {
    if (!this.config.onFailureQueueUrl) return;
    const record = {
      version: "1.0",
      timestamp: new Date().toISOString(),
      requestContext: {
        requestId: pending.requestId,
        functionArn: `${this.host.fn.arn}:$LATEST`,
        condition,
        approximateInvokeCount: pending.attempts,
      },
      requestPayload: pending.event,
      responseContext: { statusCode: 200, executedVersion: "$LATEST", functionError: "Unhandled" },
      responsePayload: pending.last?.error,
    };
    await this.roleSqs.send(this.config.onFailureQueueUrl, JSON.stringify(record));
  }

  private checkIdle(): void {
    if (this.queue.length || this.running || this.timers.size) return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  /** Resolves once no event is queued, running or waiting for a retry. */
  idle(): Promise<void> {
    return new Promise((resolve) => {
      this.idleWaiters.push(resolve);
      this.checkIdle();
    });
  }

  stop(): void {
    this.polling = false;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}

export interface SqsPollerOptions {
  queueUrl: string;
  queueArn: string;
  region: string;
  batchSize: number;
  /** MaximumBatchingWindowInSeconds (0 for FIFO queues, which do not have one). */
  batchingWindowSeconds: number;
  reportBatchItemFailures: boolean;
  /** Lambda starts with 5 pollers on a queue (fewer with a maximum concurrency). */
  pollers?: number;
}

export class SqsPoller {
  private running = false;
  private loops: Promise<void>[] = [];
  readonly invocations: Invocation[] = [];
  readonly stats = { batches: 0, throttledBatches: 0, deleted: 0, reportedFailures: 0, failedBatches: 0 };

  constructor(
    private readonly host: LambdaHost,
    /** The function's role: Lambda polls with it. */
    private readonly roleSqs: Sqs,
    private readonly opts: SqsPollerOptions,
  ) {}

  start(): void {
    this.running = true;
    this.loops = Array.from({ length: this.opts.pollers ?? 5 }, () => this.loop());
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  private async loop(): Promise<void> {
    const { queueUrl } = this.opts;
    while (this.running) {
      // Lambda long-polls. moto decides which FIFO message groups are in flight when a poll starts, so a poll
      // that waits would hand out messages of a group another batch holds: short polls instead. And moto does
      // not lock a group between that check and the receipt, so two receives at the same moment can both get
      // messages of one group: the pollers take turns receiving (each still invokes on its own).
      const messages = await this.takeTurn(() => this.batch());
      if (!messages.length) {
        // (A receive costs moto time in proportion to the queue's length: an idle poller waits a second.)
        await new Promise((r) => setTimeout(r, 1000));
        continue;
      }
      this.stats.batches++;
      const pending = this.host.tryInvoke(
        lambdaSqsEvent(messages, { queueArn: this.opts.queueArn, region: this.opts.region }),
      );
      if (!pending) {
        // Throttled: the batch goes back to the queue when its visibility timeout ends, one receive spent.
        this.stats.throttledBatches++;
        continue;
      }
      const result = await pending;
      this.invocations.push(result);
      const failed = this.failures(result, messages);
      if (failed.size === messages.length) this.stats.failedBatches++;
      else this.stats.reportedFailures += failed.size;
      // One DeleteMessage per message: AWS authorises DeleteMessageBatch with sqs:DeleteMessage, moto wants
      // sqs:DeleteMessageBatch, which the role (rightly) does not have.
      for (const m of messages) {
        if (failed.has(m.MessageId)) continue;
        await this.roleSqs.delete(queueUrl, m.ReceiptHandle);
        this.stats.deleted++;
      }
    }
  }

  /**
   * One batch: up to the batch size, receiving again (SQS gives at most 10 a call) while the batching window
   * lasts; without a window, what one receive gives.
   */
  private async batch(): Promise<SqsMessage[]> {
    const { queueUrl, batchSize, batchingWindowSeconds } = this.opts;
    const until = Date.now() + batchingWindowSeconds * 1000;
    const messages: SqsMessage[] = [];
    do {
      const got = await this.roleSqs.receive(queueUrl, { max: Math.min(10, batchSize - messages.length) });
      messages.push(...got);
      if (!got.length && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
    } while (messages.length < batchSize && Date.now() < until);
    return messages;
  }

  private turn: Promise<unknown> = Promise.resolve();

  private takeTurn<T>(call: () => Promise<T>): Promise<T> {
    const next = this.turn.then(call, call);
    this.turn = next.catch(() => {});
    return next;
  }

  /** The ids of the messages to keep: all on a function error or a malformed response. */
  private failures(result: Invocation, messages: SqsMessage[]): Set<string> {
    const all = new Set(messages.map((m) => m.MessageId));
    if (result.error) return all;
    if (!this.opts.reportBatchItemFailures) return new Set();
    const reported = (result.payload as { batchItemFailures?: { itemIdentifier?: string }[] } | null)
      ?.batchItemFailures;
    if (!reported?.length) return new Set();
    const ids = reported.map((f) => f.itemIdentifier);
    // Lambda treats an empty or unknown identifier as a failure of the whole batch.
    if (ids.some((id) => !id || !all.has(id))) return all;
    return new Set(ids as string[]);
  }
}

/** Received messages as Lambda's event source mapping hands them to the function. */
export function lambdaSqsEvent(messages: SqsMessage[], from: { queueArn: string; region: string }) {
  return {
    Records: messages.map((m) => ({
      messageId: m.MessageId,
      receiptHandle: m.ReceiptHandle,
      body: m.Body,
      attributes: m.Attributes ?? {},
      messageAttributes: m.MessageAttributes ?? {},
      md5OfBody: m.MD5OfBody,
      eventSource: "aws:sqs",
      eventSourceARN: from.queueArn,
      awsRegion: from.region,
    })),
  };
}

/**
 * The invocation: parse the event, run each object through the pipeline one after another (Lark takes
 * one upload at a time anyway), log one line per object, emit metrics, and report failures the way
 * the delivery path expects: a throw for S3 and EventBridge, batchItemFailures for SQS.
 */
import type { Context, SQSBatchResponse } from "aws-lambda";
import { ConfigurationError, Failure, TransientError } from "./errors";
import { type ObjectRef, type ParsedEvent, parseEvent, type SqsMessageObjects } from "./event";
import { createLogger, type Logger } from "./log";
import { Metrics } from "./metrics";
import { type Outcome, processObject } from "./pipeline";
import type { Runtime } from "./runtime";

export interface ObjectReport {
  bucket: string;
  key: string;
  versionId?: string;
  outcome: Outcome;
  durationMs: number;
}

export type HandlerResult = SQSBatchResponse | { ignored: "s3:TestEvent" } | { objects: ObjectReport[] };

export class InvocationFailedError extends TransientError {
  override readonly name = "InvocationFailedError";
}

export interface HandlerOptions {
  runtime: () => Runtime;
  /**
   * The `service` of the log lines and the metrics' `Service` dimension. In Lambda the function's name, which
   * differs per stage and region: two deployments in one account keep their metrics and alarms apart.
   */
  service?: string;
  logger?: Logger;
  /** Called with each object's report, e.g. by the local runner to print a line. */
  onReport?: (report: ObjectReport) => void;
  /** Where the EMF metric lines go (stdout by default, where CloudWatch picks them up). */
  writeMetrics?: (line: string) => void;
  /** Time kept back from the Lambda timeout to fail cleanly rather than be killed mid-write. */
  reserveMs?: (remainingMs: number) => number;
}

const DEFAULT_SERVICE = "upload-to-lark";

/** Without a Lambda clock (a local run), Lambda's own maximum. */
const DEFAULT_BUDGET_MS = 15 * 60_000;

export function createHandler(opts: HandlerOptions) {
  const service = opts.service || DEFAULT_SERVICE;
  const baseLog = opts.logger ?? createLogger({ service });
  const reserve = opts.reserveMs ?? ((remaining: number) => Math.min(10_000, remaining * 0.2));

  return async function handler(event: unknown, context?: Partial<Context>): Promise<HandlerResult> {
    const log = baseLog.child({ requestId: context?.awsRequestId });
    const remaining = remainingMs(context);
    // Whole milliseconds: every timer and timeout below is derived from it, and undici takes integers only.
    const deadline = Math.floor(Date.now() + remaining - reserve(remaining));
    const parsed = parse(event, log);
    log.debug("invoked", { source: parsed.source, remainingMs: remaining, deadline: new Date(deadline).toISOString() });
    if (parsed.source === "s3-test-event") {
      log.info("ignored s3:TestEvent");
      return { ignored: "s3:TestEvent" };
    }
    const metrics = new Metrics();
    try {
      const invocation = new Invocation(start(opts.runtime, log, metrics), log, metrics, deadline, opts.onReport);
      return parsed.source === "sqs"
        ? await invocation.messages(parsed.messages)
        : await invocation.objects(parsed.objects);
    } finally {
      metrics.flush(opts.writeMetrics, service);
    }
  };
}

/**
 * What the host says is left, as a number Lambda would give: hosts differ (fractions, a few hundred ms, 0, or
 * no clock at all, which is a local run with Lambda's own maximum).
 */
function remainingMs(context?: Partial<Context>): number {
  const reported = context?.getRemainingTimeInMillis?.();
  if (typeof reported !== "number" || !Number.isFinite(reported)) return DEFAULT_BUDGET_MS;
  return Math.max(0, reported);
}

function parse(event: unknown, log: Logger): ParsedEvent {
  try {
    return parseEvent(event);
  } catch (err) {
    log.error("malformed event", { error: err });
    throw err;
  }
}

function start(runtime: () => Runtime, log: Logger, metrics: Metrics): Runtime {
  try {
    return runtime();
  } catch (err) {
    // A bad setting is the likeliest failure of a new deployment: make it as visible as any other.
    log.error("cannot start", { error: err });
    metrics.add("ConfigurationErrors", "Count");
    throw err;
  }
}

/** One invocation's objects, one after another, against one deadline. */
class Invocation {
  /** A misconfigured function fails every object the same way: don't hammer Lark or S3 to learn it again. */
  private configProblem?: ConfigurationError;

  constructor(
    private readonly runtime: Runtime,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    private readonly deadline: number,
    private readonly onReport?: (report: ObjectReport) => void,
  ) {}

  /** S3 and EventBridge: any failure fails the invocation, so Lambda retries it and then dead-letters it. */
  async objects(refs: ObjectRef[]): Promise<HandlerResult> {
    const reports: ObjectReport[] = [];
    for (const ref of refs) reports.push(await this.run(ref));
    const failed = reports.filter((r) => r.outcome.kind === "failed");
    if (!failed.length) return { objects: reports };
    const first = failed[0]!;
    const error = (first.outcome as Extract<Outcome, { kind: "failed" }>).error;
    throw new InvocationFailedError(
      `${failed.length} of ${reports.length} object(s) failed and will be retried (first: ${first.key}: ${error.message})`,
    );
  }

  /** SQS: only the messages whose objects failed go back to the queue. */
  async messages(messages: SqsMessageObjects[]): Promise<SQSBatchResponse> {
    const batchItemFailures: SQSBatchResponse["batchItemFailures"] = [];
    for (const message of messages) {
      if (message.malformed) {
        this.log.error("malformed SQS message", { messageId: message.messageId, error: message.malformed });
        batchItemFailures.push({ itemIdentifier: message.messageId });
        continue;
      }
      let failed = false;
      for (const ref of message.objects) failed = (await this.run(ref)).outcome.kind === "failed" || failed;
      if (failed) batchItemFailures.push({ itemIdentifier: message.messageId });
    }
    return { batchItemFailures };
  }

  private async run(ref: ObjectRef): Promise<ObjectReport> {
    const started = Date.now();
    const outcome = await this.attempt(ref);
    if (outcome.kind === "failed" && outcome.error instanceof ConfigurationError) this.configProblem = outcome.error;
    const report = {
      bucket: ref.bucket,
      key: ref.key,
      versionId: ref.versionId,
      outcome,
      durationMs: Date.now() - started,
    };
    record(this.log, this.metrics, report);
    this.onReport?.(report);
    return report;
  }

  private async attempt(ref: ObjectRef): Promise<Outcome> {
    if (this.configProblem) return { kind: "failed", error: this.configProblem };
    // Starting now could mean being killed mid-write; the event is retried instead.
    if (Date.now() >= this.deadline) {
      return { kind: "failed", error: new TransientError("not started: the invocation is out of time") };
    }
    return processObject(ref, this.runtime, {
      deadline: this.deadline,
      onRetry: (err, attempt, delayMs) => {
        this.metrics.add("Retries", "Count");
        this.log.warn("retrying", { bucket: ref.bucket, key: ref.key, attempt, delayMs, error: err });
      },
      debug: this.log.debugEnabled
        ? (message, fields) => this.log.debug(message, { bucket: ref.bucket, key: ref.key, ...fields })
        : undefined,
    });
  }
}

/** One log line and the metrics of one object's outcome. */
function record(log: Logger, metrics: Metrics, report: ObjectReport): void {
  const { outcome } = report;
  const fields: Record<string, unknown> = {
    bucket: report.bucket,
    key: report.key,
    versionId: report.versionId,
    outcome: outcome.kind,
    durationMs: report.durationMs,
  };
  switch (outcome.kind) {
    case "uploaded":
      Object.assign(fields, {
        size: outcome.size,
        target: outcome.target,
        replaces: outcome.replaces,
        fileToken: outcome.fileToken,
        route: outcome.route,
        attempts: outcome.calls,
      });
      metrics.add("Uploaded", "Count");
      if (outcome.checksumRefused) {
        // Lark took the file without our checksum: worth knowing, but nothing the user must do.
        metrics.add("ChecksumRefused", "Count");
        log.warn("Lark refused the checksum; the file was sent again without it", fields);
      }
      if (outcome.shareFailures) {
        metrics.add("ShareFailures", "Count", outcome.shareFailures.length);
        log.warn("Lark refused to share what the app made", { ...fields, shareFailures: outcome.shareFailures });
      }
      if (outcome.importWarnings) {
        log.warn("Lark imported the file but left something out", {
          ...fields,
          importWarnings: outcome.importWarnings,
        });
      }
      metrics.add("UploadedBytes", "Bytes", outcome.size);
      if (outcome.larkMs !== undefined) metrics.larkLatency(outcome.larkMs);
      log.info("uploaded", fields);
      return;
    case "skipped":
      Object.assign(fields, { reason: outcome.reason, fileToken: outcome.fileToken, detail: outcome.detail });
      metrics.add("Skipped", "Count");
      log.info("skipped", fields);
      return;
    case "rejected":
      Object.assign(fields, {
        code: outcome.code,
        reason: outcome.reason,
        size: outcome.size,
        larkCode: outcome.larkCode,
      });
      metrics.rejected(outcome.code);
      log.warn("rejected", fields);
      return;
    case "failed": {
      const { error } = outcome;
      // A file token here means Lark has the file: the retry only writes the metadata (see pipeline writeBack).
      Object.assign(fields, {
        error,
        attempts: outcome.calls,
        fileToken: outcome.fileToken,
        larkCode: error instanceof Failure ? error.larkCode : undefined,
      });
      metrics.add(error instanceof ConfigurationError ? "ConfigurationErrors" : "TransientFailures", "Count");
      log.error("failed", fields);
      return;
    }
  }
}

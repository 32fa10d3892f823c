/**
 * The invocation: parse the event, run each object through the pipeline one after another (Lark takes
 * one upload at a time anyway), log one line per object, emit metrics, and report failures the way
 * the delivery path expects: a throw for S3 and EventBridge, batchItemFailures for SQS.
 */
import type { Context, SQSBatchResponse } from "aws-lambda";
import { ConfigurationError, TransientError } from "./errors";
import { type ObjectRef, parseEvent } from "./event";
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

export class InvocationFailedError extends Error {
  override readonly name = "InvocationFailedError";
}

export interface HandlerOptions {
  runtime: () => Runtime;
  logger?: Logger;
  /** Called with each object's report, e.g. by the local runner to print a line. */
  onReport?: (report: ObjectReport) => void;
  /** Where the EMF metric lines go (stdout by default, where CloudWatch picks them up). */
  writeMetrics?: (line: string) => void;
  /** Time kept back from the Lambda timeout to fail cleanly rather than be killed mid-write. */
  reserveMs?: (remainingMs: number) => number;
}

const DEFAULT_BUDGET_MS = 15 * 60_000;

export function createHandler(opts: HandlerOptions) {
  const baseLog = opts.logger ?? createLogger({ service: "upload-to-lark" });
  const reserve = opts.reserveMs ?? ((remaining: number) => Math.min(10_000, remaining * 0.2));

  return async function handler(event: unknown, context?: Partial<Context>): Promise<HandlerResult> {
    const log = baseLog.child({ requestId: context?.awsRequestId });
    const remaining = context?.getRemainingTimeInMillis?.() ?? DEFAULT_BUDGET_MS;
    const deadline = Date.now() + remaining - reserve(remaining);
    let parsed: ReturnType<typeof parseEvent>;
    try {
      parsed = parseEvent(event);
    } catch (err) {
      log.error("malformed event", { error: err });
      throw err;
    }
    if (parsed.source === "s3-test-event") {
      log.info("ignored s3:TestEvent");
      return { ignored: "s3:TestEvent" };
    }

    const metrics = new Metrics();
    let runtime: Runtime;
    try {
      runtime = opts.runtime();
    } catch (err) {
      // A bad setting is the likeliest failure of a new deployment: make it as visible as any other.
      log.error("cannot start", { error: err });
      metrics.add("ConfigurationErrors", "Count");
      metrics.flush(opts.writeMetrics);
      throw err;
    }
    let configProblem: ConfigurationError | undefined;
    const attempt = (ref: ObjectRef): Promise<Outcome> | Outcome => {
      // A misconfigured function fails every object the same way: don't hammer Lark or S3 to learn it again.
      if (configProblem) return { kind: "failed", error: configProblem };
      // Starting now could mean being killed mid-write; the event is retried instead.
      if (Date.now() >= deadline)
        return { kind: "failed", error: new TransientError("not started: the invocation is out of time") };
      return processObject(ref, runtime, {
        deadline,
        onRetry: (err, attempt, delayMs) => {
          metrics.add("Retries", "Count");
          log.warn("retrying", { bucket: ref.bucket, key: ref.key, attempt, delayMs, error: err });
        },
      });
    };
    const run = async (ref: ObjectRef): Promise<ObjectReport> => {
      const started = Date.now();
      const outcome = await attempt(ref);
      if (outcome.kind === "failed" && outcome.error instanceof ConfigurationError) configProblem = outcome.error;
      const report: ObjectReport = {
        bucket: ref.bucket,
        key: ref.key,
        versionId: ref.versionId,
        outcome,
        durationMs: Date.now() - started,
      };
      record(log, metrics, report);
      opts.onReport?.(report);
      return report;
    };

    try {
      if (parsed.source === "sqs") {
        const batchItemFailures: SQSBatchResponse["batchItemFailures"] = [];
        for (const message of parsed.messages) {
          if (message.malformed) {
            log.error("malformed SQS message", { messageId: message.messageId, error: message.malformed });
            batchItemFailures.push({ itemIdentifier: message.messageId });
            continue;
          }
          let failed = false;
          for (const ref of message.objects) failed = (await run(ref)).outcome.kind === "failed" || failed;
          if (failed) batchItemFailures.push({ itemIdentifier: message.messageId });
        }
        return { batchItemFailures };
      }

      const reports: ObjectReport[] = [];
      for (const ref of parsed.objects) reports.push(await run(ref));
      const failed = reports.filter((r) => r.outcome.kind === "failed");
      if (failed.length) {
        const first = failed[0]!.outcome as Extract<Outcome, { kind: "failed" }>;
        throw new InvocationFailedError(
          `${failed.length} of ${reports.length} object(s) failed and will be retried (first: ${failed[0]!.key}: ${first.error.message})`,
        );
      }
      return { objects: reports };
    } finally {
      metrics.flush(opts.writeMetrics);
    }
  };
}

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
        parent: outcome.parent,
        fileToken: outcome.fileToken,
        route: outcome.route,
        attempts: outcome.calls,
      });
      metrics.add("Uploaded", "Count");
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
        larkCode: larkCodeOf(outcome.code),
      });
      metrics.rejected(outcome.code);
      log.warn("rejected", fields);
      return;
    case "failed":
      // A file token here means Lark has the file: the retry only writes the metadata (see pipeline writeBack).
      Object.assign(fields, {
        error: outcome.error,
        attempts: outcome.calls,
        fileToken: outcome.fileToken,
        larkCode: (outcome.error as { larkCode?: number }).larkCode,
      });
      metrics.add(outcome.error instanceof ConfigurationError ? "ConfigurationErrors" : "TransientFailures", "Count");
      log.error("failed", fields);
      return;
  }
}

/** "lark-1061044" -> 1061044, so Lark's codes can be queried as numbers in every outcome line. */
function larkCodeOf(code: string): number | undefined {
  return code.startsWith("lark-") ? Number(code.slice(5)) : undefined;
}

/**
 * The test stack: an S3 server and the Lark emulator over real HTTP, and the real handler wired to them
 * through the same runtime the Lambda builds. Events are the ones AWS would send for each write.
 *
 * The S3 server is s3rver in process by default. With S3_BACKEND=rgw it is the Ceph radosgw that
 * AWS_ENDPOINT_URL_S3 and the AWS_* credentials point at (`npm run test:rgw` starts one), with a fresh
 * bucket per stack.
 */

import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import {
  CreateBucketCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  type PutObjectCommandInput,
  type S3Client,
} from "@aws-sdk/client-s3";
import type { Context } from "aws-lambda";
import { loadConfig } from "../../lib/config";
import { createHandler } from "../../lib/handler";
import { createLogger, type Level } from "../../lib/log";
import { createRuntime, type Runtime } from "../../lib/runtime";
import { createS3Client } from "../../lib/s3-client";
import { encodeTags } from "../../lib/s3-objects";
import { type LarkEmulator, type LarkEmulatorOptions, startLarkEmulator } from "../../local/lark-emulator";
import {
  type AwsS3Record,
  LOCAL_REGION,
  type LocalS3,
  startLocalS3,
  toAwsRecord,
  useLocalCredentials,
} from "../../local/local-s3";

export const BACKEND: "s3rver" | "rgw" = process.env.S3_BACKEND === "rgw" ? "rgw" : "s3rver";

export interface Stack {
  bucket: string;
  s3: S3Client;
  /** s3rver only: its request log and its own events. */
  localS3?: LocalS3;
  lark: LarkEmulator;
  runtime: Runtime;
  handler: ReturnType<typeof createHandler>;
  logs: Record<string, any>[];
  metrics: Record<string, any>[];
  env: Record<string, string>;
  /** PutObject with its tags and the event AWS would send for it. */
  put(key: string, body: Buffer | string, opts?: PutOptions): Promise<{ Records: AwsS3Record[] }>;
  head(key: string): Promise<Awaited<ReturnType<S3Client["send"]>> & Record<string, any>>;
  tags(key: string): Promise<Record<string, string>>;
  close(): Promise<void>;
}

export interface PutOptions extends Partial<Omit<PutObjectCommandInput, "Bucket" | "Key" | "Body" | "Tagging">> {
  tags?: Record<string, string>;
  eventName?: string;
}

export const TO_DOCX = { "lark-parent-type": "docx_file", "lark-parent-node": "doxcnTarget01" };

export interface StackOptions {
  env?: Record<string, string>;
  emulator?: LarkEmulatorOptions;
  versioned?: boolean;
  /** Lark's windows shrunk by this factor, in the emulator and the function's pacers alike. */
  timeScale?: number;
  logLevel?: Level;
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const dir = await mkdtemp(join(tmpdir(), "s3-to-lark-"));
  let localS3: LocalS3 | undefined;
  let bucket = "inbox";
  let endpoint: string;
  if (BACKEND === "rgw") {
    endpoint = process.env.AWS_ENDPOINT_URL_S3 ?? "";
    if (!endpoint)
      throw new Error('S3_BACKEND=rgw needs AWS_ENDPOINT_URL_S3 and credentials: eval "$(local/rgw/rgw.sh start)"');
    bucket = `inbox-${randomUUID().slice(0, 8)}`;
  } else {
    localS3 = await startLocalS3({ directory: dir, buckets: [bucket] });
    endpoint = localS3.endpoint;
    // The runtime's S3 client finds its credentials the standard way, as in Lambda.
    useLocalCredentials();
  }
  const lark = await startLarkEmulator({ ...opts.emulator, timeScale: opts.timeScale ?? opts.emulator?.timeScale });
  const env: Record<string, string> = {
    LARK_APP_ID: lark.appId,
    LARK_APP_SECRET: lark.appSecret,
    LARK_BASE_URL: lark.url,
    AWS_ENDPOINT_URL_S3: endpoint,
    ...(BACKEND === "rgw" ? { S3_RADOSGW_WORKAROUNDS: "true" } : {}),
    // Tests put tags with the object; the wait for late tags has tests of its own.
    TAG_WAIT_MS: "0",
    ...opts.env,
  };
  const runtime = createRuntime(loadConfig(env), { timeScale: opts.timeScale });
  const logs: Record<string, any>[] = [];
  const metrics: Record<string, any>[] = [];
  const lambdaHandler = createHandler({
    runtime: () => runtime,
    logger: createLogger({}, { level: opts.logLevel, write: (line) => logs.push(JSON.parse(line)) }),
    writeMetrics: (line) => metrics.push(JSON.parse(line)),
  });
  const s3 = createS3Client({ endpoint, region: process.env.AWS_REGION ?? LOCAL_REGION });
  if (BACKEND === "rgw") {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    if (opts.versioned)
      await s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: "Enabled" } }));
  } else if (opts.versioned) {
    throw new Error("s3rver has no versioning: run this with S3_BACKEND=rgw");
  }

  const stack: Stack = {
    bucket,
    s3,
    localS3,
    lark,
    runtime,
    // Every invocation gets a Lambda-like context: a 30 s timeout, on a clock that counts in fractions of a ms.
    handler: (event, context) => lambdaHandler(event, context ?? lambdaContext(30_000)),
    logs,
    metrics,
    env,
    async put(key, body, { tags, eventName, ...rest } = {}) {
      const Tagging = tags ? encodeTags(tags) : undefined;
      const out = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, Tagging, ...rest }));
      const size = typeof body === "string" ? Buffer.byteLength(body) : body.length;
      return { Records: [toAwsRecord(bucket, key, size, out.ETag ?? "", eventName, out.VersionId)] };
    },
    head: (key) => s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key })) as never,
    async tags(key) {
      const out = await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key }));
      return Object.fromEntries((out.TagSet ?? []).map((t) => [t.Key!, t.Value!]));
    },
    async close() {
      s3.destroy();
      await Promise.all([localS3?.close(), lark.close()]);
      await rm(dir, { recursive: true, force: true });
    },
  };
  return stack;
}

/**
 * A context as Lambda gives it, for a function with `timeoutMs` of which `usedMs` are gone. The clock
 * counts in fractions of a millisecond (performance.now()), as test hosts and local runners do.
 */
export function lambdaContext(timeoutMs: number, usedMs = 0): Partial<Context> {
  const end = performance.now() + timeoutMs - usedMs;
  return {
    awsRequestId: randomUUID(),
    functionName: "upload-to-lark",
    getRemainingTimeInMillis: () => end - performance.now(),
  };
}

/** Bytes that differ per call, so each test file has its own content and checksum. */
export function bytes(size: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(size);
  let x = seed * 2654435761;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

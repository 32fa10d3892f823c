/**
 * The test stack: s3rver and the Lark emulator over real HTTP, and the real handler wired to them
 * through the same runtime the Lambda builds. Events are the ones AWS would send for each write.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  GetObjectTaggingCommand,
  HeadObjectCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  S3Client,
  type PutObjectCommandInput,
} from "@aws-sdk/client-s3";
import { loadConfig } from "../../lib/config";
import { createHandler } from "../../lib/handler";
import { createLogger } from "../../lib/log";
import { createRuntime, type Runtime } from "../../lib/runtime";
import { startLarkEmulator, type LarkEmulator, type LarkEmulatorOptions } from "../../local/lark-emulator";
import { LOCAL_CREDENTIALS, LOCAL_REGION, startLocalS3, toAwsRecord, type AwsS3Record, type LocalS3 } from "../../local/local-s3";

export const BUCKET = "inbox";

export interface Stack {
  s3: S3Client;
  localS3: LocalS3;
  lark: LarkEmulator;
  runtime: Runtime;
  handler: ReturnType<typeof createHandler>;
  logs: Record<string, any>[];
  metrics: Record<string, any>[];
  env: Record<string, string>;
  /** PutObject (+ PutObjectTagging, since s3rver ignores the Tagging header) and the event AWS would send. */
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

export async function startStack(opts: { env?: Record<string, string>; emulator?: LarkEmulatorOptions } = {}): Promise<Stack> {
  const dir = await mkdtemp(join(tmpdir(), "s3-to-lark-"));
  const localS3 = await startLocalS3({ directory: dir, buckets: [BUCKET] });
  const lark = await startLarkEmulator(opts.emulator);
  // The runtime's S3 client finds its credentials the standard way, as in Lambda.
  Object.assign(process.env, {
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    AWS_REGION: LOCAL_REGION,
  });
  const env: Record<string, string> = {
    LARK_APP_ID: lark.appId,
    LARK_APP_SECRET: lark.appSecret,
    LARK_BASE_URL: lark.url,
    AWS_ENDPOINT_URL_S3: localS3.endpoint,
    ...opts.env,
  };
  const runtime = createRuntime(loadConfig(env));
  const logs: Record<string, any>[] = [];
  const metrics: Record<string, any>[] = [];
  const handler = createHandler({
    runtime: () => runtime,
    logger: createLogger({}, { write: (line) => logs.push(JSON.parse(line)) }),
    writeMetrics: (line) => metrics.push(JSON.parse(line)),
  });
  const s3 = new S3Client({
    endpoint: localS3.endpoint,
    forcePathStyle: true,
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });

  const stack: Stack = {
    s3,
    localS3,
    lark,
    runtime,
    handler,
    logs,
    metrics,
    env,
    async put(key, body, { tags, eventName, ...rest } = {}) {
      const out = await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body, ...rest }));
      if (tags) await s3.send(new PutObjectTaggingCommand({ Bucket: BUCKET, Key: key, Tagging: { TagSet: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) } }));
      const size = typeof body === "string" ? Buffer.byteLength(body) : body.length;
      return { Records: [toAwsRecord(BUCKET, key, size, out.ETag ?? "", eventName)] };
    },
    head: (key) => s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key })) as never,
    async tags(key) {
      const out = await s3.send(new GetObjectTaggingCommand({ Bucket: BUCKET, Key: key }));
      return Object.fromEntries((out.TagSet ?? []).map((t) => [t.Key!, t.Value!]));
    },
    async close() {
      s3.destroy();
      await Promise.all([localS3.close(), lark.close()]);
      await rm(dir, { recursive: true, force: true });
    },
  };
  return stack;
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

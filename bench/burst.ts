/**
 * Part 4: a burst of small objects against the emulator's 5-per-window limit, at a time scale, processed
 * as SQS-shaped batches of 10 by one handler in this process, one invocation after another (as one Lambda
 * execution environment would). Total time against the floor the limit imposes; violations the emulator
 * counted; duplicates and misses counted by file name; every object's token checked against Lark's.
 */
import { HeadObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { toAwsRecord } from "../local/local-s3";
import { type BenchFunction, makeFunction, putObject } from "./function";
import type { Servers } from "./servers-client";
import { median, pool, round, sleep } from "./util";

export const PER_WINDOW = 5;
export const BATCH = 10;

/** floor(ms) = objects / 5 per window * window; the window is 1 s scaled by timeScale. */
export const floorMs = (objects: number, timeScale: number) => (objects / PER_WINDOW) * 1000 * timeScale;

export interface BurstResult {
  timeScale: number;
  objects: number;
  uploadsPerSecond: number;
  windowMs: number;
  floorMs: number;
  totalMs: number;
  ratio: number;
  rateViolations: number;
  concurrencyViolations: number;
  uploadRequests: number;
  duplicates: number;
  missing: number;
  tokensOk: number;
  tokenMismatches: number;
  batchItemFailures: number;
  retries: number;
  /** Per-object work (ms) measured in the calibration, and its share of a window at this scale. */
  perObjectMs: number;
  windowShareMs: number;
}

function sqsEvent(records: ReturnType<typeof toAwsRecord>[], batch: number) {
  return {
    Records: records.map((r, i) => ({
      messageId: `m-${batch}-${i}`,
      receiptHandle: `rh-${batch}-${i}`,
      body: JSON.stringify({ Records: [r] }),
      attributes: {},
      messageAttributes: {},
      md5OfBody: "",
      eventSource: "aws:sqs",
      eventSourceARN: "arn:aws:sqs:us-east-1:000000000000:upload-queue",
      awsRegion: "us-east-1",
    })),
  };
}

async function putMany(s3: S3Client, bucket: string, prefix: string, count: number, size: number) {
  const body = Buffer.alloc(size, 5);
  return pool(
    Array.from({ length: count }, (_, i) => i),
    8,
    async (i) => {
      const key = `${prefix}/file-${String(i).padStart(4, "0")}.bin`;
      const eTag = await putObject(s3, bucket, key, body);
      return toAwsRecord(bucket, key, size, eTag);
    },
  );
}

async function runBatches(fn: BenchFunction, records: ReturnType<typeof toAwsRecord>[]): Promise<number> {
  let failures = 0;
  for (let b = 0; b * BATCH < records.length; b++) {
    const out = (await fn.handler(sqsEvent(records.slice(b * BATCH, (b + 1) * BATCH), b))) as {
      batchItemFailures: unknown[];
    };
    failures += out.batchItemFailures.length;
  }
  return failures;
}

/**
 * The work the function does per object when nothing paces it: the same small objects, same batches,
 * against an emulator with no effective limit. Returns the median ms per object over a few batches.
 */
export async function calibrate(opts: {
  servers: Servers;
  s3: S3Client;
  bucket: string;
  size: number;
  env: Record<string, string>;
}): Promise<number> {
  const emulator = await opts.servers.startEmulator({ ratePerWindow: 100_000 });
  const fn = makeFunction(opts.servers.s3Endpoint, emulator, opts.env);
  const records = await putMany(opts.s3, opts.bucket, "calibrate", 60, opts.size);
  await runBatches(fn, records.slice(0, 10)); // warm-up
  const perObject: number[] = [];
  for (let b = 1; b < 6; b++) {
    const start = performance.now();
    await runBatches(fn, records.slice(b * BATCH, (b + 1) * BATCH));
    perObject.push((performance.now() - start) / BATCH);
  }
  await emulator.stop();
  return median(perObject);
}

export async function measureBurst(opts: {
  servers: Servers;
  s3: S3Client;
  bucket: string;
  timeScale: number;
  objects: number;
  size: number;
  env: Record<string, string>;
  perObjectMs: number;
  log: (m: string) => void;
}): Promise<BurstResult> {
  const { servers, s3, bucket, timeScale, objects } = opts;
  const uploadsPerSecond = Math.round(PER_WINDOW / timeScale);
  const emulator = await servers.startEmulator({ timeScale, ratePerWindow: PER_WINDOW });
  let retries = 0;
  const fn = makeFunction(servers.s3Endpoint, emulator, opts.env, timeScale);
  const prefix = `burst-${timeScale}`;

  // Warm-up (token, connections) on separate objects, then a clean slate on the emulator.
  const warm = await putMany(s3, bucket, `${prefix}-warm`, 5, opts.size);
  await runBatches(fn, warm);
  const records = await putMany(s3, bucket, prefix, objects, opts.size);
  await sleep(2 * 1000 * timeScale + 50);
  await emulator.reset();
  fn.outcomes.length = 0;

  const start = performance.now();
  const batchItemFailures = await runBatches(fn, records);
  const totalMs = performance.now() - start;
  retries = fn.outcomes.filter((l) => l.includes('"retrying"')).length;

  const stats = await emulator.stats();
  const files = await emulator.files();
  const byName = new Map<string, { count: number; tokens: string[] }>();
  for (const f of files) {
    const e = byName.get(f.name) ?? { count: 0, tokens: [] };
    e.count++;
    e.tokens.push(f.fileToken);
    byName.set(f.name, e);
  }
  const names = records.map((r) => decodeURIComponent(r.s3.object.key).split("/").pop()!);
  let duplicates = 0;
  let missing = 0;
  for (const name of names) {
    const e = byName.get(name);
    if (!e) missing++;
    else duplicates += e.count - 1;
  }
  // Files Lark got that are not in this burst (none expected after the reset).
  duplicates += files.filter((f) => !names.includes(f.name)).length;

  let tokensOk = 0;
  let tokenMismatches = 0;
  await pool(records, 8, async (r) => {
    const key = decodeURIComponent(r.s3.object.key);
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    const token = head.Metadata?.["lark-file-token"];
    const issued = byName.get(key.split("/").pop()!)?.tokens ?? [];
    if (token && issued.includes(token)) tokensOk++;
    else tokenMismatches++;
  });
  await emulator.stop();
  const floor = floorMs(objects, timeScale);
  opts.log(
    `burst timeScale ${timeScale}: ${round(totalMs, 0)} ms for ${objects} objects, floor ${floor} ms, ratio ${round(totalMs / floor)}`,
  );
  return {
    timeScale,
    objects,
    uploadsPerSecond,
    windowMs: 1000 * timeScale,
    floorMs: floor,
    totalMs: round(totalMs, 0),
    ratio: round(totalMs / floor),
    rateViolations: stats.rateViolations,
    concurrencyViolations: stats.concurrencyViolations,
    uploadRequests: stats.requests,
    duplicates,
    missing,
    tokensOk,
    tokenMismatches,
    batchItemFailures,
    retries,
    perObjectMs: round(opts.perObjectMs, 2),
    windowShareMs: round((1000 * timeScale) / PER_WINDOW, 2),
  };
}

export const BURST_OBJECT_BYTES = 4 * 1024;

/**
 * Part 1: the function's end-to-end time per object against the lower bound, measured in the same run on
 * the same servers, interleaved, each run on a fresh object. Also a per-phase trace of the product (an
 * instrumented copy of the function, run as its own interleaved variant) and of the lower bound.
 */
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import type { Socket } from "node:net";
import { GetObjectTaggingCommand, HeadObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import ADLER32 from "adler-32";
import { toAwsRecord } from "../local/local-s3";
import { type BenchFunction, deleteObject, LowerBound, makeFunction, putObject } from "./function";
import type { EmulatorHandle, Servers } from "./servers-client";
import { freshBody, MiB, median, pool, quantile, round } from "./util";

/** As on AWS: no S3-compatible-store workarounds. */
export const FN_ENV_AWS: Record<string, string> = {};
/** With radosgw's workarounds (one more GetObjectTagging per object). */
export const FN_ENV_RADOSGW = { S3_RADOSGW_WORKAROUNDS: "true" };

type Phase = "headTags" | "get" | "post" | "copy" | "other";

export interface SizeResult {
  size: number;
  rounds: number;
  /** Medians in ms of each variant. */
  fnMs: number;
  fnVerifyMs: number;
  fnTracedMs: number;
  lowerMs: number;
  fnP25: number;
  fnP75: number;
  lowerP25: number;
  lowerP75: number;
  /** median(fn) / median(lower bound): the headline. */
  ratio: number;
  /** The same with S3_RADOSGW_WORKAROUNDS=true. */
  ratioVerify: number;
  /** Median of the per-round ratios fn/lower (rounds pair the two on the same servers state). */
  pairedRatio: number;
  /** 95% interval of `ratio` by bootstrap over the rounds: how well this machine resolves the figure. */
  ratioCi95: [number, number];
  /** Medians of the phases of the traced function and of the lower bound, in ms. */
  fnPhases: Record<Phase, number>;
  lowerPhases: Record<Exclude<Phase, "headTags" | "other">, number>;
  /** The lower bound plus the Adler-32 computed on arrival and sent (what the product's design adds to it). */
  lowerChecksumMs: number;
  lowerChecksumPhases: Record<Exclude<Phase, "headTags" | "other">, number>;
  /** Probes: HeadObject + GetObjectTagging in parallel; GetObjectTagging alone; Adler-32 of `size` bytes. */
  probeHeadTagsMs: number;
  probeTagsMs: number;
  adlerMs: number;
}

interface Variant {
  name: "fn" | "fnVerify" | "fnTraced" | "lower" | "lowerChecksum";
  run(key: string, size: number, eTag: string): Promise<void>;
}

const now = () => performance.now();

/** Wraps the runtime's S3 and Lark calls to time each phase of one object (diagnostics only). */
function trace(fn: BenchFunction) {
  let marks: { name: string; start: number; end: number }[] = [];
  const { s3 } = fn.runtime;
  const lark = fn.runtime.lark.media;
  // Typed by the method's name, so a renamed method fails the typecheck instead of the run.
  const wrapAsync = <T extends object>(obj: T, method: keyof T & string, name: string) => {
    const target = obj as Record<string, (...a: unknown[]) => Promise<unknown>>;
    const orig = target[method]!.bind(obj);
    target[method] = async (...args: unknown[]) => {
      const start = now();
      try {
        return await orig(...args);
      } finally {
        marks.push({ name, start, end: now() });
      }
    };
  };
  wrapAsync(s3, "head", "head");
  wrapAsync(s3, "tags", "tags");
  wrapAsync(s3, "writePlacement", "copy");
  wrapAsync(lark, "uploadAll", "post");
  // GetObject: from the request until the last block of the body is read.
  const open = s3.open.bind(s3);
  s3.open = async (...args) => {
    const start = now();
    const opened = await open(...args);
    if (!opened) return opened;
    const blocks = opened.blocks.bind(opened);
    opened.blocks = async function* (n) {
      for await (const block of blocks(n)) {
        marks.push({ name: "get", start, end: now() });
        yield block;
      }
    };
    return opened;
  };
  return {
    reset: () => void (marks = []),
    phases(total: number): Record<Phase, number> {
      const span = (names: string[]) => {
        const ms = marks.filter((m) => names.includes(m.name));
        return ms.length ? Math.max(...ms.map((m) => m.end)) - Math.min(...ms.map((m) => m.start)) : 0;
      };
      const p = { headTags: span(["head", "tags"]), get: span(["get"]), post: span(["post"]), copy: span(["copy"]) };
      return { ...p, other: total - p.headTags - p.get - p.post - p.copy };
    },
  };
}

/** Ratio of medians, resampled by round (the pairs stay together), 2.5th and 97.5th percentiles. */
function bootstrapRatio(fn: number[], lower: number[], resamples = 2000): [number, number] {
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const ratios: number[] = [];
  for (let b = 0; b < resamples; b++) {
    const f: number[] = [];
    const l: number[] = [];
    for (let i = 0; i < fn.length; i++) {
      const j = Math.floor(rand() * fn.length);
      f.push(fn[j]!);
      l.push(lower[j]!);
    }
    ratios.push(median(f) / median(l));
  }
  return [round(quantile(ratios, 0.025)), round(quantile(ratios, 0.975))];
}

async function invoke(fn: BenchFunction, bucket: string, key: string, size: number, eTag: string): Promise<void> {
  const result = (await fn.handler({ Records: [toAwsRecord(bucket, key, size, eTag)] })) as {
    objects: { outcome: { kind: string; error?: Error } }[];
  };
  const outcome = result.objects[0]!.outcome;
  if (outcome.kind !== "uploaded")
    throw new Error(`function: ${key} ended ${outcome.kind} ${outcome.error?.message ?? ""}`);
}

/**
 * The keep-alive sockets undici opens (to the emulator: the function's and the lower bound's), to count the
 * listeners left on them: a request body that ends before undici attaches its socket listeners (form-data
 * emits everything synchronously on resume()) leaves one 'drain' and one 'error' listener per request.
 */
export interface SocketListeners {
  sockets: number;
  maxDrainListeners: number;
  maxErrorListeners: number;
  /** Requests the emulator saw on its upload endpoints during part 1 (all variants). */
  uploadRequests: number;
}

export async function measureOverhead(opts: {
  servers: Servers;
  emulator: EmulatorHandle;
  s3: S3Client;
  bucket: string;
  /** Rounds per size; a size stops early (after at least 8 rounds) once it has used `budgetMs`. */
  sizes: { size: number; rounds: number; budgetMs: number }[];
  log: (m: string) => void;
}): Promise<{ sizes: SizeResult[]; socketListeners: SocketListeners }> {
  const { servers, emulator, s3, bucket } = opts;
  const sockets = new Set<Socket>();
  const onConnected = (message: unknown) => void sockets.add((message as { socket: Socket }).socket);
  subscribe("undici:client:connected", onConnected);
  const fn = makeFunction(servers.s3Endpoint, emulator, FN_ENV_AWS);
  const fnVerify = makeFunction(servers.s3Endpoint, emulator, FN_ENV_RADOSGW);
  const fnTraced = makeFunction(servers.s3Endpoint, emulator, FN_ENV_AWS);
  const tracer = trace(fnTraced);
  const lower = new LowerBound(servers.s3Endpoint, emulator);
  await lower.init();
  const lowerChecksum = new LowerBound(servers.s3Endpoint, emulator, true);
  await lowerChecksum.init();

  let tracedPhases: Record<Phase, number>[] = [];
  let lowerPhases: Record<"get" | "post" | "copy", number>[] = [];
  let lowerChecksumPhases: Record<"get" | "post" | "copy", number>[] = [];
  const variants: Variant[] = [
    { name: "fn", run: (k, s, e) => invoke(fn, bucket, k, s, e) },
    { name: "fnVerify", run: (k, s, e) => invoke(fnVerify, bucket, k, s, e) },
    {
      name: "fnTraced",
      run: async (k, s, e) => {
        tracer.reset();
        const start = now();
        await invoke(fnTraced, bucket, k, s, e);
        tracedPhases.push(tracer.phases(now() - start));
      },
    },
    {
      name: "lower",
      run: async (k, s) => {
        lowerPhases.push(await lower.run(bucket, k, s));
      },
    },
    {
      name: "lowerChecksum",
      run: async (k, s) => {
        lowerChecksumPhases.push(await lowerChecksum.run(bucket, k, s));
      },
    },
  ];

  // Warm-up: connections, token caches, JIT; not recorded.
  const warm = Buffer.alloc(MiB, 7);
  for (let i = 0; i < 3; i++) {
    for (const v of variants) {
      const key = `warm/${v.name}-${i}.bin`;
      const eTag = await putObject(s3, bucket, key, freshBody(warm, i));
      await v.run(key, warm.length, eTag);
      await deleteObject(s3, bucket, key);
    }
  }

  const results: SizeResult[] = [];
  for (const { size, rounds: maxRounds, budgetMs } of opts.sizes) {
    const sizeStarted = now();
    let rounds = 0;
    const template = Buffer.alloc(size);
    for (let i = 0; i < size; i += 4096) template.writeUInt32LE((Math.random() * 2 ** 32) >>> 0, i);
    const times = new Map<Variant["name"], number[]>(variants.map((v) => [v.name, []]));
    const paired: number[] = [];
    tracedPhases = [];
    lowerPhases = [];
    lowerChecksumPhases = [];
    let n = 0;
    for (let r = 0; r < maxRounds; r++, rounds++) {
      if (r >= 8 && now() - sizeStarted > budgetMs) {
        opts.log(`overhead ${size / MiB} MiB: time budget used, stopping after ${r} rounds`);
        break;
      }
      // Rotate the order every round and reverse it every other round: no variant always goes first.
      const order = variants.map((_, i) => variants[(i + r) % variants.length]!);
      if (r % 2) order.reverse();
      const keys = order.map((v) => `overhead/${size}/${r}-${v.name}.bin`);
      const eTags: string[] = [];
      for (const key of keys) eTags.push(await putObject(s3, bucket, key, freshBody(template, n++)));
      const round: Partial<Record<Variant["name"], number>> = {};
      for (const [i, v] of order.entries()) {
        const start = now();
        await v.run(keys[i]!, size, eTags[i]!);
        const ms = now() - start;
        times.get(v.name)!.push(ms);
        round[v.name] = ms;
      }
      paired.push(round.fn! / round.lower!);
      await pool(keys, 4, (key) => deleteObject(s3, bucket, key));
      if ((r + 1) % 5 === 0) opts.log(`overhead ${size / MiB} MiB: ${r + 1}/${maxRounds} rounds`);
    }

    // Probes on fresh objects of this size (the function's extra S3 calls, and its checksum).
    const headTags: number[] = [];
    const tagsOnly: number[] = [];
    for (let i = 0; i < 9; i++) {
      const key = `overhead/${size}/probe-${i}.bin`;
      await putObject(s3, bucket, key, freshBody(template, n++));
      let start = now();
      await Promise.all([
        s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key })),
        s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key })),
      ]);
      headTags.push(now() - start);
      start = now();
      await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key }));
      tagsOnly.push(now() - start);
      await deleteObject(s3, bucket, key);
    }
    const adler: number[] = [];
    for (let i = 0; i < 9; i++) {
      const start = now();
      ADLER32.buf(template, 1);
      adler.push(now() - start);
    }

    const med = (name: Variant["name"]) => median(times.get(name)!);
    const phaseMedian = <K extends string>(list: Record<K, number>[], keys: K[]) =>
      Object.fromEntries(keys.map((k) => [k, round(median(list.map((p) => p[k])), 1)])) as Record<K, number>;
    results.push({
      size,
      rounds,
      fnMs: round(med("fn"), 1),
      fnVerifyMs: round(med("fnVerify"), 1),
      fnTracedMs: round(med("fnTraced"), 1),
      lowerMs: round(med("lower"), 1),
      fnP25: round(quantile(times.get("fn")!, 0.25), 1),
      fnP75: round(quantile(times.get("fn")!, 0.75), 1),
      lowerP25: round(quantile(times.get("lower")!, 0.25), 1),
      lowerP75: round(quantile(times.get("lower")!, 0.75), 1),
      ratio: round(med("fn") / med("lower")),
      ratioVerify: round(med("fnVerify") / med("lower")),
      pairedRatio: round(median(paired)),
      ratioCi95: bootstrapRatio(times.get("fn")!, times.get("lower")!),
      fnPhases: phaseMedian(tracedPhases, ["headTags", "get", "post", "copy", "other"]),
      lowerPhases: phaseMedian(lowerPhases, ["get", "post", "copy"]),
      lowerChecksumMs: round(med("lowerChecksum"), 1),
      lowerChecksumPhases: phaseMedian(lowerChecksumPhases, ["get", "post", "copy"]),
      probeHeadTagsMs: round(median(headTags), 1),
      probeTagsMs: round(median(tagsOnly), 1),
      adlerMs: round(median(adler), 1),
    });
  }
  unsubscribe("undici:client:connected", onConnected);
  const socketListeners: SocketListeners = {
    sockets: sockets.size,
    maxDrainListeners: Math.max(0, ...[...sockets].map((s) => s.listenerCount("drain"))),
    maxErrorListeners: Math.max(0, ...[...sockets].map((s) => s.listenerCount("error"))),
    uploadRequests: (await emulator.stats()).requests,
  };
  await lower.close();
  await lowerChecksum.close();
  return { sizes: results, socketListeners };
}

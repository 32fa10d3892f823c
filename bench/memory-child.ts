/**
 * The process whose memory is measured: only the handler lives here (s3rver and the Lark emulator run in
 * bench/servers.ts, the objects are put by the parent). Run with --expose-gc, driven over IPC:
 *   { id, event, measure }  ->  { id, outcome, durationMs, baseline, peak, hwm, samples }
 * When `measure` is set it collects garbage, takes a baseline, resets the kernel's peak-RSS mark
 * (/proc/self/clear_refs) and samples process.memoryUsage() every millisecond during the call.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { type LarkTarget, makeFunction } from "./function";

export interface ChildConfig {
  s3Endpoint: string;
  lark: LarkTarget;
  env: Record<string, string>;
}

export interface MemoryFigures {
  rss: number;
  arrayBuffers: number;
  external: number;
  heapUsed: number;
}

export interface ChildReply {
  id: number;
  outcome: string;
  error?: string;
  durationMs: number;
  baseline?: MemoryFigures;
  /** Highest value of each figure seen by the sampler (not necessarily at the same instant). */
  peak?: MemoryFigures;
  /** The kernel's high-water mark of RSS (VmHWM) after the call, reset just before it; undefined if unavailable. */
  hwm?: number;
  samples?: number;
}

const config = JSON.parse(process.env.BENCH_CHILD_CONFIG ?? "{}") as ChildConfig;
const fn = makeFunction(config.s3Endpoint, config.lark, config.env);
const gc = (globalThis as { gc?: (opts?: { type?: "minor" | "major"; execution?: "sync" | "async" }) => void }).gc;

function figures(): MemoryFigures {
  const m = process.memoryUsage();
  return { rss: m.rss, arrayBuffers: m.arrayBuffers, external: m.external, heapUsed: m.heapUsed };
}

function resetHwm(): boolean {
  try {
    writeFileSync("/proc/self/clear_refs", "5");
    return true;
  } catch {
    return false;
  }
}

function readHwm(): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

export interface ChildRequest {
  id: number;
  event: unknown;
  measure: boolean;
  /**
   * Diagnostics: run a young-generation GC before every sample, so the peak counts only what is still
   * referenced (the buffers the code holds) and not garbage V8 has not collected yet.
   */
  collectEachSample?: boolean;
}

async function run(msg: ChildRequest): Promise<ChildReply> {
  let baseline: MemoryFigures | undefined;
  let peak: MemoryFigures | undefined;
  let timer: NodeJS.Timeout | undefined;
  let samples = 0;
  let hwmOk = false;
  if (msg.measure) {
    if (!gc) throw new Error("run the memory child with --expose-gc");
    gc();
    await new Promise((r) => setTimeout(r, 50));
    gc();
    baseline = figures();
    peak = { ...baseline };
    const sample = () => {
      if (msg.collectEachSample) gc();
      const now = figures();
      samples++;
      for (const k of Object.keys(now) as (keyof MemoryFigures)[]) peak![k] = Math.max(peak![k], now[k]);
    };
    hwmOk = resetHwm();
    timer = setInterval(sample, 1);
  }
  const started = performance.now();
  let outcome = "?";
  let error: string | undefined;
  try {
    const result = (await fn.handler(msg.event)) as {
      objects?: { outcome: { kind: string; error?: Error } }[];
      batchItemFailures?: unknown[];
    };
    const first = result.objects?.[0]?.outcome;
    outcome = first?.kind ?? JSON.stringify(result);
    if (first?.error) error = first.error.message;
  } catch (err) {
    outcome = "threw";
    error = (err as Error).message;
  }
  const durationMs = performance.now() - started;
  if (timer) {
    clearInterval(timer);
    const now = figures();
    for (const k of Object.keys(now) as (keyof MemoryFigures)[]) peak![k] = Math.max(peak![k], now[k]);
  }
  return { id: msg.id, outcome, error, durationMs, baseline, peak, hwm: hwmOk ? readHwm() : undefined, samples };
}

process.on("message", (msg: ChildRequest) => {
  run(msg).then(
    (reply) => process.send!(reply),
    (err: Error) =>
      process.send!({ id: msg.id, outcome: "crashed", error: err.stack, durationMs: 0 } satisfies ChildReply),
  );
});
process.on("disconnect", () => process.exit(0));
process.send!({ id: 0, outcome: "ready", durationMs: 0 } satisfies ChildReply);

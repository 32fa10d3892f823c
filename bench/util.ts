/** Small helpers shared by the benchmark parts: statistics, logging to stderr, machine description. */
import { cpus, totalmem } from "node:os";

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

export function quantile(values: number[], q: number): number {
  if (!values.length) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

export const median = (values: number[]) => quantile(values, 0.5);

export function round(value: number, digits = 3): number {
  if (!Number.isFinite(value)) return value;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Progress and diagnostics: always stderr, so `--json` leaves stdout to the one JSON object. */
export function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

export function machine() {
  const list = cpus();
  return {
    cpu: list[0]?.model.trim() ?? "unknown",
    cores: list.length,
    memory_gib: round(totalmem() / GiB, 1),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
  };
}

/** Bytes that differ per object (a counter in the first 8 bytes), on top of one random body. */
export function freshBody(template: Buffer, n: number): Buffer {
  template.writeDoubleLE(n + Math.random(), 0);
  return template;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Runs `fn` over `items` with at most `limit` running at once. */
export async function pool<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!, i);
      }
    }),
  );
  return out;
}

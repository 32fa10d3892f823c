/**
 * Part 2: resident memory the handler adds while it processes one object, in a child process that holds
 * nothing but the handler (bench/memory-child.ts). This process puts the objects and sends the events;
 * s3rver and the emulator are in bench/servers.ts.
 */
import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { S3Client } from "@aws-sdk/client-s3";
import { toAwsRecord } from "../local/local-s3";
import { deleteObject, putObject } from "./function";
import type { ChildConfig, ChildReply, ChildRequest, MemoryFigures } from "./memory-child";
import type { EmulatorHandle, Servers } from "./servers-client";
import { freshBody, MiB, median, round } from "./util";

export interface MemoryTrial {
  outcome: string;
  durationMs: number;
  /** Peak minus baseline, bytes: sampled RSS, kernel high-water mark, sampled arrayBuffers. */
  rssAdded: number;
  hwmAdded?: number;
  arrayBuffersAdded: number;
  externalAdded: number;
  heapAdded: number;
  baselineRss: number;
  samples: number;
  /**
   * A second object of the same size in the same child, with a young-generation GC before every sample:
   * what the code still references at its peak (arrayBuffers), garbage excluded.
   */
  liveArrayBuffersAdded?: number;
  liveRssAdded?: number;
}

export interface MemoryResult {
  label: string;
  size: number;
  env: Record<string, string>;
  trials: MemoryTrial[];
  /** Median over trials of the memory added divided by the object size: the largest of the sampled RSS, the
   * kernel's RSS high-water mark and the ArrayBuffer bytes, each minus its baseline. */
  ratio: number;
  /** The same from RSS alone (sampled or VmHWM), and from ArrayBuffer bytes alone. */
  rssRatio: number;
  arrayBuffersRatio: number;
  /** Medians, MiB: RSS growth (sampled or VmHWM), and the headline's growth (see ratio). */
  rssAddedMiB: number;
  addedMiB: number;
  arrayBuffersAddedMiB: number;
  /** Median over trials of the live peak (see MemoryTrial), MiB. */
  liveArrayBuffersAddedMiB?: number;
  durationMs: number;
}

class Child {
  private nextId = 1;
  private readonly pending = new Map<number, (r: ChildReply) => void>();
  private constructor(private readonly proc: ChildProcess) {
    proc.on("message", (msg: ChildReply) => {
      this.pending.get(msg.id)?.(msg);
      this.pending.delete(msg.id);
    });
  }

  static async start(config: ChildConfig, nodeFlags: string[] = []): Promise<Child> {
    const proc = fork(fileURLToPath(new URL("./memory-child.ts", import.meta.url)), [], {
      execArgv: ["--import", "tsx", "--expose-gc", ...nodeFlags],
      // The child's stdout carries the handler's log and metric lines: not wanted here.
      stdio: ["ignore", "ignore", "inherit", "ipc"],
      env: { ...process.env, BENCH_CHILD_CONFIG: JSON.stringify(config) },
    });
    const child = new Child(proc);
    await new Promise<void>((resolve, reject) => {
      child.pending.set(0, () => resolve());
      proc.once("exit", (code) => reject(new Error(`memory child exited (${code})`)));
    });
    return child;
  }

  run(event: unknown, measure: boolean, collectEachSample = false): Promise<ChildReply> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.proc.send({ id, event, measure, collectEachSample } satisfies ChildRequest);
    });
  }

  async stop(): Promise<void> {
    const exited = new Promise((r) => this.proc.once("exit", r));
    this.proc.disconnect();
    await exited;
  }
}

const added = (peak: MemoryFigures, base: MemoryFigures, k: keyof MemoryFigures) => peak[k] - base[k];

export async function measureMemory(opts: {
  servers: Servers;
  emulator: EmulatorHandle;
  s3: S3Client;
  bucket: string;
  label: string;
  size: number;
  env: Record<string, string>;
  trials: number;
  /** Also measure the live peak (a second object, GC before every sample). */
  live: boolean;
  /** Extra node flags for the child (e.g. V8 GC settings). */
  nodeFlags?: string[];
  log: (m: string) => void;
}): Promise<MemoryResult> {
  const { servers, emulator, s3, bucket, size } = opts;
  const template = Buffer.alloc(size);
  for (let i = 0; i < size; i += 4096) template.writeUInt32LE((Math.random() * 2 ** 32) >>> 0, i);
  const small = Buffer.alloc(256 * 1024, 3);
  let n = 0;
  const object = async (body: Buffer, name: string) => {
    const key = `memory/${opts.label}/${name}-${n}.bin`;
    const eTag = await putObject(s3, bucket, key, freshBody(body, n++));
    return { key, event: { Records: [toAwsRecord(bucket, key, body.length, eTag)] } };
  };
  const check = (reply: ChildReply) => {
    if (reply.outcome !== "uploaded") throw new Error(`memory child: ${reply.outcome} ${reply.error ?? ""}`);
    return reply;
  };

  const trials: MemoryTrial[] = [];
  for (let t = 0; t < opts.trials; t++) {
    const child = await Child.start({ s3Endpoint: servers.s3Endpoint, lark: emulator, env: opts.env }, opts.nodeFlags);
    try {
      // Warm-up: the token, the connections and the code paths of a small object.
      for (let i = 0; i < 3; i++) {
        const o = await object(small, "warm");
        check(await child.run(o.event, false));
        await deleteObject(s3, bucket, o.key);
      }
      const o = await object(template, "big");
      const r = check(await child.run(o.event, true));
      await deleteObject(s3, bucket, o.key);
      const trial: MemoryTrial = {
        outcome: r.outcome,
        durationMs: round(r.durationMs, 1),
        rssAdded: added(r.peak!, r.baseline!, "rss"),
        hwmAdded: r.hwm !== undefined ? r.hwm - r.baseline!.rss : undefined,
        arrayBuffersAdded: added(r.peak!, r.baseline!, "arrayBuffers"),
        externalAdded: added(r.peak!, r.baseline!, "external"),
        heapAdded: added(r.peak!, r.baseline!, "heapUsed"),
        baselineRss: r.baseline!.rss,
        samples: r.samples ?? 0,
      };
      if (opts.live) {
        const o2 = await object(template, "live");
        const r2 = check(await child.run(o2.event, true, true));
        await deleteObject(s3, bucket, o2.key);
        trial.liveArrayBuffersAdded = added(r2.peak!, r2.baseline!, "arrayBuffers");
        trial.liveRssAdded = Math.max(
          added(r2.peak!, r2.baseline!, "rss"),
          r2.hwm !== undefined ? r2.hwm - r2.baseline!.rss : 0,
        );
      }
      trials.push(trial);
      opts.log(
        `memory ${opts.label}: trial ${t + 1}/${opts.trials}: +${round(trial.rssAdded / MiB, 1)} MiB RSS (sampled), ` +
          `+${trial.hwmAdded !== undefined ? round(trial.hwmAdded / MiB, 1) : "?"} MiB (VmHWM), +${round(trial.arrayBuffersAdded / MiB, 1)} MiB arrayBuffers` +
          (trial.liveArrayBuffersAdded !== undefined
            ? `; live (GC each sample): +${round(trial.liveArrayBuffersAdded / MiB, 1)} MiB arrayBuffers`
            : ""),
      );
    } finally {
      await child.stop();
    }
  }
  // RSS growth alone can hide buffer growth: the allocator hands out memory freed earlier (module
  // compilation, warm-up) that was still resident at the baseline; we have seen +8 MiB RSS with +36 MiB of
  // buffers. So the figure is the larger of the RSS growth and the growth of ArrayBuffer memory.
  const peakOf = (t: MemoryTrial) => Math.max(t.rssAdded, t.hwmAdded ?? 0, t.arrayBuffersAdded);
  return {
    label: opts.label,
    size,
    env: opts.env,
    trials,
    ratio: round(median(trials.map((t) => peakOf(t) / size))),
    rssRatio: round(median(trials.map((t) => Math.max(t.rssAdded, t.hwmAdded ?? 0) / size))),
    arrayBuffersRatio: round(median(trials.map((t) => t.arrayBuffersAdded / size))),
    rssAddedMiB: round(median(trials.map((t) => Math.max(t.rssAdded, t.hwmAdded ?? 0))) / MiB, 1),
    addedMiB: round(median(trials.map(peakOf)) / MiB, 1),
    arrayBuffersAddedMiB: round(median(trials.map((t) => t.arrayBuffersAdded)) / MiB, 1),
    liveArrayBuffersAddedMiB: opts.live
      ? round(median(trials.map((t) => t.liveArrayBuffersAdded!)) / MiB, 1)
      : undefined,
    durationMs: round(median(trials.map((t) => t.durationMs)), 1),
  };
}

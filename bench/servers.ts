/**
 * The servers of the benchmark, in their own process: s3rver (through local/local-s3.ts, as the tests
 * run it) and any number of Lark emulators. Keeping them out of the measured process means their CPU
 * and buffers count neither in the function's event loop nor in its resident memory.
 *
 * Forked by bench/servers-client.ts; answers requests over the IPC channel.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type LarkEmulator, type LarkEmulatorOptions, startLarkEmulator } from "../local/lark-emulator";
import { type LocalS3, startLocalS3 } from "../local/local-s3";

export type ServerRequest =
  | { id: number; cmd: "start-s3"; buckets: string[]; baseDir?: string }
  | { id: number; cmd: "start-emulator"; options: LarkEmulatorOptions }
  | { id: number; cmd: "emulator-stats"; url: string }
  | { id: number; cmd: "emulator-files"; url: string }
  | { id: number; cmd: "emulator-reset"; url: string }
  | { id: number; cmd: "stop-emulator"; url: string }
  | { id: number; cmd: "s3-requests"; since: number }
  | { id: number; cmd: "close" };

export interface ServerReply {
  id: number;
  ok: boolean;
  value?: unknown;
  error?: string;
}

let s3: LocalS3 | undefined;
let dir: string | undefined;
const emulators = new Map<string, LarkEmulator>();

async function handle(msg: ServerRequest): Promise<unknown> {
  switch (msg.cmd) {
    case "start-s3": {
      dir = await mkdtemp(join(msg.baseDir ?? tmpdir(), "s3-to-lark-bench-"));
      s3 = await startLocalS3({ directory: dir, buckets: msg.buckets });
      return { endpoint: s3.endpoint, directory: dir };
    }
    case "start-emulator": {
      const emulator = await startLarkEmulator(msg.options);
      emulators.set(emulator.url, emulator);
      return { url: emulator.url, appId: emulator.appId, appSecret: emulator.appSecret };
    }
    case "emulator-stats":
      return emulator(msg.url).stats();
    case "emulator-files":
      // Names, sizes and tokens only: the duplicates check counts files by name.
      return emulator(msg.url).files.map((f) => ({
        name: f.fileName,
        size: f.size,
        route: f.route,
        fileToken: f.fileToken,
      }));
    case "emulator-reset":
      emulator(msg.url).reset();
      return null;
    case "stop-emulator":
      await emulator(msg.url).close();
      emulators.delete(msg.url);
      return null;
    case "s3-requests": {
      const all = s3?.requests ?? [];
      return { total: all.length, since: all.slice(msg.since) };
    }
    case "close":
      await Promise.all([...emulators.values()].map((e) => e.close()));
      emulators.clear();
      await s3?.close();
      if (dir) await rm(dir, { recursive: true, force: true });
      return null;
  }
}

function emulator(url: string): LarkEmulator {
  const e = emulators.get(url);
  if (!e) throw new Error(`no emulator at ${url}`);
  return e;
}

if (process.send) {
  process.on("message", (msg: ServerRequest) => {
    handle(msg).then(
      (value) => {
        process.send!({ id: msg.id, ok: true, value } satisfies ServerReply);
        if (msg.cmd === "close") setImmediate(() => process.exit(0));
      },
      (err: Error) => process.send!({ id: msg.id, ok: false, error: err.stack ?? String(err) } satisfies ServerReply),
    );
  });
  // The parent going away (Ctrl-C, crash) must not leave the servers and their temp dir behind.
  process.on("disconnect", () => {
    void handle({ id: -1, cmd: "close" }).finally(() => process.exit(0));
  });
  process.send({ id: 0, ok: true, value: "ready" } satisfies ServerReply);
}

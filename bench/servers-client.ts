/** The parent's side of bench/servers.ts: forks it and calls it over IPC. */
import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { EmulatorStats, LarkEmulatorOptions } from "../local/lark-emulator";
import type { ServerReply, ServerRequest } from "./servers";

export interface EmulatorHandle {
  url: string;
  appId: string;
  appSecret: string;
  stats(): Promise<EmulatorStats>;
  files(): Promise<{ name: string; size: number; route: string; fileToken: string }[]>;
  reset(): Promise<void>;
  stop(): Promise<void>;
}

export interface Servers {
  pid: number;
  s3Endpoint: string;
  /** Where s3rver keeps the objects. */
  s3Directory: string;
  startEmulator(options: LarkEmulatorOptions): Promise<EmulatorHandle>;
  s3Requests(since: number): Promise<{ total: number; since: { method: string; url: string }[] }>;
  close(): Promise<void>;
}

type DistributiveOmit<T, K extends keyof any> = T extends unknown ? Omit<T, K> : never;

export async function startServers(buckets: string[], baseDir?: string): Promise<Servers> {
  const child: ChildProcess = fork(fileURLToPath(new URL("./servers.ts", import.meta.url)), [], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  const ready = new Promise<void>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`servers process exited early (${code})`)));
    child.on("message", (msg: ServerReply) => {
      if (msg.id === 0) return resolve();
      const p = pending.get(msg.id);
      if (!p) return;
      pending.delete(msg.id);
      if (msg.ok) p.resolve(msg.value);
      else p.reject(new Error(`servers: ${msg.error}`));
    });
  });
  await ready;
  const call = <T>(req: DistributiveOmit<ServerRequest, "id">): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      child.send({ ...req, id });
    });

  const { endpoint, directory } = await call<{ endpoint: string; directory: string }>({
    cmd: "start-s3",
    buckets,
    baseDir,
  });
  return {
    pid: child.pid!,
    s3Endpoint: endpoint,
    s3Directory: directory,
    async startEmulator(options) {
      const e = await call<{ url: string; appId: string; appSecret: string }>({ cmd: "start-emulator", options });
      return {
        ...e,
        stats: () => call({ cmd: "emulator-stats", url: e.url }),
        files: () => call({ cmd: "emulator-files", url: e.url }),
        reset: () => call({ cmd: "emulator-reset", url: e.url }),
        stop: () => call({ cmd: "stop-emulator", url: e.url }),
      };
    },
    s3Requests: (since) => call({ cmd: "s3-requests", since }),
    async close() {
      const exited = new Promise((r) => child.once("exit", r));
      await call({ cmd: "close" }).catch(() => undefined);
      await exited;
    },
  };
}

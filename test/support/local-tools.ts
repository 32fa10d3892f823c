/**
 * The local tools (`npm start`, `npm run put`, `npm run backfill`) as a user runs them: each script as a child
 * process of its own, in an environment cleaned of anything that would point it elsewhere.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface Running {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * The test machine's environment minus Lark settings, S3 endpoint and credentials, bucket and size settings
 * (a test sets what it means), without colours or the SDK's Node version warning, plus `extra`.
 */
export function toolEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  const cleared =
    /^(LARK_|AWS_ENDPOINT_URL|AWS_ACCESS_KEY_ID$|AWS_SECRET_ACCESS_KEY$|AWS_SESSION_TOKEN$|AWS_PROFILE$|AWS_REGION$|MAX_FILE_BYTES$|BUCKET$|TAG_WAIT_MS$)/;
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !cleared.test(k)) env[k] = v;
  return { ...env, NO_COLOR: "1", AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true", ...extra };
}

/** Starts `script` (e.g. local/dev.ts) under tsx, collecting what it prints. */
export function run(script: string, args: string[], env: Record<string, string>): Running {
  const child = spawn(process.execPath, ["--import", "tsx", script, ...args], {
    cwd: ROOT,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("close", (code, signal) => resolve({ code, signal })),
  );
  return { child, out: () => out, err: () => err, exited };
}

/** Runs `script` to its end: exit code and output. */
export async function runToEnd(
  script: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; out: string; err: string; ms: number }> {
  const started = Date.now();
  const running = run(script, args, env);
  const { code } = await running.exited;
  return { code, out: running.out(), err: running.err(), ms: Date.now() - started };
}

export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  ms = 15_000,
): Promise<T> {
  for (const end = Date.now() + ms; ; ) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms)),
  );
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

/**
 * What `npm start` and the other local tools agree on: default ports and bucket, where the local state
 * lives (one folder, `.local/dev/`, safe to wipe), the settings file `npm start` leaves there so the other
 * tools can find the running stack, and the backfill command that reaches it.
 */
import { readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const DEFAULT_S3_PORT = 4569;
export const DEFAULT_LARK_EMULATOR_PORT = 9876;
export const DEFAULT_LARK_EMULATOR_VIEW_PORT = DEFAULT_LARK_EMULATOR_PORT + 1;
export const DEFAULT_BUCKET = "inbox";
/** The settings that say where an object without destination tags goes. */
export const DEFAULT_DESTINATION_VARIABLES = [
  "LARK_DEFAULT_TARGET",
  "LARK_DEFAULT_PARENT_TYPE",
  "LARK_DEFAULT_PARENT_NODE",
] as const;

export const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));

type Env = Record<string, string | undefined>;

/** DEV_STATE_DIR, or `.local/dev/` at the repository root. */
export function stateDir(env: Env = process.env): string {
  return resolve(env.DEV_STATE_DIR?.trim() || join(REPO_ROOT, ".local", "dev"));
}

/** A path as short as it can be said from the current directory. */
export function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith("..") ? rel : path;
}

/** Written by `npm start` into `<state>/env.json` while it runs. */
export interface DevStackInfo {
  s3Endpoint: string;
  bucket: string;
  region: string;
  /** Present only when the stack runs the Lark emulator (never a real app's secret). */
  emulator?: { baseUrl: string; appId: string; appSecret: string };
  /** The stack's settings of DEFAULT_DESTINATION_VARIABLES, which a backfill on it borrows with the emulator. */
  defaults: Partial<Record<(typeof DEFAULT_DESTINATION_VARIABLES)[number], string>>;
  pid: number;
}

export function readStackInfo(env: Env = process.env): DevStackInfo | undefined {
  try {
    return JSON.parse(readFileSync(join(stateDir(env), "env.json"), "utf8")) as DevStackInfo;
  } catch {
    return undefined;
  }
}

/** Same origin, whatever the spelling (trailing slash, localhost for 127.0.0.1). */
export function sameEndpoint(a: string | undefined, b: string | undefined): boolean {
  const norm = (s: string) => {
    try {
      const u = new URL(s);
      const host = u.hostname === "localhost" || u.hostname === "[::1]" ? "127.0.0.1" : u.hostname;
      return `${u.protocol}//${host}:${u.port || (u.protocol === "https:" ? "443" : "80")}`;
    } catch {
      return s;
    }
  };
  return Boolean(a && b) && norm(a!) === norm(b!);
}

export function isLocalEndpoint(endpoint: string): boolean {
  try {
    return ["127.0.0.1", "localhost", "[::1]", "0.0.0.0"].includes(new URL(endpoint).hostname);
  } catch {
    return false;
  }
}

/**
 * The backfill that finishes what waits under `prefix` on the `npm start` stack at `s3Endpoint`, to run from
 * another shell (with npm start running: the backfill borrows its Lark).
 */
export function backfillCommand(stack: { s3Endpoint: string; bucket: string }, prefix = ""): string {
  return `AWS_ENDPOINT_URL_S3=${stack.s3Endpoint} npm run backfill -- ${shellWord(`s3://${stack.bucket}/${prefix}`)}`;
}

/** A word as a POSIX shell reads it back: as is when safe, else in single quotes. */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

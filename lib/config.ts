/**
 * The function's settings, read from the environment and validated once: a bad value fails loudly, naming
 * the variable, instead of misbehaving later.
 */
import { ConfigurationError, type RejectionError } from "./errors";
import { MEDIA_UPLOADS_PER_SECOND } from "./lark/limits";
import { isParentType, PARENT_TYPES, type ParentType, UPLOAD_ALL_MAX_BYTES } from "./lark/parent-types";
import { type Member, type Perm, parseShareList } from "./lark/permissions";
import { LOG_LEVELS } from "./log";
import { type Destination, parseDestination } from "./target";

export type LargeFileMode = "reject" | "chunked";

/** Where the Lark app secret comes from: a plain value (local runs) or a store read at run time. */
export type SecretSource =
  | { kind: "value"; value: string }
  | { kind: "ssm"; name: string }
  | { kind: "secretsmanager"; id: string };

/** The variables that can hold the app secret or say where it is; exactly one is set. */
export const SECRET_VARIABLES = [
  "LARK_APP_SECRET",
  "LARK_APP_SECRET_SSM_PARAMETER",
  "LARK_APP_SECRET_SECRET_ID",
] as const;

export interface Config {
  larkBaseUrl: string;
  appId: string;
  appSecret: SecretSource;
  defaultParent?: { type: ParentType; node: string };
  /** Where an object without destination tags goes (before defaultParent). */
  defaultTarget?: Destination;
  /** The attachment field of a `base:` target when the object names none. */
  baseAttachmentField: string;
  /** Who gets access to what the app creates (imported documents, Drive files), and which access. */
  sharing: { members: Member[]; perm: Perm };
  maxFileBytes: number;
  largeFiles: LargeFileMode;
  /** Lark allows 5 upload calls a second per app; lower it to leave room for other callers. */
  uploadsPerSecond: number;
  /** Timeout of one Lark HTTP call, in ms. */
  larkTimeoutMs: number;
  /** Attempts per Lark call (each chunked part has its own) inside one invocation, before the failure goes to Lambda's retries. */
  maxAttempts: number;
  /** A custom S3 endpoint (AWS_ENDPOINT_URL_S3): path-style addressing is used with it. */
  s3Endpoint?: string;
  /** How long after its creation an object without destination tags is given for its tags to arrive. */
  tagWaitMs: number;
  /**
   * Ceph's radosgw drops the tag set on a metadata copy and ignores the standard copy guard header: re-read
   * and restore the tags after the copy, and send radosgw's own guard header too.
   */
  radosgwWorkarounds: boolean;
}

export type Env = Record<string, string | undefined>;

/** Collects every problem, so one failed start names them all. */
class Problems {
  readonly list: string[] = [];
  add(problem: string): void {
    this.list.push(problem);
  }
}

export function loadConfig(env: Env = process.env): Config {
  const problems = new Problems();
  const { largeFiles, maxFileBytes } = fileSettings(env, problems);
  const config: Config = {
    larkBaseUrl: larkBaseUrl(env, problems),
    appId: required(env, "LARK_APP_ID", problems),
    appSecret: secretSource(env, problems),
    defaultParent: defaultParent(env, problems),
    defaultTarget: defaultTarget(env, problems),
    baseAttachmentField: env.LARK_BASE_ATTACHMENT_FIELD?.trim() || "Attachment",
    sharing: sharing(env, problems),
    maxFileBytes,
    largeFiles,
    uploadsPerSecond: intSetting(
      env,
      "LARK_UPLOADS_PER_SECOND",
      { fallback: 5, min: 1, max: MEDIA_UPLOADS_PER_SECOND },
      problems,
    ),
    larkTimeoutMs: intSetting(env, "LARK_TIMEOUT_MS", { fallback: 30_000, min: 100, max: 900_000 }, problems),
    maxAttempts: intSetting(env, "LARK_MAX_ATTEMPTS", { fallback: 4, min: 1, max: 20 }, problems),
    tagWaitMs: intSetting(env, "TAG_WAIT_MS", { fallback: 3000, min: 0, max: 60_000 }, problems),
    s3Endpoint: env.AWS_ENDPOINT_URL_S3?.trim() || undefined,
    radosgwWorkarounds: booleanSetting(env, "S3_RADOSGW_WORKAROUNDS", problems),
  };
  const logLevel = env.LOG_LEVEL?.trim().toLowerCase();
  if (logLevel && !(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    problems.add(`LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}, got "${env.LOG_LEVEL}"`);
  }
  if (problems.list.length) throw new ConfigurationError(`Invalid configuration: ${problems.list.join("; ")}`);
  return config;
}

/**
 * An integer setting within bounds; the fallback when unset. A bad value is reported to `problems`, or
 * thrown as a ConfigurationError when there is no list to collect it.
 */
export function intSetting(
  env: Env,
  name: string,
  bounds: { fallback: number; min: number; max?: number },
  problems?: Problems,
): number {
  const raw = env[name]?.trim();
  if (!raw) return bounds.fallback;
  const value = Number(raw);
  const max = bounds.max ?? Number.MAX_SAFE_INTEGER;
  if (Number.isInteger(value) && value >= bounds.min && value <= max) return value;
  const problem = `${name} must be an integer from ${bounds.min} to ${max}, got "${raw}"`;
  if (!problems) throw new ConfigurationError(problem);
  problems.add(problem);
  return bounds.fallback;
}

function required(env: Env, name: string, problems: Problems): string {
  const value = env[name]?.trim();
  if (!value) problems.add(`${name} is required`);
  return value ?? "";
}

function booleanSetting(env: Env, name: string, problems: Problems): boolean {
  const raw = env[name]?.trim() || "false";
  if (raw !== "true" && raw !== "false") problems.add(`${name} must be true or false, got "${raw}"`);
  return raw === "true";
}

function larkBaseUrl(env: Env, problems: Problems): string {
  const url = (env.LARK_BASE_URL?.trim() || "https://open.larksuite.com").replace(/\/+$/, "");
  if (!/^https?:\/\/[^/]+$/.test(url)) {
    problems.add(`LARK_BASE_URL must be an origin such as https://open.larksuite.com, got "${url}"`);
  } else if (url.startsWith("http:") && !/^http:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?$/.test(url)) {
    // The app secret and the tenant token travel to this origin: in clear only to this machine (an emulator).
    problems.add(`LARK_BASE_URL must use https (http only for a local emulator), got "${url}"`);
  }
  return url;
}

function fileSettings(env: Env, problems: Problems): { largeFiles: LargeFileMode; maxFileBytes: number } {
  const raw = env.LARGE_FILES?.trim() || "reject";
  if (raw !== "reject" && raw !== "chunked") problems.add(`LARGE_FILES must be "reject" or "chunked", got "${raw}"`);
  const largeFiles: LargeFileMode = raw === "chunked" ? "chunked" : "reject";
  // upload_all takes at most 20 MiB: only the chunked flow can go above it, up to CopyObject's 5 GiB.
  const max = largeFiles === "chunked" ? 5 * 1024 ** 3 : UPLOAD_ALL_MAX_BYTES;
  const maxFileBytes = intSetting(env, "MAX_FILE_BYTES", { fallback: UPLOAD_ALL_MAX_BYTES, min: 1, max }, problems);
  return { largeFiles, maxFileBytes };
}

function defaultParent(env: Env, problems: Problems): Config["defaultParent"] {
  const type = env.LARK_DEFAULT_PARENT_TYPE?.trim();
  const node = env.LARK_DEFAULT_PARENT_NODE?.trim();
  if (!type && !node) return undefined;
  if (!type || !node) problems.add("LARK_DEFAULT_PARENT_TYPE and LARK_DEFAULT_PARENT_NODE must be set together");
  else if (!isParentType(type)) {
    problems.add(`LARK_DEFAULT_PARENT_TYPE must be one of ${PARENT_TYPES.join(", ")}, got "${type}"`);
  } else return { type, node };
  return undefined;
}

const PERMS: readonly Perm[] = ["view", "edit", "full_access"];

function sharing(env: Env, problems: Problems): Config["sharing"] {
  const parsed = parseShareList(env.LARK_SHARE_WITH ?? "");
  for (const problem of parsed.problems) problems.add(`LARK_SHARE_WITH: ${problem}`);
  const perm = env.LARK_SHARE_PERM?.trim() || "full_access";
  if (!(PERMS as readonly string[]).includes(perm)) {
    problems.add(`LARK_SHARE_PERM must be one of ${PERMS.join(", ")}, got "${perm}"`);
  }
  return { members: parsed.members, perm: perm as Perm };
}

function defaultTarget(env: Env, problems: Problems): Destination | undefined {
  const value = env.LARK_DEFAULT_TARGET?.trim();
  if (!value) return undefined;
  try {
    return parseDestination(value);
  } catch (err) {
    problems.add(`LARK_DEFAULT_TARGET: ${(err as RejectionError).reason}`);
    return undefined;
  }
}

function secretSource(env: Env, problems: Problems): SecretSource {
  const [plain, ssm, sm] = SECRET_VARIABLES.map((name) => env[name]?.trim());
  if ([plain, ssm, sm].filter(Boolean).length !== 1)
    problems.add(
      `exactly one of ${SECRET_VARIABLES.slice(0, -1).join(", ")} or ${SECRET_VARIABLES.at(-1)} is required`,
    );
  if (ssm) return { kind: "ssm", name: ssm };
  if (sm) return { kind: "secretsmanager", id: sm };
  return { kind: "value", value: env.LARK_APP_SECRET ?? "" };
}

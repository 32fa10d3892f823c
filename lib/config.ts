import { ConfigurationError } from "./errors";
import { isParentType, PARENT_TYPES, type ParentType, UPLOAD_ALL_MAX_BYTES } from "./parent-types";

export type LargeFileMode = "reject" | "chunked";

/** Where the Lark app secret comes from: a plain value (local runs) or a store read at run time. */
export type SecretSource =
  | { kind: "value"; value: string }
  | { kind: "ssm"; name: string }
  | { kind: "secretsmanager"; id: string };

export interface Config {
  larkBaseUrl: string;
  appId: string;
  appSecret: SecretSource;
  defaultParent?: { type: ParentType; node: string };
  maxFileBytes: number;
  largeFiles: LargeFileMode;
  /** Lark allows 5 upload calls a second per app; lower it to leave room for other callers. */
  uploadsPerSecond: number;
  /** Timeout of one Lark HTTP call, in ms. */
  larkTimeoutMs: number;
  /** Attempts per Lark call (each chunked part has its own) inside one invocation, before the failure goes to Lambda's retries. */
  maxAttempts: number;
  /** Re-read the tag set after the metadata copy and restore it if the store dropped it. */
  verifyTagsAfterCopy: boolean;
  /** A custom S3 endpoint (AWS_ENDPOINT_URL_S3): path-style addressing is used with it. */
  s3Endpoint?: string;
}

type Env = Record<string, string | undefined>;

/** Reads and validates the settings once; a bad value fails loudly instead of misbehaving later. */
export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  const need = (name: string): string => {
    const value = env[name]?.trim();
    if (!value) problems.push(`${name} is required`);
    return value ?? "";
  };
  const int = (name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    const raw = env[name]?.trim();
    if (!raw) return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
      return fallback;
    }
    return value;
  };

  const larkBaseUrl = (env.LARK_BASE_URL?.trim() || "https://open.larksuite.com").replace(/\/+$/, "");
  if (!/^https?:\/\/[^/]+$/.test(larkBaseUrl))
    problems.push(`LARK_BASE_URL must be an origin such as https://open.larksuite.com, got "${larkBaseUrl}"`);
  // The app secret and the tenant token travel to this origin: in clear only to this machine (an emulator).
  else if (
    larkBaseUrl.startsWith("http:") &&
    !/^http:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?$/.test(larkBaseUrl)
  ) {
    problems.push(`LARK_BASE_URL must use https (http only for a local emulator), got "${larkBaseUrl}"`);
  }

  const appId = need("LARK_APP_ID");
  const appSecret = secretSource(env, problems);

  const largeFilesRaw = env.LARGE_FILES?.trim() || "reject";
  if (largeFilesRaw !== "reject" && largeFilesRaw !== "chunked")
    problems.push(`LARGE_FILES must be "reject" or "chunked", got "${largeFilesRaw}"`);
  const largeFiles: LargeFileMode = largeFilesRaw === "chunked" ? "chunked" : "reject";
  // With "reject" the card's 20 MiB cap is a hard ceiling; only the chunked flow can go above it.
  const maxFileBytes = int(
    "MAX_FILE_BYTES",
    UPLOAD_ALL_MAX_BYTES,
    1,
    largeFiles === "chunked" ? 5 * 1024 ** 3 : UPLOAD_ALL_MAX_BYTES,
  );

  const defaultType = env.LARK_DEFAULT_PARENT_TYPE?.trim();
  const defaultNode = env.LARK_DEFAULT_PARENT_NODE?.trim();
  let defaultParent: Config["defaultParent"];
  if (defaultType || defaultNode) {
    if (!defaultType || !defaultNode)
      problems.push("LARK_DEFAULT_PARENT_TYPE and LARK_DEFAULT_PARENT_NODE must be set together");
    else if (!isParentType(defaultType))
      problems.push(`LARK_DEFAULT_PARENT_TYPE must be one of ${PARENT_TYPES.join(", ")}, got "${defaultType}"`);
    else defaultParent = { type: defaultType, node: defaultNode };
  }

  const verifyRaw = env.VERIFY_TAGS_AFTER_COPY?.trim() || "auto";
  if (!["auto", "true", "false"].includes(verifyRaw))
    problems.push(`VERIFY_TAGS_AFTER_COPY must be auto, true or false, got "${verifyRaw}"`);
  const s3Endpoint = env.AWS_ENDPOINT_URL_S3?.trim() || undefined;

  const config: Config = {
    larkBaseUrl,
    appId,
    appSecret,
    defaultParent,
    maxFileBytes,
    largeFiles,
    uploadsPerSecond: int("LARK_UPLOADS_PER_SECOND", 5, 1, 1000),
    larkTimeoutMs: int("LARK_TIMEOUT_MS", 30_000, 100, 900_000),
    maxAttempts: int("LARK_MAX_ATTEMPTS", 4, 1, 20),
    // AWS S3 keeps tags on a self-copy; S3-compatible stores may not (Ceph's radosgw drops them).
    verifyTagsAfterCopy: verifyRaw === "auto" ? s3Endpoint !== undefined : verifyRaw === "true",
    s3Endpoint,
  };
  if (problems.length) throw new ConfigurationError(`Invalid configuration: ${problems.join("; ")}`);
  return config;
}

function secretSource(env: Env, problems: string[]): SecretSource {
  const ssm = env.LARK_APP_SECRET_SSM_PARAMETER?.trim();
  const sm = env.LARK_APP_SECRET_SECRET_ID?.trim();
  const plain = env.LARK_APP_SECRET;
  const given = [ssm, sm, plain].filter(Boolean).length;
  if (given !== 1) {
    problems.push(
      "exactly one of LARK_APP_SECRET, LARK_APP_SECRET_SSM_PARAMETER or LARK_APP_SECRET_SECRET_ID is required",
    );
  }
  if (ssm) return { kind: "ssm", name: ssm };
  if (sm) return { kind: "secretsmanager", id: sm };
  return { kind: "value", value: plain ?? "" };
}

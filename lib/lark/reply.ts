/**
 * The one place that decides what a Lark reply means: success, a token to refresh, a transient fault
 * to retry, a misconfigured app, or a permanent rejection of this file. Codes and their meaning come
 * from Lark's upload_all reference (its error table) and Lark's authentication documentation.
 */
import { ConfigurationError, RejectionError, TokenRejectedError, TransientError } from "../errors";

/** "can retry", internal timeout, unknown error, client connect close, rate limited. */
const TRANSIENT_CODES = new Set([1061045, 1061006, 1061001, 1062051, 99991400]);
/** The tenant token is invalid, expired or malformed: fetch a new one and retry once. */
const TOKEN_CODES = new Set([99991661, 99991663, 99991665, 99991671]);
/** The app, not the file, is wrong: bad id/secret or a missing scope. Tagging the object would mislead. */
const APP_CODES = new Set([99991543, 10014, 10003, 99991672]);

export interface LarkReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface LarkBody {
  code: number;
  msg: string;
  data?: Record<string, unknown>;
  [field: string]: unknown;
}

/** Returns the body of a successful reply, or throws the typed error the reply stands for. */
export function interpretReply(what: string, reply: LarkReply, opts: { echoBody?: boolean } = {}): LarkBody {
  let json: Partial<LarkBody> | undefined;
  try {
    json = JSON.parse(reply.body);
  } catch {
    // Gateways answer 5xx/429 with HTML; anything else unparseable is equally not the file's fault.
    const excerpt = opts.echoBody === false ? "" : ` (${reply.body.slice(0, 80).replace(/\s+/g, " ")})`;
    throw new TransientError(`${what}: HTTP ${reply.status} with a non-JSON body${excerpt}`);
  }
  const code = typeof json?.code === "number" ? json.code : undefined;
  const msg = typeof json?.msg === "string" ? json.msg : "";
  if (code === 0 && reply.status < 300) return json as LarkBody;
  if (code === undefined) throw new TransientError(`${what}: HTTP ${reply.status} without a Lark code`);
  if (TOKEN_CODES.has(code)) throw new TokenRejectedError(code);
  if (TRANSIENT_CODES.has(code) || reply.status >= 500 || reply.status === 429) {
    throw new TransientError(`${what}: Lark ${code} ${msg}`, {
      larkCode: code,
      retryAfterMs: retryAfterMs(reply.headers),
    });
  }
  if (APP_CODES.has(code)) {
    throw new ConfigurationError(
      `${what}: Lark ${code} ${msg}: check LARK_APP_ID, the app secret and the app's scopes`,
      {
        larkCode: code,
      },
    );
  }
  throw new RejectionError(msg || "rejected by Lark", { larkCode: code });
}

/** x-ogw-ratelimit-reset is in seconds (may be fractional). */
function retryAfterMs(headers: LarkReply["headers"]): number | undefined {
  const raw = headers["x-ogw-ratelimit-reset"];
  const seconds = Number(Array.isArray(raw) ? raw[0] : raw);
  return Number.isFinite(seconds) && seconds >= 0 ? Math.ceil(seconds * 1000) : undefined;
}

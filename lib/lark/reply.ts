/**
 * The one place that decides what a Lark reply means: success, a token to refresh, a transient fault
 * to retry, a misconfigured app, or a permanent rejection of this file. Codes and their meaning come
 * from the error tables of Lark's API references (media and Drive file uploads, docx blocks, base records, sheets
 * floating images, import tasks, permission members) and Lark's authentication documentation.
 */
import { ConfigurationError, RejectionError, TokenRejectedError, TransientError } from "../errors";

/** Codes that say "not now": a retry, after a pause, can succeed. Any HTTP 5xx or 429 counts too. */
const TRANSIENT_CODES = new Set([
  // Any API: rate limited (HTTP 429, or 400 on older APIs), with x-ogw-ratelimit-reset.
  99991400,
  // Media uploads: "can retry", internal timeout, unknown error, client connect close.
  1061045, 1061006, 1061001, 1062051,
  // Drive file uploads: a file version conflict, the folder locked for a data migration.
  1061022, 1064230,
  // docx: server and gateway internal errors, mount folder failed, under maintenance (1771001–1771006);
  // the document is being copied (1770020).
  1771001, 1771002, 1771003, 1771004, 1771005, 1771006, 1770020,
  // Base: the base is being copied, too many requests, write conflict (two writes at once in a table), data not
  // ready ("please try again later"), timeout.
  1254036, 1254290, 1254291, 1254607, 1255040,
  // Sheets: too many requests, retry later, in mixed state ("retry later"), server errors.
  1310217, 1310235, 1310242, 1315201, 1315202, 1315203,
  // Import tasks: too many requests (HTTP 429), internal errors (HTTP 500).
  1069923, 1069901, 1069903, 1069905,
  // Permission members: internal error, concurrency error ("please retry").
  1066001, 1066002,
]);
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

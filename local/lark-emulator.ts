// A strict emulator of the Lark (Feishu) Open API endpoints this project uses:
// tenant_access_token/internal and drive/v1/medias upload_all | upload_prepare | upload_part | upload_finish.
// It speaks real HTTP so that the real client (and the official SDK) can be tested against it, and it
// rejects everything the seed page and shared/notes/lark-api.md say Lark rejects, with the same codes.
//
// Behaviour chosen where the docs are silent (see the test file for the proofs):
// - Token errors (99991661/99991663/99991668/99991671) are HTTP 400, as real Lark answers them; an
//   Authorization header without the "Bearer " prefix counts as no token (99991661), as on real Lark.
// - The token endpoint answers HTTP 200 even on failure: 10003 invalid param, 10014 app id not exists /
//   app secret invalid.
// - Order of checks on an upload request: injected fault, auth, rate limit, concurrency, then the body.
// - Rate limit: a sliding window of `1000*timeScale` ms holding the arrivals of *admitted* requests only;
//   requests answered 429 or 1061045 (and auth failures and faulted requests) take no slot.
// - One at a time: a request arriving while an admitted upload request is still open gets 1061045.
// - upload_all metadata (the fields before `file`) is validated before the bytes are read, so a declared
//   size above 20 MiB gets 1061043 whatever the body; byte count (1062009) and checksum (1062008) come last.

import { createHash, randomBytes, randomInt } from "node:crypto";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import ADLER32 from "adler-32";
import busboy from "busboy";

export interface LarkEmulatorOptions {
  port?: number;
  host?: string;
  appId?: string;
  appSecret?: string;
  tokenTtlSeconds?: number;
  timeScale?: number;
  ratePerWindow?: number;
  knownParentNodes?: string[];
  keepBytes?: boolean;
  log?: (line: string) => void;
}
export interface ReceivedFile {
  fileToken: string;
  fileName: string;
  parentType: string;
  parentNode: string;
  size: number;
  checksum?: string;
  extra?: string;
  sha256: string;
  adler32: string;
  route: "upload_all" | "chunked";
  receivedAt: number;
  bytes?: Buffer;
}
export interface UploadRequestRecord {
  path: string;
  startedAt: number;
  endedAt: number;
  httpStatus: number;
  code: number;
}
export type Fault =
  | { kind: "code"; code: number; httpStatus?: number; msg?: string; headers?: Record<string, string> }
  | { kind: "http"; status: number; body?: string; contentType?: string }
  | { kind: "reset" }
  | { kind: "hang" };
export type Endpoint = "upload_all" | "upload_prepare" | "upload_part" | "upload_finish" | "token";
export interface FaultRule {
  fault: Fault;
  path?: Endpoint;
  times?: number;
}
export interface EmulatorStats {
  uploads: number;
  tokenRequests: number;
  rateViolations: number;
  concurrencyViolations: number;
  maxInFlight: number;
  requests: number;
}
export interface LarkEmulator {
  url: string;
  appId: string;
  appSecret: string;
  files: ReceivedFile[];
  requests: UploadRequestRecord[];
  stats(): EmulatorStats;
  injectFault(rule: FaultRule): void;
  clearFaults(): void;
  expireTokens(): void;
  deleteParentNode(node: string): void;
  expireUploadIds(): void;
  reset(): void;
  close(): Promise<void>;
}

export const MAX_UPLOAD_ALL_SIZE = 20 * 1024 * 1024; // 20971520, the seed's limit
export const BLOCK_SIZE = 4 * 1024 * 1024; // fixed by Lark for upload_prepare
const MAX_CHUNKED_SIZE = 20 * 1024 * 1024 * 1024; // our cap for the chunked flow
const MAX_JSON_BODY = 1024 * 1024;
const TOKEN_REUSE_MS = 30 * 60 * 1000; // Lark hands out the same token until < 30 min remain

const PARENT_TYPES = new Set([
  "doc_image",
  "docx_image",
  "sheet_image",
  "doc_file",
  "docx_file",
  "sheet_file",
  "vc_virtual_background",
  "bitable_image",
  "bitable_file",
  "moments",
  "ccm_import_open",
]);

const ENDPOINTS: Record<string, Endpoint | undefined> = {
  "/open-apis/auth/v3/tenant_access_token/internal": "token",
  "/open-apis/drive/v1/medias/upload_all": "upload_all",
  "/open-apis/drive/v1/medias/upload_prepare": "upload_prepare",
  "/open-apis/drive/v1/medias/upload_part": "upload_part",
  "/open-apis/drive/v1/medias/upload_finish": "upload_finish",
};

// HTTP status and msg of each code: the seed's error table, plus the gateway codes.
const CODES: Record<number, [number, string]> = {
  0: [200, "success"],
  1061001: [200, "unknown error."],
  1061002: [400, "params error."],
  1061003: [404, "not found."],
  1061004: [403, "forbidden."],
  1061005: [401, "auth failed."],
  1061006: [200, "internal time out, can retry."],
  1061007: [404, "file has been delete."],
  1061008: [400, "invalid file name."],
  1061021: [400, "upload id expire."],
  1061041: [400, "parent node has been deleted."],
  1061042: [400, "parent node out of limit."],
  1061043: [400, "file size beyond limit."],
  1061044: [400, "parent node not exist."],
  1061045: [200, "can retry."],
  1061109: [400, "file name cqc not passed."],
  1061113: [400, "file cqc not passed."],
  1061101: [400, "file quota exceeded."],
  1062004: [202, "cover generating."],
  1062005: [202, "file type not support cover."],
  1062006: [202, "cover no exist."],
  1062007: [400, "upload user not match."],
  1062008: [400, "checksum param Invalid."],
  1062009: [400, "the actual size is inconsistent with the parameter declaration size."],
  1062010: [400, "block missing, please upload all blocks."],
  1062011: [400, "block num out of bounds."],
  1061547: [400, "attachment parent-child relation number exceed."],
  1061061: [400, "user quota exceeded."],
  1061073: [403, "no scope auth."],
  1062012: [400, "file copying."],
  1062013: [400, "file damaged."],
  1062014: [403, "dedupe no support."],
  1062051: [400, "client connect close."],
  1062505: [400, "parent node out of size."],
  1062506: [400, "parent node out of depth."],
  1062507: [400, "parent node out of sibling num."],
  10003: [200, "invalid param"],
  10014: [200, "app secret invalid"],
  99991400: [429, "request trigger frequency limit"],
  99991661: [400, "Missing access token for authorization. Please make a request with token attached."],
  99991663: [400, "Invalid access token for authorization. Please make a request with token attached."],
  99991668: [400, "Invalid access token for authorization. Please make a request with token attached."],
  99991671: [400, "Invalid access token for authorization. The token must start with 't-' or 'u-'."],
  99991672: [400, "Access denied. The app has not been granted the scope this API needs."],
};
const statusOf = (code: number) => CODES[code]?.[0] ?? 400;
const msgOf = (code: number) => CODES[code]?.[1] ?? "error";

// ---------- small pure helpers ----------

const ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
function randomAlnum(n: number): string {
  return Array.from(randomBytes(n), (b) => ALNUM[b % ALNUM.length]).join("");
}
const newFileToken = () => `boxcn${randomAlnum(22)}`; // shaped like Lark's drive tokens
const newTenantToken = () => `t-${randomAlnum(40)}`;
const newUploadId = () => String(randomInt(1, 10)) + Array.from({ length: 18 }, () => randomInt(10)).join("");

/** Unsigned decimal Adler-32, the format Lark's `checksum` uses. */
export function adler32Decimal(bytes: Uint8Array, seed?: number): string {
  return (ADLER32.buf(bytes, seed) >>> 0).toString();
}

const isDecimal = (s: string) => /^\d+$/.test(s);
const isJsonObjectString = (s: string) => {
  try {
    const v = JSON.parse(s);
    return typeof v === "object" && v !== null && !Array.isArray(v);
  } catch {
    return false;
  }
};
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;

interface UploadMeta {
  fileName?: string;
  parentType?: string;
  parentNode?: string;
  size?: number; // NaN when present but not a non-negative integer
  extra?: string;
}

/** The checks upload_all and upload_prepare share, in the order they answer. */
function metaError(
  m: UploadMeta,
  maxSize: number,
  nodeError: (node: string) => number | undefined,
): number | undefined {
  if (m.fileName === undefined || m.parentType === undefined || m.parentNode === undefined || m.size === undefined)
    return 1061002;
  const nameLength = [...m.fileName].length; // the doc's limit is in characters, not bytes
  if (nameLength < 1 || nameLength > 250 || CONTROL_CHARS.test(m.fileName)) return 1061008;
  if (!PARENT_TYPES.has(m.parentType)) return 1061002;
  if (m.parentNode === "") return 1061002;
  if (!Number.isSafeInteger(m.size) || m.size < 0) return 1061002;
  if (m.size === 0) return 1061002; // empty files cannot be uploaded
  if (m.size > maxSize) return 1061043;
  if (m.extra !== undefined && !isJsonObjectString(m.extra)) return 1061002;
  return nodeError(m.parentNode);
}

/** Optional text fields: an empty value is treated as absent (Go zero-value semantics). */
const optional = (v: string | undefined) => (v === undefined || v === "" ? undefined : v);

function checksumMatches(sent: string, actual: string): boolean {
  return isDecimal(sent) && Number(sent) === Number(actual);
}

// ---------- body readers ----------

/** Consume and discard what is left of a request body, so the connection stays usable. */
function drain(req: IncomingMessage): Promise<void> {
  return new Promise((resolve) => {
    if (req.readableEnded || req.destroyed) return resolve();
    req.once("end", resolve);
    req.once("close", resolve);
    req.resume();
  });
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown> | undefined> {
  const type = (req.headers["content-type"] ?? "").toLowerCase();
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total <= MAX_JSON_BODY) chunks.push(chunk);
  }
  if (!type.startsWith("application/json") || total > MAX_JSON_BODY) return undefined;
  try {
    const v = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    return typeof v === "object" && v !== null && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

interface FilePart {
  bytes: number;
  sha256: string;
  adler32: string;
  data?: Buffer;
}
interface Multipart {
  fields: Map<string, string>;
  file?: FilePart;
  code?: number; // first error found; later ones are ignored
}

/**
 * Stream a multipart body through busboy, hashing the `file` part as it arrives.
 * `onFileStart` sees the fields sent before the file and may return an error code:
 * metadata is judged before any byte of the file is read.
 */
function readMultipart(
  req: IncomingMessage,
  keep: boolean,
  onFileStart: (fields: Map<string, string>) => number | undefined,
): Promise<Multipart> {
  return new Promise((resolve, reject) => {
    const out: Multipart = { fields: new Map() };
    const fail = (code: number | undefined) => {
      if (code !== undefined) out.code ??= code;
    };
    let settled = false;
    const finish = (file?: () => FilePart) => {
      if (settled) return;
      settled = true;
      if (file) out.file = file();
      resolve(out);
    };
    req.once("close", () => {
      if (!req.complete && !settled) {
        settled = true;
        reject(new Error("client aborted the request"));
      }
    });

    let bb: busboy.Busboy;
    try {
      // UTF-8 field values (file_name) and filename params arrive intact (busboy's params default is latin1).
      bb = busboy({ headers: req.headers, defCharset: "utf8", defParamCharset: "utf8" });
    } catch {
      fail(1061002); // not multipart/form-data, or no boundary
      void drain(req).then(() => finish());
      return;
    }

    let fileSeen = false;
    const sha = createHash("sha256");
    let adler = 1;
    let bytes = 0;
    const chunks: Buffer[] = [];
    bb.on("field", (name, value) => {
      if (fileSeen)
        fail(1061002); // the file part must be the last one
      else out.fields.set(name, value);
    });
    bb.on("file", (name, stream) => {
      // On a truncated body busboy fails the open file stream too; its own 'error' below answers.
      stream.on("error", () => {});
      if (fileSeen || name !== "file") {
        fail(1061002);
        stream.resume();
        return;
      }
      fileSeen = true;
      fail(onFileStart(out.fields));
      stream.on("data", (chunk: Buffer) => {
        bytes += chunk.length;
        sha.update(chunk);
        adler = ADLER32.buf(chunk, adler);
        if (keep) chunks.push(chunk);
      });
    });
    bb.on("error", () => {
      fail(1061002); // malformed multipart
      req.unpipe(bb);
      void drain(req).then(() => finish());
    });
    bb.on("close", () =>
      finish(
        fileSeen
          ? () => ({
              bytes,
              sha256: sha.digest("hex"),
              adler32: (adler >>> 0).toString(),
              data: keep ? Buffer.concat(chunks) : undefined,
            })
          : undefined,
      ),
    );
    req.pipe(bb);
  });
}

// ---------- the emulator ----------

interface ChunkedUpload {
  meta: Required<Omit<UploadMeta, "extra">> & { extra?: string };
  blockNum: number;
  blocks: Map<number, Buffer>;
  expired: boolean;
}

interface Ctx {
  path: string; // URL path without the query
  req: IncomingMessage;
  res: ServerResponse;
  record?: UploadRequestRecord;
  status: number;
  code: number;
}

export async function startLarkEmulator(opts: LarkEmulatorOptions = {}): Promise<LarkEmulator> {
  const appId = opts.appId ?? "cli_emulator";
  const appSecret = opts.appSecret ?? "emulator-secret";
  const ttlMs = (opts.tokenTtlSeconds ?? 7200) * 1000;
  const timeScale = opts.timeScale ?? 1;
  const windowMs = 1000 * timeScale;
  const ratePerWindow = opts.ratePerWindow ?? 5;
  const known = opts.knownParentNodes ? new Set(opts.knownParentNodes) : undefined;
  const keepBytes = opts.keepBytes ?? false;

  const files: ReceivedFile[] = [];
  const requests: UploadRequestRecord[] = [];
  const counters = { tokenRequests: 0, rateViolations: 0, concurrencyViolations: 0, maxInFlight: 0 };
  let faults: { fault: Fault; path?: Endpoint; left: number }[] = [];
  const tokens = new Map<string, number>(); // token -> expiry (epoch ms)
  let currentToken: string | undefined;
  const deletedNodes = new Set<string>();
  const uploads = new Map<string, ChunkedUpload>();
  let arrivals: number[] = []; // admitted arrival times inside the rate window (performance.now())
  let openUploadRequests = 0; // every open request to an upload endpoint, admitted or not
  let busy = false; // an admitted upload request is open

  // ----- replies -----

  function send(ctx: Ctx, status: number, body: string, contentType: string, headers: Record<string, string> = {}) {
    ctx.status = status;
    ctx.res.writeHead(status, { "content-type": contentType, ...headers });
    ctx.res.end(body);
  }
  function reply(
    ctx: Ctx,
    code: number,
    extra: Record<string, unknown> = {},
    headers?: Record<string, string>,
    status?: number,
  ) {
    ctx.code = code;
    const body = JSON.stringify({ code, msg: msgOf(code), ...extra });
    send(ctx, status ?? statusOf(code), body, "application/json; charset=utf-8", headers);
  }
  const replyData = (ctx: Ctx, data: Record<string, unknown>) => reply(ctx, 0, { data });

  // ----- faults -----

  function takeFault(endpoint: Endpoint): Fault | undefined {
    // A rule without a path matches the four upload endpoints, not the token endpoint.
    const i = faults.findIndex((f) => (f.path ? f.path === endpoint : endpoint !== "token"));
    if (i < 0) return undefined;
    const rule = faults[i];
    if (--rule.left <= 0) faults.splice(i, 1);
    return rule.fault;
  }

  async function applyFault(ctx: Ctx, fault: Fault): Promise<void> {
    switch (fault.kind) {
      case "reset":
        ctx.req.socket.destroy();
        return;
      case "hang":
        ctx.req.resume(); // accept the body, never answer; close() ends the socket
        return;
      case "http":
        await drain(ctx.req);
        send(ctx, fault.status, fault.body ?? defaultHtml(fault.status), fault.contentType ?? "text/html");
        return;
      case "code": {
        await drain(ctx.req);
        // A simulated throttle carries the headers a client needs to wait, as a real one does.
        const headers = fault.code === 99991400 && !fault.headers ? rateHeaders(windowMs) : fault.headers;
        reply(ctx, fault.code, fault.msg ? { msg: fault.msg } : {}, headers, fault.httpStatus);
        return;
      }
    }
  }
  // What a load balancer in front of Lark answers: HTML, not JSON.
  const defaultHtml = (status: number) => {
    const title = `${status} ${http.STATUS_CODES[status] ?? "Error"}`;
    return `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n</body>\r\n</html>\r\n`;
  };

  // ----- auth -----

  function tokenError(authorization: string | undefined): number | undefined {
    // Real Lark treats a header without the "Bearer " prefix as no token at all.
    if (!authorization?.startsWith("Bearer ")) return 99991661;
    const token = authorization.slice("Bearer ".length).trim();
    if (token === "") return 99991661;
    if (token.startsWith("t-")) {
      const expiry = tokens.get(token);
      return expiry !== undefined && expiry > Date.now() ? undefined : 99991663;
    }
    if (token.startsWith("u-") || token.startsWith("eyJ")) return 99991668; // a user token we never issued
    return 99991671;
  }

  async function handleToken(ctx: Ctx) {
    counters.tokenRequests++;
    const body = await readJson(ctx.req);
    const id = body?.app_id;
    const secret = body?.app_secret;
    if (typeof id !== "string" || typeof secret !== "string" || !id || !secret) return reply(ctx, 10003);
    if (id !== appId) return reply(ctx, 10014, { msg: "app id not exists" });
    if (secret !== appSecret) return reply(ctx, 10014, { msg: "app secret invalid" });
    const now = Date.now();
    const currentExpiry = currentToken ? tokens.get(currentToken) : undefined;
    if (currentToken && currentExpiry !== undefined && currentExpiry - now > TOKEN_REUSE_MS) {
      return reply(ctx, 0, {
        msg: "ok",
        tenant_access_token: currentToken,
        expire: Math.floor((currentExpiry - now) / 1000),
      });
    }
    currentToken = newTenantToken();
    tokens.set(currentToken, now + ttlMs);
    reply(ctx, 0, { msg: "ok", tenant_access_token: currentToken, expire: Math.floor(ttlMs / 1000) });
  }

  // ----- rate limit -----

  /** ms until a slot frees in the sliding window, or undefined when a slot is free now. */
  function rateWait(now: number): number | undefined {
    arrivals = arrivals.filter((t) => t > now - windowMs);
    return arrivals.length >= ratePerWindow ? arrivals[0] + windowMs - now : undefined;
  }
  function rateHeaders(waitMs: number): Record<string, string> {
    // Whole (unscaled) seconds rounded up, then scaled: an integer at timeScale 1, never too early.
    const reset = Math.ceil(waitMs / timeScale / 1000) * timeScale;
    return {
      "x-ogw-ratelimit-limit": String(ratePerWindow),
      "x-ogw-ratelimit-reset": String(Number(reset.toFixed(3))),
    };
  }

  // ----- parent nodes -----

  function nodeError(node: string): number | undefined {
    if (deletedNodes.has(node)) return 1061041;
    if (known && !known.has(node)) return 1061044;
    return undefined;
  }

  function record(file: Omit<ReceivedFile, "fileToken" | "receivedAt">): string {
    const fileToken = newFileToken();
    files.push({ ...file, fileToken, receivedAt: Date.now() });
    return fileToken;
  }

  // ----- upload_all -----

  function uploadAllMeta(fields: Map<string, string>): UploadMeta {
    const size = fields.get("size");
    return {
      fileName: fields.get("file_name"),
      parentType: fields.get("parent_type"),
      parentNode: fields.get("parent_node"),
      size: size === undefined ? undefined : isDecimal(size) ? Number(size) : NaN,
      extra: optional(fields.get("extra")),
    };
  }

  async function handleUploadAll(ctx: Ctx) {
    const form = await readMultipart(ctx.req, keepBytes, (fields) =>
      metaError(uploadAllMeta(fields), MAX_UPLOAD_ALL_SIZE, nodeError),
    );
    if (form.code !== undefined) return reply(ctx, form.code);
    if (!form.file) return reply(ctx, 1061002);
    const meta = uploadAllMeta(form.fields) as Required<UploadMeta>;
    if (form.file.bytes !== meta.size) return reply(ctx, 1062009);
    const checksum = optional(form.fields.get("checksum"));
    if (checksum !== undefined && !checksumMatches(checksum, form.file.adler32)) return reply(ctx, 1062008);
    const fileToken = record({
      fileName: meta.fileName,
      parentType: meta.parentType,
      parentNode: meta.parentNode,
      size: meta.size,
      checksum,
      extra: meta.extra,
      sha256: form.file.sha256,
      adler32: form.file.adler32,
      route: "upload_all",
      bytes: form.file.data,
    });
    replyData(ctx, { file_token: fileToken });
  }

  // ----- chunked: upload_prepare / upload_part / upload_finish -----

  async function handlePrepare(ctx: Ctx) {
    const body = await readJson(ctx.req);
    if (!body) return reply(ctx, 1061002);
    // JSON types are strict: strings for the text fields, a number for size.
    const texts = ["file_name", "parent_type", "parent_node", "extra"];
    const wrongType = texts.some((k) => body[k] !== undefined && typeof body[k] !== "string");
    if (wrongType || (body.size !== undefined && typeof body.size !== "number")) return reply(ctx, 1061002);
    const meta: UploadMeta = {
      fileName: body.file_name as string | undefined,
      parentType: body.parent_type as string | undefined,
      parentNode: body.parent_node as string | undefined,
      size: body.size as number | undefined,
      extra: optional(body.extra as string | undefined),
    };
    const error = metaError(meta, MAX_CHUNKED_SIZE, nodeError);
    if (error !== undefined) return reply(ctx, error);
    const full = meta as ChunkedUpload["meta"];
    const blockNum = Math.ceil(full.size / BLOCK_SIZE);
    const uploadId = newUploadId();
    uploads.set(uploadId, { meta: full, blockNum, blocks: new Map(), expired: false });
    replyData(ctx, { upload_id: uploadId, block_size: BLOCK_SIZE, block_num: blockNum });
  }

  const blockLength = (u: ChunkedUpload, seq: number) =>
    seq < u.blockNum - 1 ? BLOCK_SIZE : u.meta.size - BLOCK_SIZE * (u.blockNum - 1);

  function lookupUpload(id: unknown): ChunkedUpload | number {
    const u = typeof id === "string" ? uploads.get(id) : undefined;
    if (!u) return 1061002;
    return u.expired ? 1061021 : u;
  }

  function partError(fields: Map<string, string>): number | undefined {
    const u = lookupUpload(fields.get("upload_id"));
    if (typeof u === "number") return u;
    const seq = fields.get("seq");
    const size = fields.get("size");
    if (seq === undefined || !isDecimal(seq)) return 1061002;
    if (Number(seq) >= u.blockNum) return 1062011;
    if (size === undefined || !isDecimal(size)) return 1061002;
    if (Number(size) !== blockLength(u, Number(seq))) return 1061002; // blocks are exactly block_size, last one the rest
    return undefined;
  }

  async function handlePart(ctx: Ctx) {
    // Blocks are kept in memory while the upload is open: the whole-file hashes are computed at finish.
    const form = await readMultipart(ctx.req, true, partError);
    if (form.code !== undefined) return reply(ctx, form.code);
    if (!form.file) return reply(ctx, 1061002);
    const u = lookupUpload(form.fields.get("upload_id"));
    if (typeof u === "number") return reply(ctx, u); // expired while the block was streaming
    if (form.file.bytes !== Number(form.fields.get("size"))) return reply(ctx, 1062009);
    const checksum = optional(form.fields.get("checksum"));
    if (checksum !== undefined && !checksumMatches(checksum, form.file.adler32)) return reply(ctx, 1062008);
    u.blocks.set(Number(form.fields.get("seq")), form.file.data!);
    reply(ctx, 0, { data: {} });
  }

  async function handleFinish(ctx: Ctx) {
    const body = await readJson(ctx.req);
    if (!body) return reply(ctx, 1061002);
    const u = lookupUpload(body.upload_id);
    if (typeof u === "number") return reply(ctx, u);
    if (body.block_num !== u.blockNum) return reply(ctx, 1061002);
    for (let seq = 0; seq < u.blockNum; seq++) if (!u.blocks.has(seq)) return reply(ctx, 1062010);
    const sha = createHash("sha256");
    let adler = 1;
    const ordered = Array.from({ length: u.blockNum }, (_, seq) => u.blocks.get(seq)!);
    for (const block of ordered) {
      sha.update(block);
      adler = ADLER32.buf(block, adler);
    }
    uploads.delete(body.upload_id as string);
    const fileToken = record({
      fileName: u.meta.fileName,
      parentType: u.meta.parentType,
      parentNode: u.meta.parentNode,
      size: u.meta.size,
      extra: u.meta.extra,
      sha256: sha.digest("hex"),
      adler32: (adler >>> 0).toString(),
      route: "chunked",
      bytes: keepBytes ? Buffer.concat(ordered) : undefined,
    });
    replyData(ctx, { file_token: fileToken });
  }

  const uploadHandlers: Record<Exclude<Endpoint, "token">, (ctx: Ctx) => Promise<void>> = {
    upload_all: handleUploadAll,
    upload_prepare: handlePrepare,
    upload_part: handlePart,
    upload_finish: handleFinish,
  };

  // ----- admission of upload requests: fault, auth, rate, concurrency -----

  async function handleUpload(ctx: Ctx, endpoint: Exclude<Endpoint, "token">) {
    const fault = takeFault(endpoint);
    if (fault) return applyFault(ctx, fault);
    const authError = tokenError(ctx.req.headers.authorization);
    if (authError !== undefined) {
      await drain(ctx.req);
      return reply(ctx, authError);
    }
    const now = performance.now();
    const wait = rateWait(now);
    if (wait !== undefined) {
      counters.rateViolations++;
      await drain(ctx.req);
      return reply(ctx, 99991400, {}, rateHeaders(wait));
    }
    if (busy) {
      counters.concurrencyViolations++;
      await drain(ctx.req);
      return reply(ctx, 1061045);
    }
    arrivals.push(now);
    busy = true;
    ctx.res.once("close", () => (busy = false));
    await uploadHandlers[endpoint](ctx);
  }

  // ----- routing -----

  async function route(ctx: Ctx) {
    const { req, path } = ctx;
    const endpoint = req.method === "POST" ? ENDPOINTS[path] : undefined;
    if (endpoint === "token") {
      const fault = takeFault("token");
      return fault ? applyFault(ctx, fault) : handleToken(ctx);
    }
    if (endpoint) return handleUpload(ctx, endpoint);
    await drain(req);
    if (req.method === "GET" && path === "/__emulator/files") {
      const list = files.map(({ bytes: _bytes, ...rest }) => rest);
      return send(ctx, 200, JSON.stringify(list, null, 2), "application/json; charset=utf-8");
    }
    if (req.method === "GET" && path === "/__emulator/stats") {
      return send(ctx, 200, JSON.stringify(stats()), "application/json; charset=utf-8");
    }
    reply(ctx, 404, { msg: "404 page not found" }, undefined, 404);
  }

  function track(req: IncomingMessage, res: ServerResponse): Ctx {
    const path = (req.url ?? "/").split("?")[0];
    const ctx: Ctx = { path, req, res, status: 0, code: -1 };
    const startedAt = Date.now();
    const endpoint = ENDPOINTS[path];
    if (req.method === "POST" && endpoint && endpoint !== "token") {
      ctx.record = { path, startedAt, endedAt: 0, httpStatus: 0, code: -1 };
      requests.push(ctx.record);
      openUploadRequests++;
      counters.maxInFlight = Math.max(counters.maxInFlight, openUploadRequests);
    }
    res.once("close", () => {
      const endedAt = Date.now();
      if (ctx.record) {
        openUploadRequests--;
        Object.assign(ctx.record, { endedAt, httpStatus: ctx.status, code: ctx.code });
      }
      const outcome = ctx.status ? `${ctx.status} code=${ctx.code}` : "no answer (reset/hang/abort)";
      opts.log?.(`${new Date(startedAt).toISOString()} ${req.method} ${path} -> ${outcome} ${endedAt - startedAt}ms`);
    });
    return ctx;
  }

  const server = http.createServer((req, res) => {
    const ctx = track(req, res);
    route(ctx).catch(() => {
      // A client that went away mid-request needs no answer; anything else is our bug: say so.
      if (!res.headersSent && !res.destroyed) reply(ctx, 1061001, {}, undefined, 500);
    });
  });

  function stats(): EmulatorStats {
    return { uploads: files.length, requests: requests.length, ...counters };
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, opts.host ?? "127.0.0.1", () => resolve());
  });
  const address = server.address() as { address: string; port: number; family: string };
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;

  return {
    url: `http://${host}:${address.port}`,
    appId,
    appSecret,
    files,
    requests,
    stats,
    injectFault: (rule) => void faults.push({ fault: rule.fault, path: rule.path, left: rule.times ?? 1 }),
    clearFaults: () => void (faults = []),
    expireTokens: () => {
      tokens.clear();
      currentToken = undefined;
    },
    deleteParentNode: (node) => void deletedNodes.add(node),
    expireUploadIds: () => {
      for (const u of uploads.values()) u.expired = true;
    },
    reset: () => {
      files.length = 0;
      requests.length = 0;
      faults = [];
      arrivals = [];
      Object.assign(counters, { tokenRequests: 0, rateViolations: 0, concurrencyViolations: 0, maxInFlight: 0 });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections(); // also ends hung requests and idle keep-alive sockets
      }),
  };
}

// ---------- standalone dev server: node --import tsx local/lark-emulator.ts ----------

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const emulator = await startLarkEmulator({
    port: Number(process.env.PORT ?? 9876),
    appId: process.env.LARK_APP_ID || undefined,
    appSecret: process.env.LARK_APP_SECRET || undefined,
    log: (line) => console.log(line),
  });
  console.log(`Lark emulator listening on ${emulator.url}`);
  console.log(`  LARK_APP_ID=${emulator.appId}`);
  console.log(`  LARK_APP_SECRET=${emulator.appSecret}`);
  console.log(`  received files: ${emulator.url}/__emulator/files   stats: ${emulator.url}/__emulator/stats`);
  const stop = () => void emulator.close().then(() => process.exit(0));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

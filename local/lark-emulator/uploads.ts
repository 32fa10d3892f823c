// The upload flow drive/v1 has twice, for media (medias/…) and for Drive files (files/…): upload_all and the
// chunked upload_prepare | upload_part | upload_finish, strict per Lark's upload references: multipart parsing,
// Adler-32, sizes, names, one upload at a time, 5 per second. What differs, the parent types and nodes each
// accepts and where an accepted file goes, is its destination's (media.ts, drive-files.ts).
//
// Chosen where Lark's documentation is silent:
// - Order of checks on an upload request: injected fault, auth, rate limit, concurrency, then the body.
// - Rate limit: a sliding window of `1000*timeScale` ms holding the arrivals of *admitted* requests only;
//   requests answered 429 or 1061045 (and auth failures and faulted requests) take no slot.
// - One at a time: a request arriving while an admitted upload request is still open gets 1061045. The medias and
//   files endpoints share the window and the slot: Lark states 5/s and "no concurrent calls" for both, and writes
//   into one folder never overlap (1061045 too).
// - upload_all metadata (the fields before `file`) is validated before the bytes are read, so a declared
//   size above 20 MiB gets 1061043 whatever the body; byte count (1062009) and checksum (1062008) come last.
// - An upload id belongs to the API that issued it: a medias upload id is unknown (1061002) to files/upload_part.
// - Image uploads (by the file name's extension) keep their bytes whatever keepBytes says, for the web view.

import { createHash } from "node:crypto";
import ADLER32 from "adler-32";
import { readJson, readMultipart } from "./bodies";
import type { ReceivedFile } from "./files";
import { randomDecimal } from "./ids";
import type { Limit, Limits } from "./limits";
import { isImageName } from "./mime";
import { type Ctx, type Route, reply, replyData } from "./server";

export const MAX_UPLOAD_ALL_SIZE = 20 * 1024 * 1024; // 20971520, Lark's upload_all limit
export const BLOCK_SIZE = 4 * 1024 * 1024; // fixed by Lark for upload_prepare
const MAX_CHUNKED_SIZE = 20 * 1024 * 1024 * 1024; // our cap for the chunked flow
export const PARAMS_ERROR = 1061002;

/** The four steps, by the last segment of their path. */
export type UploadStep = "upload_all" | "upload_prepare" | "upload_part" | "upload_finish";

/** The rule names the upload admission counts its refusals under (stats: rateViolations, concurrencyViolations). */
export const UPLOAD_RATE_RULE = "media";
export const UPLOAD_SLOT_RULE = "media.one_at_a_time";

/** The limits every upload request of either API passes: one rate window and one slot for the app. */
export function uploadAdmission(limits: Limits, ratePerWindow: number): () => Limit[] {
  const rule = { name: UPLOAD_RATE_RULE, limit: ratePerWindow, perMs: 1000, status: 429 } as const;
  return () => [limits.rate(rule, "app"), limits.oneAtATime(UPLOAD_SLOT_RULE, "app", 1061045)];
}

/** Unsigned decimal Adler-32, the format Lark's `checksum` uses. */
export function adler32Decimal(bytes: Uint8Array, seed?: number): string {
  return (ADLER32.buf(bytes, seed) >>> 0).toString();
}

/** An upload's metadata once the common checks passed; an absent parent node is "". */
export interface CheckedMeta {
  fileName: string;
  parentType: string;
  parentNode: string;
  size: number;
  extra?: string;
}

/** What a destination keeps: the received file without what it adds itself. */
export type AcceptedUpload = Omit<ReceivedFile, "fileToken" | "receivedAt" | "driveRouteToken">;

/** Where one API's uploads may go, and where an accepted one goes. */
export interface UploadDestination {
  /** Whether the API has an `extra` field (medias: a JSON object string; files: none, theirs is ignored). */
  hasExtra: boolean;
  /** Judged right after the file name: the parent type, and whether a parent node is given where it must be. */
  parentError(parentType: string, parentNode: string | undefined): number | undefined;
  /** Judged last, once sizes and extra are fine: the parent node itself (and whatever else the type needs). */
  nodeError(meta: CheckedMeta): number | undefined;
  /** Keep an accepted upload; its file token. */
  record(file: AcceptedUpload): string;
}

interface UploadMeta {
  fileName?: string;
  parentType?: string;
  parentNode?: string;
  size?: number; // NaN when present but not a non-negative integer
  extra?: string;
}

interface ChunkedUpload {
  meta: CheckedMeta;
  blockNum: number;
  blocks: Map<number, Buffer>;
  expired: boolean;
}

export interface UploadFlow {
  handlers: Record<UploadStep, (ctx: Ctx) => Promise<void>>;
  /** Every open chunked upload's id answers 1061021 from now on. */
  expireUploadIds(): void;
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
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;

/** Optional text fields: an empty value is treated as absent (Go zero-value semantics). */
const optional = (v: string | undefined) => (v === undefined || v === "" ? undefined : v);

function checksumMatches(sent: string, actual: string): boolean {
  return isDecimal(sent) && Number(sent) === Number(actual);
}

export function createUploadFlow(destination: UploadDestination, opts: { keepBytes: boolean }): UploadFlow {
  const uploads = new Map<string, ChunkedUpload>();
  const keeps = (fileName: string) => opts.keepBytes || isImageName(fileName);

  /** The checks upload_all and upload_prepare share, in the order they answer. */
  function metaError(m: UploadMeta, maxSize: number): number | undefined {
    if (m.fileName === undefined || m.parentType === undefined || m.size === undefined) return PARAMS_ERROR;
    const nameLength = [...m.fileName].length; // the limit is in characters, not bytes
    if (nameLength < 1 || nameLength > 250 || CONTROL_CHARS.test(m.fileName)) return 1061008;
    const parentError = destination.parentError(m.parentType, m.parentNode);
    if (parentError !== undefined) return parentError;
    if (!Number.isSafeInteger(m.size) || m.size < 0) return PARAMS_ERROR;
    if (m.size === 0) return PARAMS_ERROR; // empty files cannot be uploaded
    if (m.size > maxSize) return 1061043;
    if (m.extra !== undefined && !isJsonObjectString(m.extra)) return PARAMS_ERROR;
    return destination.nodeError(checked(m));
  }

  /** The metadata of a request metaError passed. */
  const checked = (m: UploadMeta): CheckedMeta => ({
    fileName: m.fileName!,
    parentType: m.parentType!,
    parentNode: m.parentNode ?? "",
    size: m.size!,
    extra: m.extra,
  });

  const extraOf = (v: string | undefined) => (destination.hasExtra ? optional(v) : undefined);

  // ----- upload_all -----

  function uploadAllMeta(fields: Map<string, string>): UploadMeta {
    const size = fields.get("size");
    return {
      fileName: fields.get("file_name"),
      parentType: fields.get("parent_type"),
      parentNode: fields.get("parent_node"),
      size: size === undefined ? undefined : isDecimal(size) ? Number(size) : NaN,
      extra: extraOf(fields.get("extra")),
    };
  }

  async function uploadAll(ctx: Ctx) {
    const form = await readMultipart(
      ctx.req,
      (fields) => keeps(fields.get("file_name") ?? ""),
      PARAMS_ERROR,
      (fields) => metaError(uploadAllMeta(fields), MAX_UPLOAD_ALL_SIZE),
    );
    if (form.code !== undefined) return reply(ctx, form.code);
    if (!form.file) return reply(ctx, PARAMS_ERROR);
    const meta = checked(uploadAllMeta(form.fields));
    if (form.file.bytes !== meta.size) return reply(ctx, 1062009);
    const checksum = optional(form.fields.get("checksum"));
    if (checksum !== undefined && !checksumMatches(checksum, form.file.adler32)) return reply(ctx, 1062008);
    const fileToken = destination.record({
      ...meta,
      checksum,
      sha256: form.file.sha256,
      adler32: form.file.adler32,
      route: "upload_all",
      bytes: form.file.data,
    });
    replyData(ctx, { file_token: fileToken });
  }

  // ----- chunked: upload_prepare / upload_part / upload_finish -----

  async function prepare(ctx: Ctx) {
    const body = await readJson(ctx.req);
    if (!body) return reply(ctx, PARAMS_ERROR);
    // JSON types are strict: strings for the text fields, a number for size.
    const texts = ["file_name", "parent_type", "parent_node", "extra"];
    const wrongType = texts.some((k) => body[k] !== undefined && typeof body[k] !== "string");
    if (wrongType || (body.size !== undefined && typeof body.size !== "number")) return reply(ctx, PARAMS_ERROR);
    const meta: UploadMeta = {
      fileName: body.file_name as string | undefined,
      parentType: body.parent_type as string | undefined,
      parentNode: body.parent_node as string | undefined,
      size: body.size as number | undefined,
      extra: extraOf(body.extra as string | undefined),
    };
    const error = metaError(meta, MAX_CHUNKED_SIZE);
    if (error !== undefined) return reply(ctx, error);
    const full = checked(meta);
    const blockNum = Math.ceil(full.size / BLOCK_SIZE);
    const uploadId = randomDecimal(19);
    uploads.set(uploadId, { meta: full, blockNum, blocks: new Map(), expired: false });
    replyData(ctx, { upload_id: uploadId, block_size: BLOCK_SIZE, block_num: blockNum });
  }

  const blockLength = (u: ChunkedUpload, seq: number) =>
    seq < u.blockNum - 1 ? BLOCK_SIZE : u.meta.size - BLOCK_SIZE * (u.blockNum - 1);

  function lookupUpload(id: unknown): ChunkedUpload | number {
    const u = typeof id === "string" ? uploads.get(id) : undefined;
    if (!u) return PARAMS_ERROR;
    return u.expired ? 1061021 : u;
  }

  function partError(fields: Map<string, string>): number | undefined {
    const u = lookupUpload(fields.get("upload_id"));
    if (typeof u === "number") return u;
    const seq = fields.get("seq");
    const size = fields.get("size");
    if (seq === undefined || !isDecimal(seq)) return PARAMS_ERROR;
    if (Number(seq) >= u.blockNum) return 1062011;
    if (size === undefined || !isDecimal(size)) return PARAMS_ERROR;
    if (Number(size) !== blockLength(u, Number(seq))) return PARAMS_ERROR; // blocks are exactly block_size, last one the rest
    return undefined;
  }

  async function part(ctx: Ctx) {
    // Blocks are kept in memory while the upload is open: the whole-file hashes are computed at finish.
    const form = await readMultipart(ctx.req, () => true, PARAMS_ERROR, partError);
    if (form.code !== undefined) return reply(ctx, form.code);
    if (!form.file) return reply(ctx, PARAMS_ERROR);
    const u = lookupUpload(form.fields.get("upload_id"));
    if (typeof u === "number") return reply(ctx, u); // expired while the block was streaming
    if (form.file.bytes !== Number(form.fields.get("size"))) return reply(ctx, 1062009);
    const checksum = optional(form.fields.get("checksum"));
    if (checksum !== undefined && !checksumMatches(checksum, form.file.adler32)) return reply(ctx, 1062008);
    u.blocks.set(Number(form.fields.get("seq")), form.file.data!);
    reply(ctx, 0, { data: {} });
  }

  async function finish(ctx: Ctx) {
    const body = await readJson(ctx.req);
    if (!body) return reply(ctx, PARAMS_ERROR);
    const u = lookupUpload(body.upload_id);
    if (typeof u === "number") return reply(ctx, u);
    if (body.block_num !== u.blockNum) return reply(ctx, PARAMS_ERROR);
    for (let seq = 0; seq < u.blockNum; seq++) if (!u.blocks.has(seq)) return reply(ctx, 1062010);
    const sha = createHash("sha256");
    let adler = 1;
    const ordered = Array.from({ length: u.blockNum }, (_, seq) => u.blocks.get(seq)!);
    for (const block of ordered) {
      sha.update(block);
      adler = ADLER32.buf(block, adler);
    }
    uploads.delete(body.upload_id as string);
    const fileToken = destination.record({
      ...u.meta,
      sha256: sha.digest("hex"),
      adler32: (adler >>> 0).toString(),
      route: "chunked",
      bytes: keeps(u.meta.fileName) ? Buffer.concat(ordered) : undefined,
    });
    replyData(ctx, { file_token: fileToken });
  }

  return {
    handlers: { upload_all: uploadAll, upload_prepare: prepare, upload_part: part, upload_finish: finish },
    expireUploadIds: () => {
      for (const u of uploads.values()) u.expired = true;
    },
  };
}

/** The four routes of one upload API (`/open-apis/drive/v1/<resource>/<step>`), recorded and admitted alike. */
export function uploadRoutes<E extends Route["endpoint"]>(
  resource: "medias" | "files",
  flow: UploadFlow,
  endpointOf: (step: UploadStep) => E,
  admission: () => Limit[],
): Route[] {
  return Object.entries(flow.handlers).map(
    ([step, handle]): Route => ({
      method: "POST",
      path: `/open-apis/drive/v1/${resource}/${step}`,
      endpoint: endpointOf(step as UploadStep),
      recorded: true,
      limits: admission,
      handle,
    }),
  );
}

// drive/v1/medias: upload_all and the chunked upload_prepare | upload_part | upload_finish, strict per Lark's
// upload_all reference: multipart parsing, Adler-32, sizes, names, parent nodes, one upload at a time, 5 per second.
//
// Chosen where Lark's documentation is silent:
// - Order of checks on an upload request: injected fault, auth, rate limit, concurrency, then the body.
// - Rate limit: a sliding window of `1000*timeScale` ms holding the arrivals of *admitted* requests only;
//   requests answered 429 or 1061045 (and auth failures and faulted requests) take no slot.
// - One at a time: a request arriving while an admitted upload request is still open gets 1061045.
// - upload_all metadata (the fields before `file`) is validated before the bytes are read, so a declared
//   size above 20 MiB gets 1061043 whatever the body; byte count (1062009) and checksum (1062008) come last.
// - Parent nodes: a node deleted with deleteParentNode is 1061041. A parent type a family owns (its upload
//   targets) is judged by that family once it holds a fixture, as its header says. Every other node is
//   accepted, unless knownParentNodes is given and does not list it (1061044).
// - extra.drive_route_token is recorded, not judged here: binding the token (replace_image…) checks it.

import { createHash, randomInt } from "node:crypto";
import ADLER32 from "adler-32";
import { readJson, readMultipart } from "./bodies";
import type { Family, FamilyContext } from "./family";
import type { ReceivedFile, UploadTarget } from "./files";
import { randomAlnum } from "./ids";
import type { Limit } from "./limits";
import { type Ctx, type Route, reply, replyData } from "./server";

export type MediaEndpoint = "upload_all" | "upload_prepare" | "upload_part" | "upload_finish";

export const MAX_UPLOAD_ALL_SIZE = 20 * 1024 * 1024; // 20971520, Lark's upload_all limit
export const BLOCK_SIZE = 4 * 1024 * 1024; // fixed by Lark for upload_prepare
const MAX_CHUNKED_SIZE = 20 * 1024 * 1024 * 1024; // our cap for the chunked flow
const PARAMS_ERROR = 1061002;

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

/** Unsigned decimal Adler-32, the format Lark's `checksum` uses. */
export function adler32Decimal(bytes: Uint8Array, seed?: number): string {
  return (ADLER32.buf(bytes, seed) >>> 0).toString();
}

const newFileToken = () => `boxcn${randomAlnum(22)}`; // shaped like Lark's drive tokens
const newUploadId = () => String(randomInt(1, 10)) + Array.from({ length: 18 }, () => randomInt(10)).join("");

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

interface UploadMeta {
  fileName?: string;
  parentType?: string;
  parentNode?: string;
  size?: number; // NaN when present but not a non-negative integer
  extra?: string;
}

/** `drive_route_token` of an upload's `extra` (already known to be a JSON object when present). */
function driveRouteOf(extra: string | undefined): string | undefined {
  const token = extra === undefined ? undefined : JSON.parse(extra).drive_route_token;
  return typeof token === "string" ? token : undefined;
}

/** Optional text fields: an empty value is treated as absent (Go zero-value semantics). */
const optional = (v: string | undefined) => (v === undefined || v === "" ? undefined : v);

function checksumMatches(sent: string, actual: string): boolean {
  return isDecimal(sent) && Number(sent) === Number(actual);
}

interface ChunkedUpload {
  meta: Required<Omit<UploadMeta, "extra">> & { extra?: string };
  blockNum: number;
  blocks: Map<number, Buffer>;
  expired: boolean;
}

export interface MediaOptions {
  ratePerWindow: number;
  keepBytes: boolean;
  knownParentNodes?: string[];
  /** The families' own parent types: their nodes are judged by the family, not by `knownParentNodes`. */
  targets: Record<string, UploadTarget>;
}

export interface Media extends Family {
  snapshot(): Omit<ReceivedFile, "bytes">[];
  deleteParentNode(node: string): void;
  expireUploadIds(): void;
  rateRule: string;
  oneAtATimeRule: string;
}

export function createMedia(family: FamilyContext, opts: MediaOptions): Media {
  const known = opts.knownParentNodes ? new Set(opts.knownParentNodes) : undefined;
  const deletedNodes = new Set<string>();
  const uploads = new Map<string, ChunkedUpload>();
  const rateRule = { name: "media", limit: opts.ratePerWindow, perMs: 1000, status: 429 } as const;
  const oneAtATimeRule = "media.one_at_a_time";

  function nodeError(parentType: string, node: string): number | undefined {
    if (deletedNodes.has(node)) return 1061041;
    const target = opts.targets[parentType];
    if (target?.modelled()) return target.refuse(node);
    if (known && !known.has(node)) return 1061044;
    return undefined;
  }

  /** The checks upload_all and upload_prepare share, in the order they answer. */
  function metaError(m: UploadMeta, maxSize: number): number | undefined {
    if (m.fileName === undefined || m.parentType === undefined || m.parentNode === undefined || m.size === undefined)
      return PARAMS_ERROR;
    const nameLength = [...m.fileName].length; // the limit is in characters, not bytes
    if (nameLength < 1 || nameLength > 250 || CONTROL_CHARS.test(m.fileName)) return 1061008;
    if (!PARENT_TYPES.has(m.parentType)) return PARAMS_ERROR;
    if (m.parentNode === "") return PARAMS_ERROR;
    if (!Number.isSafeInteger(m.size) || m.size < 0) return PARAMS_ERROR;
    if (m.size === 0) return PARAMS_ERROR; // empty files cannot be uploaded
    if (m.size > maxSize) return 1061043;
    if (m.extra !== undefined && !isJsonObjectString(m.extra)) return PARAMS_ERROR;
    return nodeError(m.parentType, m.parentNode);
  }

  function record(file: Omit<ReceivedFile, "fileToken" | "receivedAt" | "driveRouteToken">): string {
    const fileToken = newFileToken();
    family.files.add({ ...file, fileToken, driveRouteToken: driveRouteOf(file.extra), receivedAt: Date.now() });
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

  async function uploadAll(ctx: Ctx) {
    const form = await readMultipart(ctx.req, opts.keepBytes, PARAMS_ERROR, (fields) =>
      metaError(uploadAllMeta(fields), MAX_UPLOAD_ALL_SIZE),
    );
    if (form.code !== undefined) return reply(ctx, form.code);
    if (!form.file) return reply(ctx, PARAMS_ERROR);
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
      extra: optional(body.extra as string | undefined),
    };
    const error = metaError(meta, MAX_CHUNKED_SIZE);
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
    const form = await readMultipart(ctx.req, true, PARAMS_ERROR, partError);
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
    const fileToken = record({
      fileName: u.meta.fileName,
      parentType: u.meta.parentType,
      parentNode: u.meta.parentNode,
      size: u.meta.size,
      extra: u.meta.extra,
      sha256: sha.digest("hex"),
      adler32: (adler >>> 0).toString(),
      route: "chunked",
      bytes: opts.keepBytes ? Buffer.concat(ordered) : undefined,
    });
    replyData(ctx, { file_token: fileToken });
  }

  // All four endpoints share one rate window and one at-a-time slot.
  const limits = (): Limit[] => [
    family.limits.rate(rateRule, "app"),
    family.limits.oneAtATime(oneAtATimeRule, "app", 1061045),
  ];
  const handlers: Record<MediaEndpoint, (ctx: Ctx) => Promise<void>> = {
    upload_all: uploadAll,
    upload_prepare: prepare,
    upload_part: part,
    upload_finish: finish,
  };
  const routes = Object.entries(handlers).map(
    ([endpoint, handle]): Route => ({
      method: "POST",
      path: `/open-apis/drive/v1/medias/${endpoint}`,
      endpoint: endpoint as MediaEndpoint,
      recorded: true,
      limits,
      handle,
    }),
  );

  return {
    routes,
    deleteParentNode: (node) => void deletedNodes.add(node),
    expireUploadIds: () => {
      for (const u of uploads.values()) u.expired = true;
    },
    // Upload ids, deleted nodes and tokens outlive a reset: a client mid-flow keeps going.
    reset: () => family.files.clear(),
    snapshot: () => family.files.list.map(({ bytes: _bytes, ...rest }) => rest),
    rateRule: rateRule.name,
    oneAtATimeRule,
  };
}

// docx/v1: documents, their blocks, and the calls that put an uploaded image or file into a document:
// create an Image (27) or File (23) block, upload into it (parent_type docx_image / docx_file, parent_node = the
// block, extra.drive_route_token = the document), then bind with PATCH replace_image / replace_file.
//
// Limits, as Lark's block references give them: each write endpoint (create children, patch, batch delete)
// 3 requests/s per app, refused HTTP 400 + 99991400; 3 edits/s per document, all write endpoints together,
// refused HTTP 429 + 99991400. Reads: 5 requests/s per app per endpoint (HTTP 400).
//
// Chosen where Lark's documentation is silent:
// - The emulator keeps no history: a document_revision_id other than -1 (latest) and the current revision is
//   1770021 "too old document" when older, 1770001 when newer, on reads and writes alike.
// - client_token: the first answer to a write is kept per document and token; a later write with the same token
//   gets that answer again, unchanged, and nothing is done, even when the blocks it names were deleted since.
//   A write without one gets a fresh uuid as its client_token.
// - A block id of another document is 1770015; an unknown one 1770001; a deleted one 1770003.
// - Children go into Page and text blocks; asking a Divider, File, Image or View for children is 1770028.
//   batch_delete inside a View (the File it wraps) is 1770031. More than 20 images in one request: 1770035.
// - PATCH models replace_image and replace_file only (exactly one per request, else 1770001); on the wrong
//   block type it is 1770025. width and height, when given, are positive integers; without them the image keeps
//   its size (100×100 when created).
// - 1770013 unless the token was uploaded with parent_type docx_image (replace_image) / docx_file (replace_file),
//   parent_node = this block and extra.drive_route_token = this document.
// - Non-editable documents are readable; their writes are 1770032. A removed document is 1770002 everywhere.
// - Uploads (once a document exists): docx_image / docx_file need a live Image / File block as parent_node,
//   else 1061044; a deleted block or document is 1061041; a non-editable document 1061004.

import { randomUUID } from "node:crypto";
import { drain, isInteger, isRecord, readJson } from "./bodies";
import {
  alignOf,
  blockJson,
  blocksFor,
  type DocxBlock,
  type DocxDocument,
  deleteSubtree,
  FILE,
  IMAGE,
  INVALID_PARAM,
  liveBlocks,
  newDocument,
  takesChildren,
  VIEW,
} from "./docx-blocks";
import type { Family, FamilyContext } from "./family";
import type { UploadTarget } from "./files";
import { randomAlnum } from "./ids";
import type { RateRule } from "./limits";
import { type Ctx, LarkError, type Params, pageOf, queryInt, type Route, replyData } from "./server";

export type { DocxBlock, DocxDocument } from "./docx-blocks";

export type DocxEndpoint =
  | "docx.document.get"
  | "docx.documentBlock.get"
  | "docx.documentBlock.list"
  | "docx.documentBlock.patch"
  | "docx.documentBlockChildren.create"
  | "docx.documentBlockChildren.batchDelete";

const APP_WRITES = { name: "docx.app_writes", limit: 3, perMs: 1000, status: 400 } as const satisfies RateRule;
const DOCUMENT_EDITS = { name: "docx.document_edits", limit: 3, perMs: 1000, status: 429 } as const satisfies RateRule;
const APP_READS = { name: "docx.app_reads", limit: 5, perMs: 1000, status: 400 } as const satisfies RateRule;
export type DocxRateRule = (typeof APP_WRITES | typeof DOCUMENT_EDITS | typeof APP_READS)["name"];

const NOT_FOUND = 1770002;
const FORBIDDEN = 1770032;
const MAX_CHILDREN = 50;
const MAX_IMAGES_PER_REQUEST = 20;

export interface DocumentFixture {
  /** Default true; false: the app may read the document, not edit it. */
  editable?: boolean;
  title?: string;
}

/** A document as GET /__emulator/state shows it: its blocks as Lark answers them, deleted ones flagged. */
export type DocumentView = ReturnType<typeof documentView>;

export interface Docx extends Family {
  snapshot(): DocumentView[];
  documents: ReadonlyMap<string, DocxDocument>;
  addDocument(documentId: string, fixture?: DocumentFixture): DocxDocument;
  /** The document is deleted: every call on it is 1770002, uploads into its blocks 1061041. */
  removeDocument(documentId: string): void;
}

type Change = (doc: DocxDocument, body: Record<string, unknown>, params: Params) => Record<string, unknown>;

export function createDocx(family: FamilyContext): Docx {
  const documents = new Map<string, DocxDocument>();
  const homes = new Map<string, DocxDocument>(); // block id -> the document holding it
  const answers = new Map<string, Record<string, unknown>>(); // document id + client_token -> first answer's data
  const newBlockId = () => `doxcn${randomAlnum(22)}`;

  function liveDocument(documentId: string): DocxDocument {
    const doc = documents.get(documentId);
    if (!doc || doc.deleted) throw new LarkError(NOT_FOUND);
    return doc;
  }

  function blockOf(doc: DocxDocument, blockId: string): DocxBlock {
    const block = doc.blocks.get(blockId);
    if (!block) throw new LarkError(homes.has(blockId) ? 1770015 : INVALID_PARAM);
    if (block.deleted) throw new LarkError(1770003);
    return block;
  }

  function checkRevision(ctx: Ctx, doc: DocxDocument): void {
    const revision = queryInt(ctx, "document_revision_id", INVALID_PARAM) ?? -1;
    if (revision === -1 || revision === doc.revisionId) return;
    throw new LarkError(revision < -1 || revision > doc.revisionId ? INVALID_PARAM : 1770021);
  }

  // ----- reads -----

  const read =
    (answer: (ctx: Ctx, doc: DocxDocument, params: Params) => Record<string, unknown>) =>
    async (ctx: Ctx, params: Params) => {
      await drain(ctx.req);
      const doc = liveDocument(params.document_id);
      checkRevision(ctx, doc);
      replyData(ctx, answer(ctx, doc, params));
    };

  const getDocument = read((_ctx, doc) => ({
    document: { document_id: doc.documentId, revision_id: doc.revisionId, title: doc.title },
  }));
  const getBlock = read((_ctx, doc, params) => ({ block: blockJson(blockOf(doc, params.block_id)) }));
  const listBlocks = read((ctx, doc) =>
    pageOf(ctx, liveBlocks(doc).map(blockJson), {
      defaultSize: 500,
      maxSize: 500,
      invalidSize: INVALID_PARAM,
      invalidToken: 1770022,
    }),
  );

  // ----- writes: one flow for permission, client_token replay, revision and the revision bump -----

  const write = (change: Change) => async (ctx: Ctx, params: Params) => {
    const body = await readJson(ctx.req);
    const doc = liveDocument(params.document_id);
    if (!doc.editable) throw new LarkError(FORBIDDEN);
    const clientToken = ctx.query.get("client_token") || undefined;
    const key = clientToken && `${doc.documentId}\u0000${clientToken}`;
    const first = key ? answers.get(key) : undefined;
    if (first) return replyData(ctx, first);
    checkRevision(ctx, doc);
    if (!body) throw new LarkError(INVALID_PARAM);
    const data = change(doc, body, params); // judges everything before it changes anything
    doc.revisionId++;
    const answer = { ...data, document_revision_id: doc.revisionId, client_token: clientToken ?? randomUUID() };
    if (key) answers.set(key, answer);
    replyData(ctx, answer);
  };

  const createChildren = write((doc, body, params) => {
    const parent = blockOf(doc, params.block_id);
    if (!takesChildren(parent)) throw new LarkError(1770028);
    const specs = body.children;
    if (!Array.isArray(specs) || specs.length < 1 || specs.length > MAX_CHILDREN) throw new LarkError(INVALID_PARAM);
    const index = body.index ?? -1;
    if (!isInteger(index) || index < -1 || index > parent.children.length) throw new LarkError(INVALID_PARAM);
    const made = specs.map((spec) => blocksFor(spec, parent.blockId, newBlockId));
    if (made.filter(([top]) => top.blockType === IMAGE).length > MAX_IMAGES_PER_REQUEST) throw new LarkError(1770035);
    for (const block of made.flat()) {
      doc.blocks.set(block.blockId, block);
      homes.set(block.blockId, doc);
    }
    const at = index === -1 ? parent.children.length : index;
    parent.children.splice(at, 0, ...made.map(([top]) => top.blockId));
    return { children: made.map(([top]) => blockJson(top)) };
  });

  /** The upload behind `token`, if it was made for this very block of this document as `parentType`. */
  function mediaFor(token: unknown, parentType: string, block: DocxBlock, doc: DocxDocument) {
    if (typeof token !== "string" || token === "") throw new LarkError(INVALID_PARAM);
    const file = family.files.get(token);
    const bound =
      file?.parentType === parentType && file.parentNode === block.blockId && file.driveRouteToken === doc.documentId;
    if (!bound) throw new LarkError(1770013);
    return file;
  }

  function replaceImage(doc: DocxDocument, block: DocxBlock, request: unknown): void {
    if (block.blockType !== IMAGE) throw new LarkError(1770025);
    if (!isRecord(request)) throw new LarkError(INVALID_PARAM);
    const size = (v: unknown) => {
      if (v !== undefined && !(isInteger(v) && v > 0)) throw new LarkError(INVALID_PARAM);
      return v;
    };
    const [width, height] = [size(request.width), size(request.height)];
    const align = request.align === undefined ? undefined : alignOf(request.align);
    const caption = isRecord(request.caption) ? request.caption : undefined;
    mediaFor(request.token, "docx_image", block, doc);
    Object.assign(block.payload, { token: request.token, ...defined({ width, height, align, caption }) });
  }

  function replaceFile(doc: DocxDocument, block: DocxBlock, request: unknown): void {
    if (block.blockType !== FILE) throw new LarkError(1770025);
    if (!isRecord(request)) throw new LarkError(INVALID_PARAM);
    const file = mediaFor(request.token, "docx_file", block, doc);
    Object.assign(block.payload, { token: file.fileToken, name: file.fileName });
  }

  const patchBlock = write((doc, body, params) => {
    const block = blockOf(doc, params.block_id);
    const operations = Object.keys(body);
    if (operations.length !== 1) throw new LarkError(INVALID_PARAM);
    if ("replace_image" in body) replaceImage(doc, block, body.replace_image);
    else if ("replace_file" in body) replaceFile(doc, block, body.replace_file);
    else throw new LarkError(INVALID_PARAM);
    return { block: blockJson(block) };
  });

  const batchDelete = write((doc, body, params) => {
    const parent = blockOf(doc, params.block_id);
    if (parent.blockType === VIEW) throw new LarkError(1770031);
    const { start_index: start, end_index: end } = body;
    if (!isInteger(start) || !isInteger(end) || start < 0 || end <= start || end > parent.children.length)
      throw new LarkError(INVALID_PARAM);
    for (const id of parent.children.splice(start, end - start)) deleteSubtree(doc, id);
    return {};
  });

  // ----- routes -----

  const { limits } = family;
  const route = (
    method: Route["method"],
    path: string,
    endpoint: DocxEndpoint,
    kind: "read" | "write",
    handle: Route["handle"],
  ): Route => ({
    method,
    path: `/open-apis/docx/v1/documents/${path}`,
    endpoint,
    limits:
      kind === "read"
        ? () => [limits.rate(APP_READS, endpoint)]
        : (params) => [limits.rate(APP_WRITES, endpoint), limits.rate(DOCUMENT_EDITS, params.document_id)],
    handle,
  });

  const routes = [
    route("GET", ":document_id", "docx.document.get", "read", getDocument),
    route("GET", ":document_id/blocks", "docx.documentBlock.list", "read", listBlocks),
    route("GET", ":document_id/blocks/:block_id", "docx.documentBlock.get", "read", getBlock),
    route("PATCH", ":document_id/blocks/:block_id", "docx.documentBlock.patch", "write", patchBlock),
    route(
      "POST",
      ":document_id/blocks/:block_id/children",
      "docx.documentBlockChildren.create",
      "write",
      createChildren,
    ),
    route(
      "DELETE",
      ":document_id/blocks/:block_id/children/batch_delete",
      "docx.documentBlockChildren.batchDelete",
      "write",
      batchDelete,
    ),
  ];

  // ----- uploads into blocks -----

  const uploadTarget = (blockType: number): UploadTarget => ({
    modelled: () => documents.size > 0,
    refuse: (node) => {
      const doc = homes.get(node);
      const block = doc?.blocks.get(node);
      if (!doc || !block) return 1061044;
      if (block.deleted || doc.deleted) return 1061041;
      if (block.blockType !== blockType) return 1061044;
      return doc.editable ? undefined : 1061004;
    },
  });

  return {
    routes,
    uploadTargets: { docx_image: uploadTarget(IMAGE), docx_file: uploadTarget(FILE) },
    documents,
    addDocument(documentId, { editable = true, title = "" } = {}) {
      if (documents.get(documentId)?.deleted === false) throw new Error(`document ${documentId} already exists`);
      const doc = newDocument(documentId, title, editable);
      documents.set(documentId, doc);
      homes.set(documentId, doc);
      return doc;
    },
    removeDocument(documentId) {
      const doc = documents.get(documentId);
      if (!doc) throw new Error(`no document ${documentId}`);
      doc.deleted = true;
    },
    reset() {
      documents.clear();
      homes.clear();
      answers.clear();
    },
    snapshot: () => [...documents.values()].map(documentView),
  };
}

function documentView(doc: DocxDocument) {
  const { blocks, ...rest } = doc;
  return { ...rest, blocks: [...blocks.values()].map((b) => ({ ...blockJson(b), deleted: b.deleted })) };
}

/** The entries whose value is not undefined. */
function defined(values: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined));
}

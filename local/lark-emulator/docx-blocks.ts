// The docx block tree: the block types the emulator models, the blocks a create-children request makes, and
// each block as Lark shows it.
//
// Modelled types: Page (1, the root only), the text family (Text 2, Heading1–9 3–11, Bullet 12, Ordered 13,
// Code 14, Quote 15, Todo 17), Divider (22), File (23, always inside a View 33) and Image (27). Creating any
// other type answers 1770029 "block not support to create"; a Page or a View asked for directly is 1770014,
// since those only exist as the root and as a File's parent.

import { isInteger, isRecord } from "./bodies";
import { LarkError } from "./server";

export const PAGE = 1;
export const DIVIDER = 22;
export const FILE = 23;
export const IMAGE = 27;
export const VIEW = 33;

const TEXT_KEYS: Record<number, string> = {
  2: "text",
  3: "heading1",
  4: "heading2",
  5: "heading3",
  6: "heading4",
  7: "heading5",
  8: "heading6",
  9: "heading7",
  10: "heading8",
  11: "heading9",
  12: "bullet",
  13: "ordered",
  14: "code",
  15: "quote",
  17: "todo",
};

export const INVALID_PARAM = 1770001;

export interface DocxBlock {
  blockId: string;
  blockType: number;
  /** "" for the root. */
  parentId: string;
  /** Live children in order; a deleted block leaves its parent's list. */
  children: string[];
  deleted: boolean;
  /** Lark's key for the type's payload (page, text, heading1…, divider, image, file, view) and the payload. */
  payloadKey: string;
  payload: Record<string, unknown>;
}

export interface DocxDocument {
  documentId: string;
  title: string;
  /** Whether the document is shared with the app with edit rights; if not, it may only read. */
  editable: boolean;
  deleted: boolean;
  /** 1 when created; every write adds one. */
  revisionId: number;
  /** Every block the document ever held, deleted ones flagged; the root's block_id is the document_id. */
  blocks: Map<string, DocxBlock>;
}

/** Page, and the text family (lists nest): the blocks that take children. */
export const takesChildren = (block: DocxBlock) => block.blockType === PAGE || block.blockType in TEXT_KEYS;

export function newDocument(documentId: string, title: string, editable: boolean): DocxDocument {
  const root = block(documentId, PAGE, "", "page", {
    elements: [{ text_run: { content: title, text_element_style: {} } }],
    style: { align: 1 },
  });
  return { documentId, title, editable, deleted: false, revisionId: 1, blocks: new Map([[documentId, root]]) };
}

/** The block as Lark answers it; a copy, so an answer kept for a client_token replay never changes. */
export function blockJson(b: DocxBlock): Record<string, unknown> {
  return {
    block_id: b.blockId,
    block_type: b.blockType,
    parent_id: b.parentId,
    ...(b.children.length > 0 ? { children: [...b.children] } : {}),
    [b.payloadKey]: structuredClone(b.payload),
  };
}

/** Live blocks in document order (depth first, the root first). */
export function liveBlocks(doc: DocxDocument): DocxBlock[] {
  const out: DocxBlock[] = [];
  const visit = (id: string) => {
    const b = doc.blocks.get(id)!;
    out.push(b);
    for (const child of b.children) visit(child);
  };
  visit(doc.documentId);
  return out;
}

/** Flag a block and its descendants deleted (the caller removes it from its parent's children). */
export function deleteSubtree(doc: DocxDocument, blockId: string): void {
  const b = doc.blocks.get(blockId)!;
  b.deleted = true;
  for (const child of b.children) deleteSubtree(doc, child);
}

/**
 * The blocks one entry of a create request's `children` makes, the top-level one first: one block, or for a
 * File a View block (33) holding the File block. Nothing is added to the document here.
 */
export function blocksFor(spec: unknown, parentId: string, newId: () => string): DocxBlock[] {
  if (!isRecord(spec) || !isInteger(spec.block_type)) throw new LarkError(INVALID_PARAM);
  const type = spec.block_type;
  if (type === PAGE || type === VIEW) throw new LarkError(1770014);
  const textKey = TEXT_KEYS[type];
  if (textKey) {
    const text = payloadOf(spec, textKey);
    if (!Array.isArray(text.elements) || text.elements.length === 0) throw new LarkError(INVALID_PARAM);
    return [block(newId(), type, parentId, textKey, structuredClone(text))];
  }
  if (type === DIVIDER) {
    payloadOf(spec, "divider");
    return [block(newId(), DIVIDER, parentId, "divider", {})];
  }
  if (type === IMAGE) {
    const image = payloadOf(spec, "image");
    emptyToken(image);
    const align = image.align === undefined ? {} : { align: alignOf(image.align) };
    return [block(newId(), IMAGE, parentId, "image", { width: 100, height: 100, token: "", ...align })];
  }
  if (type === FILE) {
    const file = payloadOf(spec, "file");
    emptyToken(file);
    const viewType = file.view_type ?? 1;
    if (viewType !== 1 && viewType !== 2 && viewType !== 3) throw new LarkError(INVALID_PARAM);
    const view = block(newId(), VIEW, parentId, "view", { view_type: viewType });
    const inner = block(newId(), FILE, view.blockId, "file", { token: "", name: "" });
    view.children.push(inner.blockId);
    return [view, inner];
  }
  throw new LarkError(1770029);
}

/** An image's align: 1 left, 2 center, 3 right. */
export function alignOf(value: unknown): number {
  if (value !== 1 && value !== 2 && value !== 3) throw new LarkError(INVALID_PARAM);
  return value;
}

function block(
  blockId: string,
  blockType: number,
  parentId: string,
  payloadKey: string,
  payload: Record<string, unknown>,
): DocxBlock {
  return { blockId, blockType, parentId, children: [], deleted: false, payloadKey, payload };
}

function payloadOf(spec: Record<string, unknown>, key: string): Record<string, unknown> {
  const payload = spec[key];
  if (!isRecord(payload)) throw new LarkError(INVALID_PARAM);
  return payload;
}

/** Media tokens are read-only on blocks: only replace_image / replace_file set them. */
function emptyToken(payload: Record<string, unknown>): void {
  if (payload.token !== undefined && payload.token !== "") throw new LarkError(INVALID_PARAM);
}

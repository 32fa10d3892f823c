/**
 * docx/v1: the calls that show an uploaded image or file in a document. An empty Image (27) or File (23) block is
 * appended to the document's root, the media is uploaded into that block (parent_type docx_image / docx_file,
 * parent_node = the block, extra.drive_route_token = the document), then bound with replace_image / replace_file.
 * removeBlock takes a placed (or half-placed) block out again. Every edit is paced by the per-app rule of its
 * endpoint and the per-document rule; reads by their per-app rule.
 */
import { RejectionError, TransientError } from "../errors";
import type { ImageSize } from "../image-info";
import type { RetryOptions } from "../retry";
import { type CallCounter, jsonRequest, type LarkClient } from "./client";
import type { LarkRequest } from "./http";
import type { DocxRead, DocxWrite, LarkLimits } from "./limits";
import type { LarkBody } from "./reply";

const DOCUMENTS = "/open-apis/docx/v1/documents";

export type DocxMedia = "image" | "file";

const BLOCK_TYPES: Record<DocxMedia, number> = { image: 27, file: 23 };
const VIEW = 33;

/** The document's revision a request applies to; -1 is the latest. */
const LATEST = -1;
/** The revision given is no longer the document's latest (someone edited it since). */
const TOO_OLD_DOCUMENT = 1770021;
/** The document is deleted (or never was). */
const DOCUMENT_NOT_FOUND = 1770002;
/** The codes of a block that is not (or no longer) there: invalid id, document gone, block deleted, other document. */
const NO_SUCH_BLOCK = new Set([1770001, DOCUMENT_NOT_FOUND, 1770003, 1770015]);
/** A document that keeps changing between our read and our delete is tried this many times, then left to a retry. */
const REMOVE_ROUNDS = 3;

export interface AppendedBlock {
  /** The block that receives the media (upload's parent_node, replace_image / replace_file): Image or File. */
  blockId: string;
  /** The block directly under the root, the one removeBlock takes: the Image block, or the View around a File. */
  topBlockId: string;
}

export class LarkDocx {
  constructor(
    private readonly client: LarkClient,
    private readonly limits: LarkLimits,
  ) {}

  /**
   * Appends an empty Image or File block at the end of the document. `clientToken` makes it idempotent: the same
   * token again answers the block the first call made (even one deleted since: see blockExists).
   *
   * No index is sent: Lark's default (-1) appends, in one step. Reading the root's child count first, as Lark's
   * own client does, would put the block in the middle of the document if someone else appended in between.
   */
  async appendBlock(
    documentId: string,
    kind: DocxMedia,
    clientToken: string,
    retry: RetryOptions,
    counter?: CallCounter,
  ): Promise<AppendedBlock> {
    const body = await this.edit(
      "createChildren",
      documentId,
      jsonRequest("POST", `${blockPath(documentId, documentId)}/children`, {
        query: { document_revision_id: LATEST, client_token: clientToken },
        body: { children: [{ block_type: BLOCK_TYPES[kind], [kind]: {} }] },
      }),
      retry,
      counter,
    );
    return appendedBlock(body, kind);
  }

  /** Shows `fileToken` (uploaded as docx_image into this block) in the Image block, at `size` when given. */
  async replaceImage(
    documentId: string,
    blockId: string,
    fileToken: string,
    size: ImageSize | undefined,
    retry: RetryOptions,
    counter?: CallCounter,
  ): Promise<void> {
    await this.patch(documentId, blockId, { replace_image: { token: fileToken, ...size } }, retry, counter);
  }

  /** Shows `fileToken` (uploaded as docx_file into this block) in the File block. */
  async replaceFile(
    documentId: string,
    blockId: string,
    fileToken: string,
    retry: RetryOptions,
    counter?: CallCounter,
  ): Promise<void> {
    await this.patch(documentId, blockId, { replace_file: { token: fileToken } }, retry, counter);
  }

  /**
   * Deletes a block directly under the root (with what it holds). A block (or document) already gone is not an
   * error. Lark deletes children by position, so the position is read first, while our own edits of the document
   * wait; the delete applies at the revision the position was read at, so if anyone else edited the document in
   * between, Lark refuses it rather than take out whatever now sits there, and the position is read again.
   */
  removeBlock(documentId: string, topBlockId: string, retry: RetryOptions, counter?: CallCounter): Promise<void> {
    // The whole sequence holds one of the document's edit slots: it makes one edit.
    return this.limits.documentEdit(documentId).run(async () => {
      for (let round = 1; ; round++) {
        try {
          return await this.removeAtRevision(documentId, topBlockId, retry, counter);
        } catch (err) {
          if (!(err instanceof RejectionError)) throw err;
          if (err.larkCode === DOCUMENT_NOT_FOUND) return; // the block went with it
          if (err.larkCode !== TOO_OLD_DOCUMENT) throw err;
          if (round >= REMOVE_ROUNDS) {
            throw new TransientError(`${documentId}: the document kept changing while a block was being removed`, {
              cause: err,
              larkCode: TOO_OLD_DOCUMENT,
            });
          }
        }
      }
    }, retry.deadline);
  }

  private async removeAtRevision(documentId: string, topBlockId: string, retry: RetryOptions, counter?: CallCounter) {
    const revision = await this.revision(documentId, retry, counter);
    const root = await this.read("getBlock", blockPath(documentId, documentId), revision, retry, counter);
    const index = childrenOf(root).indexOf(topBlockId);
    if (index < 0) return;
    const request = jsonRequest("DELETE", `${blockPath(documentId, documentId)}/children/batch_delete`, {
      query: { document_revision_id: revision },
      body: { start_index: index, end_index: index + 1 },
    });
    // The document's slot is held by removeBlock already.
    const pacer = this.limits.docxWrite("batchDelete");
    await this.client.call(request.path, () => request, { pacer, retry, counter });
  }

  /**
   * Whether the block is live in the document. A client_token replay answers the block the first call made,
   * even when it was deleted since: this tells the caller to append with a new token.
   */
  async blockExists(documentId: string, blockId: string, retry: RetryOptions, counter?: CallCounter): Promise<boolean> {
    try {
      await this.read("getBlock", blockPath(documentId, blockId), LATEST, retry, counter);
      return true;
    } catch (err) {
      if (err instanceof RejectionError && err.larkCode !== undefined && NO_SUCH_BLOCK.has(err.larkCode)) return false;
      throw err;
    }
  }

  private async revision(documentId: string, retry: RetryOptions, counter?: CallCounter): Promise<number> {
    const body = await this.read("getDocument", `${DOCUMENTS}/${encode(documentId)}`, LATEST, retry, counter);
    const revision = (body.data?.document as { revision_id?: unknown } | undefined)?.revision_id;
    if (!Number.isInteger(revision)) throw new TransientError(`${documentId}: Lark answered no revision_id`);
    return revision as number;
  }

  private patch(documentId: string, blockId: string, body: unknown, retry: RetryOptions, counter?: CallCounter) {
    const request = jsonRequest("PATCH", blockPath(documentId, blockId), {
      query: { document_revision_id: LATEST },
      body,
    });
    return this.edit("patchBlock", documentId, request, retry, counter);
  }

  /** An edit: under the document's rule and its endpoint's. */
  private edit(
    endpoint: DocxWrite,
    documentId: string,
    request: LarkRequest,
    retry: RetryOptions,
    counter?: CallCounter,
  ): Promise<LarkBody> {
    const pacers = [this.limits.documentEdit(documentId), this.limits.docxWrite(endpoint)];
    return this.client.call(request.path, () => request, { pacers, retry, counter });
  }

  private read(endpoint: DocxRead, path: string, revision: number, retry: RetryOptions, counter?: CallCounter) {
    const request = jsonRequest("GET", path, { query: { document_revision_id: revision } });
    return this.client.call(path, () => request, { pacer: this.limits.docxRead(endpoint), retry, counter });
  }
}

const encode = encodeURIComponent;
const blockPath = (documentId: string, blockId: string) =>
  `${DOCUMENTS}/${encode(documentId)}/blocks/${encode(blockId)}`;

interface BlockJson {
  block_id?: unknown;
  block_type?: unknown;
  children?: unknown;
}

/** The ids of the new blocks, from the create answer. */
function appendedBlock(body: LarkBody, kind: DocxMedia): AppendedBlock {
  const [top] = (body.data?.children as BlockJson[] | undefined) ?? [];
  const topBlockId = typeof top?.block_id === "string" ? top.block_id : "";
  // A File comes wrapped: the View block is the root's child, the File block the View's only child.
  const blockId = kind === "image" ? topBlockId : (ids(top?.children)[0] ?? "");
  const expected = kind === "image" ? BLOCK_TYPES.image : VIEW;
  if (top?.block_type !== expected || !topBlockId || !blockId) {
    throw new TransientError(`create block: Lark answered success without the ${kind} block: ${JSON.stringify(top)}`);
  }
  return { blockId, topBlockId };
}

/** The children of the block a get-block answer holds. */
const childrenOf = (body: LarkBody) => ids((body.data?.block as BlockJson | undefined)?.children);

function ids(list: unknown): string[] {
  return Array.isArray(list) ? list.filter((id): id is string => typeof id === "string") : [];
}

/**
 * A file appended to a docx document: an Image block when it is an image, else a File block (inside its View).
 * The block is created first (idempotent on a client_token), the media uploaded into it (its parent_node must
 * be that very block, with the document as drive_route_token), then bound with replace_image / replace_file.
 * When Lark refuses for good after the block exists, the block is removed again: no empty frame is left in
 * anyone's document.
 */
import { META_BLOCK_ID, META_FILE_TOKEN, META_TARGET, type Placement } from "../contract";
import { RejectionError } from "../errors";
import { uuidV4From } from "../lark/bitable";
import type { LarkDocx } from "../lark/docx";
import type { Target } from "../target";
import type { PlacementJob } from "./index";

/**
 * A client_token replay answers the block the first call made, even one removed since. Such a dead block is
 * met at most once per earlier removal; a few generations of tokens cover any history.
 */
const MAX_GENERATIONS = 3;

export async function placeInDocument(
  docx: LarkDocx,
  job: PlacementJob<Target & { kind: "docx" }>,
): Promise<Placement> {
  const { target, retry, counter } = job;
  const kind = target.image ? "image" : "file";
  for (let generation = 0; ; generation++) {
    const block = await docx.appendBlock(
      target.documentId,
      kind,
      uuidV4From(`${job.seed}#${generation}`),
      retry,
      counter,
    );
    try {
      const uploaded = await job.upload(
        {
          name: target.name,
          parentType: target.image ? "docx_image" : "docx_file",
          parentNode: block.blockId,
          size: target.size,
          extra: JSON.stringify({ drive_route_token: target.documentId }),
        },
        { imageSize: Boolean(target.image) },
      );
      if (target.image) {
        await docx.replaceImage(
          target.documentId,
          block.blockId,
          uploaded.fileToken,
          uploaded.imageSize,
          retry,
          counter,
        );
      } else {
        await docx.replaceFile(target.documentId, block.blockId, uploaded.fileToken, retry, counter);
      }
      return { [META_FILE_TOKEN]: uploaded.fileToken, [META_TARGET]: target.target, [META_BLOCK_ID]: block.blockId };
    } catch (err) {
      if (!(err instanceof RejectionError)) throw err; // a retry finds this block again through its client_token
      if (!(await docx.blockExists(target.documentId, block.blockId, retry, counter))) {
        if (generation + 1 < MAX_GENERATIONS) continue; // a replayed block someone removed: make a new one
        throw err;
      }
      await docx.removeBlock(target.documentId, block.topBlockId, retry, counter);
      throw err;
    }
  }
}

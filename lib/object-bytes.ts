/**
 * An object's bytes on their way to Lark: read once per upload (the GetObject already open first), uploaded as
 * media or as a Drive file, whole through upload_all or in blocks through the chunked flow.
 */
import type { Block } from "./blocks";
import { ObjectChangedError, TransientError } from "./errors";
import { type ImageSize, imageSize } from "./image-info";
import type { DriveFile, LarkFile, UploadResult } from "./lark/media";
import { DRIVE_FOLDER, UPLOAD_ALL_MAX_BYTES } from "./lark/parent-types";
import type { PipelineDeps } from "./pipeline";
import type { Uploaded } from "./placements";
import type { RetryOptions } from "./retry";
import type { ObjectHead, ObjectLocation, OpenObject, S3Objects } from "./s3-objects";

/**
 * The object's bytes, to be read once per upload: the GetObject response already open is read first, a later
 * upload (a placement made again, a chunked flow started over) opens the object again, pinned to its ETag.
 */
export function objectBytes(s3: S3Objects, at: ObjectLocation, head: ObjectHead, opened?: OpenObject) {
  let first = opened;
  return {
    async *read(blockSize: number): AsyncGenerator<Block> {
      const source = first ?? (await s3.open(at, head.eTag));
      first = undefined;
      if (!source) throw new ObjectChangedError("the object is gone");
      yield* source.blocks(blockSize);
    },
    discard: () => first?.discard(),
  };
}

/** Uploads the bytes as `file`: a Drive file through Drive's own upload, anything else as media. */
export async function uploadBytes(
  lark: PipelineDeps["lark"],
  bytes: ReturnType<typeof objectBytes>,
  file: LarkFile | DriveFile,
  retry: RetryOptions,
  wantsImageSize: boolean,
): Promise<UploadResult & Uploaded> {
  // Read from the first block as it passes: holding that block until the end would keep a chunked part alive.
  let size: ImageSize | undefined;
  const blocks = async function* (blockSize: number): AsyncGenerator<Block> {
    let first = wantsImageSize && !size;
    for await (const block of bytes.read(blockSize)) {
      if (first) size = imageSize(block.parts);
      first = false;
      yield block;
    }
  };
  const sized = (result: UploadResult): UploadResult & Uploaded => (size ? { ...result, imageSize: size } : result);
  const uploadAll = (block: Block) =>
    file.parentType === DRIVE_FOLDER
      ? lark.driveFiles.uploadAll(file, block, retry)
      : lark.media.uploadAll(file, block, retry);
  if (file.size <= UPLOAD_ALL_MAX_BYTES) {
    // The checksum must be known before the file part is sent, so the whole object is held once.
    for await (const whole of blocks(file.size)) return sized(await uploadAll(whole));
    throw new TransientError("the object body was empty");
  }
  return sized(
    file.parentType === DRIVE_FOLDER
      ? await lark.driveFiles.uploadChunked(file, blocks, retry)
      : await lark.media.uploadChunked(file, blocks, retry),
  );
}

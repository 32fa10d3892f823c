/**
 * Cuts a byte stream into blocks of a given size without copying a byte, with each block's Adler-32 (the
 * checksum Lark's upload endpoints take) computed while the bytes arrive.
 */
import ADLER32 from "adler-32";
import { ObjectChangedError, TransientError } from "./errors";

/**
 * One block: the buffers exactly as the source delivered them (never copied or joined), their total size,
 * and their Adler-32 as an unsigned integer.
 */
export interface Block {
  parts: Buffer[];
  size: number;
  adler32: number;
}

export type ByteSource = AsyncIterable<Uint8Array> & { destroy?: () => void };

/**
 * The source in blocks of `blockSize` bytes, the last one shorter. A block is the list of source buffers it
 * spans, the one crossing a boundary split with subarray: peak memory is one block, plus nothing. The source
 * must hold exactly `size` bytes: more is a changed object, fewer a broken read.
 */
export async function* readBlocks(
  source: ByteSource,
  size: number,
  blockSize: number,
  where: string,
): AsyncGenerator<Block> {
  let parts: Buffer[] = [];
  let filled = 0; // bytes in the current block
  let done = 0; // bytes in the blocks already yielded
  let adler = 1;
  let complete = false;
  try {
    for await (const chunk of source) {
      let rest = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      if (done + filled + rest.length > size) throw new ObjectChangedError(`${where} is longer than ${size} bytes`);
      while (rest.length) {
        const want = Math.min(blockSize, size - done);
        const piece = rest.subarray(0, want - filled);
        rest = rest.subarray(piece.length);
        parts.push(piece);
        adler = ADLER32.buf(piece, adler);
        filled += piece.length;
        // The last block waits for the end of the stream, so the connection goes back to the pool.
        if (filled === want && done + filled < size) {
          yield { parts, size: filled, adler32: adler >>> 0 };
          done += filled;
          parts = [];
          filled = 0;
          adler = 1;
        }
      }
    }
    complete = true;
  } catch (err) {
    if (err instanceof ObjectChangedError) throw err;
    throw new TransientError(`reading ${where} failed: ${(err as Error).message}`, { cause: err });
  } finally {
    // A consumer that stops early (a failed upload) must not leave the socket half-read.
    if (!complete) source.destroy?.();
  }
  if (done + filled !== size) throw new TransientError(`${where} ended ${size - done - filled} bytes early`);
  yield { parts, size: filled, adler32: adler >>> 0 };
}

/**
 * Uploads to Lark's drive media endpoints: upload_all for files up to 20 MiB, and the chunked
 * upload_prepare / upload_part / upload_finish flow above that. Every call goes through the media pacer.
 */
import { PassThrough, Readable } from "node:stream";
import FormData from "form-data";
import type { Block } from "../blocks";
import { RejectionError, TransientError } from "../errors";
import type { RetryOptions } from "../retry";
import { type CallCounter, jsonRequest, type LarkClient, newCounter } from "./client";
import type { LarkRequest } from "./http";
import type { LarkLimits } from "./limits";
import type { ParentType } from "./parent-types";
import type { LarkBody } from "./reply";

const MEDIAS = "/open-apis/drive/v1/medias";
const UPLOAD_ID_EXPIRED = 1061021;
/**
 * Lark documents `checksum` as optional without saying its format (we send the unsigned decimal Adler-32). If
 * Lark refuses it, the file is not at fault: it goes again without one.
 */
const CHECKSUM_INVALID = 1062008;

export interface LarkFile {
  name: string;
  parentType: ParentType;
  parentNode: string;
  size: number;
  /** JSON string, e.g. {"drive_route_token":"doxcn…"} */
  extra?: string;
}

export interface UploadResult extends CallCounter {
  fileToken: string;
  /** Lark refused our checksum at least once, and took the bytes without it. */
  checksumRefused?: boolean;
}

export class LarkMedia {
  constructor(
    private readonly client: LarkClient,
    private readonly limits: LarkLimits,
  ) {}

  async uploadAll(file: LarkFile, block: Block, retry: RetryOptions): Promise<UploadResult> {
    const counter: Counter = newCounter();
    const body = await this.withChecksum(counter, (checksum) =>
      this.call(
        `${MEDIAS}/upload_all`,
        () =>
          multipart(
            `${MEDIAS}/upload_all`,
            [
              ["file_name", file.name],
              ["parent_type", file.parentType],
              ["parent_node", file.parentNode],
              ["size", String(file.size)],
              ...checksumField(checksum, block),
              ...(file.extra ? [["extra", file.extra] as [string, string]] : []),
            ],
            file.name,
            block,
          ),
        retry,
        counter,
      ),
    );
    return { fileToken: fileTokenOf(body), ...counter };
  }

  /** Sends with the checksum; once Lark has refused it, without (for this and every later part of the file). */
  private async withChecksum<T>(counter: Counter, send: (checksum: boolean) => Promise<T>): Promise<T> {
    if (counter.checksumRefused) return send(false);
    try {
      return await send(true);
    } catch (err) {
      if (!(err instanceof RejectionError && err.larkCode === CHECKSUM_INVALID)) throw err;
      counter.checksumRefused = true;
      return send(false);
    }
  }

  /**
   * The chunked flow. `blocks` is called again when Lark expires the upload id, since the bytes of a
   * consumed stream are gone; each call must yield the file in blocks of the size Lark asked for.
   */
  async uploadChunked(
    file: LarkFile,
    blocks: (blockSize: number) => AsyncIterable<Block>,
    retry: RetryOptions,
  ): Promise<UploadResult> {
    const counter: Counter = newCounter();
    for (let restarts = 0; ; restarts++) {
      try {
        return { fileToken: await this.chunkedOnce(file, blocks, retry, counter), ...counter };
      } catch (err) {
        if (!(err instanceof RejectionError && err.larkCode === UPLOAD_ID_EXPIRED)) throw err;
        // Expiring twice in a row says nothing against the file: hand it to the next retry, don't tag it.
        if (restarts >= 1) {
          throw new TransientError("upload_part: the upload id expired again after a restart", {
            larkCode: UPLOAD_ID_EXPIRED,
          });
        }
      }
    }
  }

  private async chunkedOnce(
    file: LarkFile,
    blocks: (blockSize: number) => AsyncIterable<Block>,
    retry: RetryOptions,
    counter: Counter,
  ): Promise<string> {
    const prepared = await this.call(
      `${MEDIAS}/upload_prepare`,
      () =>
        jsonRequest("POST", `${MEDIAS}/upload_prepare`, {
          body: {
            file_name: file.name,
            parent_type: file.parentType,
            parent_node: file.parentNode,
            size: file.size,
            ...(file.extra ? { extra: file.extra } : {}),
          },
        }),
      retry,
      counter,
    );
    const uploadId = String(prepared.data?.upload_id ?? "");
    const blockNum = Number(prepared.data?.block_num);
    const blockSize = Number(prepared.data?.block_size);
    // Lark sets the block size (4 MiB today); the plan must cover the file exactly before any part is sent.
    if (!uploadId || !Number.isInteger(blockSize) || blockSize <= 0 || blockNum !== Math.ceil(file.size / blockSize)) {
      throw new TransientError(
        `upload_prepare: unexpected reply ${JSON.stringify(prepared.data)} for ${file.size} bytes`,
      );
    }
    let seq = 0;
    for await (const block of blocks(blockSize)) {
      const part = seq;
      await this.withChecksum(counter, (checksum) =>
        this.call(
          `${MEDIAS}/upload_part`,
          () =>
            multipart(
              `${MEDIAS}/upload_part`,
              [
                ["upload_id", uploadId],
                ["seq", String(part)],
                ["size", String(block.size)],
                ...checksumField(checksum, block),
              ],
              file.name,
              block,
            ),
          retry,
          counter,
        ),
      );
      seq++;
    }
    const finished = await this.call(
      `${MEDIAS}/upload_finish`,
      () => jsonRequest("POST", `${MEDIAS}/upload_finish`, { body: { upload_id: uploadId, block_num: blockNum } }),
      retry,
      counter,
    );
    return fileTokenOf(finished);
  }

  private call(path: string, makeRequest: () => LarkRequest, retry: RetryOptions, counter: CallCounter) {
    return this.client.call(path, makeRequest, { pacer: this.limits.media, retry, counter });
  }
}

/** The call counter of one file, and whether Lark refused its checksum. */
type Counter = CallCounter & { checksumRefused?: boolean };

function checksumField(send: boolean, block: Block): [string, string][] {
  return send ? [["checksum", String(block.adler32)]] : [];
}

/**
 * The documented part order: the fields, then the file last. Names go as raw UTF-8. The file part is the
 * block's socket buffers in a stream: nothing is copied or joined, whatever the file size.
 */
function multipart(path: string, fields: [string, string][], fileName: string, block: Block): LarkRequest {
  const form = new FormData();
  for (const [name, value] of fields) form.append(name, value);
  // A quote would end the filename parameter early; browsers escape it the same way.
  form.append("file", Readable.from(block.parts, { objectMode: false }), {
    filename: fileName.replace(/"/g, "%22"),
    contentType: "application/octet-stream",
    knownLength: block.size,
  });
  // form-data is an old-style stream that never emits "close", so undici never removes the listeners it
  // put on the keep-alive socket for it; a real Readable in between ends cleanly.
  return {
    method: "POST",
    path,
    headers: { ...form.getHeaders(), "content-length": String(form.getLengthSync()) },
    body: form.pipe(new PassThrough()),
  };
}

function fileTokenOf(body: LarkBody): string {
  const token = body.data?.file_token;
  if (typeof token !== "string" || !token) throw new TransientError(`Lark answered success without a file_token`);
  return token;
}

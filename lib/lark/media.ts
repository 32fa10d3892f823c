/**
 * Uploads through drive/v1's two upload APIs, which take a file alike: medias, whose files show inside a document
 * (or are the source of an import), and files, whose files are Drive files in a folder. Each has upload_all for
 * files up to 20 MiB and the chunked upload_prepare / upload_part / upload_finish flow above that. Every call of
 * either API goes through the one media pacer: Lark's 5 a second, one at a time, hold across both.
 */
import { PassThrough, Readable } from "node:stream";
import FormData from "form-data";
import type { Block } from "../blocks";
import { RejectionError, TransientError } from "../errors";
import type { RetryOptions } from "../retry";
import { type CallCounter, jsonRequest, type LarkClient, newCounter } from "./client";
import type { LarkRequest } from "./http";
import type { LarkLimits } from "./limits";
import type { DriveParentType, ParentType } from "./parent-types";
import type { LarkBody } from "./reply";

/** The medias API: files shown in a document, and the sources of imports. */
export const MEDIAS = "/open-apis/drive/v1/medias";
/** The files API: Drive files in a folder. */
export const DRIVE_FILES = "/open-apis/drive/v1/files";
export type UploadApi = typeof MEDIAS | typeof DRIVE_FILES;

const UPLOAD_ID_EXPIRED = 1061021;
/**
 * Lark documents `checksum` as optional without saying its format (we send the unsigned decimal Adler-32). If
 * Lark refuses it, the file is not at fault: it goes again without one.
 */
const CHECKSUM_INVALID = 1062008;

/**
 * A file for the medias API. An empty `parentNode` is sent as an empty field, never left out: ccm_import_open
 * needs none ("no need to fill"), and upload_prepare wants the field present even then.
 */
export interface LarkFile {
  name: string;
  parentType: ParentType;
  parentNode: string;
  size: number;
  /** JSON string, e.g. {"drive_route_token":"doxcn…"} */
  extra?: string;
}

/** A file for the files API: a Drive file in the folder `parentNode` ("" is the app's root). It has no `extra`. */
export interface DriveFile {
  name: string;
  parentType: DriveParentType;
  parentNode: string;
  size: number;
  extra?: never;
}

/** What an API takes. */
export type FileFor<A extends UploadApi> = A extends typeof DRIVE_FILES ? DriveFile : LarkFile;

export interface UploadResult extends CallCounter {
  fileToken: string;
  /** Lark refused our checksum at least once, and took the bytes without it. */
  checksumRefused?: boolean;
}

/** An uploader for one API: MEDIAS (the default) or DRIVE_FILES. */
export class LarkMedia<A extends UploadApi = typeof MEDIAS> {
  constructor(
    private readonly client: LarkClient,
    private readonly limits: LarkLimits,
    private readonly api: A = MEDIAS as A,
  ) {}

  async uploadAll(file: FileFor<A>, block: Block, retry: RetryOptions): Promise<UploadResult> {
    const counter: Counter = newCounter();
    const body = await this.withChecksum(counter, (checksum) =>
      this.call(
        `${this.api}/upload_all`,
        () =>
          multipart(
            `${this.api}/upload_all`,
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
    file: FileFor<A>,
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
    file: FileFor<A>,
    blocks: (blockSize: number) => AsyncIterable<Block>,
    retry: RetryOptions,
    counter: Counter,
  ): Promise<string> {
    const prepared = await this.call(
      `${this.api}/upload_prepare`,
      () =>
        jsonRequest("POST", `${this.api}/upload_prepare`, {
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
          `${this.api}/upload_part`,
          () =>
            multipart(
              `${this.api}/upload_part`,
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
      `${this.api}/upload_finish`,
      () => jsonRequest("POST", `${this.api}/upload_finish`, { body: { upload_id: uploadId, block_num: blockNum } }),
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

/**
 * Uploads to Lark's drive media endpoints: upload_all for files up to 20 MiB, and the chunked
 * upload_prepare / upload_part / upload_finish flow above that. Every call is paced, authenticated with
 * one token refresh on rejection, and retried while the fault is transient.
 */
import { PassThrough, Readable } from "node:stream";
import FormData from "form-data";
import { RejectionError, TokenRejectedError, TransientError } from "./errors";
import type { LarkHttp, LarkRequestBody } from "./lark-http";
import { interpretReply, type LarkBody } from "./lark-reply";
import type { TenantTokens } from "./lark-token";
import type { Pacer } from "./pacer";
import type { ParentType } from "./parent-types";
import { type RetryOptions, withRetries } from "./retry";
import type { Block } from "./s3-objects";

const MEDIAS = "/open-apis/drive/v1/medias";
const UPLOAD_ID_EXPIRED = 1061021;

export interface LarkFile {
  name: string;
  parentType: ParentType;
  parentNode: string;
  size: number;
  /** JSON string, e.g. {"drive_route_token":"doxcn…"} */
  extra?: string;
}

export interface UploadResult extends Counter {
  fileToken: string;
}

interface Counter {
  /** HTTP calls made to upload endpoints, retries included. */
  calls: number;
  /** Time spent in those calls (the pacer's waits excluded). */
  larkMs: number;
}

export class LarkUploader {
  constructor(
    private readonly http: LarkHttp,
    private readonly tokens: TenantTokens,
    private readonly pacer: Pacer,
  ) {}

  async uploadAll(file: LarkFile, block: Block, retry: RetryOptions): Promise<UploadResult> {
    const counter = { calls: 0, larkMs: 0 };
    const body = await this.call(
      `${MEDIAS}/upload_all`,
      () =>
        multipart(
          [
            ["file_name", file.name],
            ["parent_type", file.parentType],
            ["parent_node", file.parentNode],
            ["size", String(file.size)],
            ["checksum", String(block.adler32)],
            ...(file.extra ? [["extra", file.extra] as [string, string]] : []),
          ],
          file.name,
          block,
        ),
      retry,
      counter,
    );
    return { fileToken: fileTokenOf(body), ...counter };
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
    const counter = { calls: 0, larkMs: 0 };
    for (let restarts = 0; ; restarts++) {
      try {
        return { fileToken: await this.chunkedOnce(file, blocks, retry, counter), ...counter };
      } catch (err) {
        if (!(err instanceof RejectionError && err.code === `lark-${UPLOAD_ID_EXPIRED}`)) throw err;
        // Expiring twice in a row says nothing against the file: hand it to the next retry, don't tag it.
        if (restarts >= 1)
          throw new TransientError("upload_part: the upload id expired again after a restart", {
            larkCode: UPLOAD_ID_EXPIRED,
          });
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
        json({
          file_name: file.name,
          parent_type: file.parentType,
          parent_node: file.parentNode,
          size: file.size,
          ...(file.extra ? { extra: file.extra } : {}),
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
      await this.call(
        `${MEDIAS}/upload_part`,
        () =>
          multipart(
            [
              ["upload_id", uploadId],
              ["seq", String(seq)],
              ["size", String(block.size)],
              ["checksum", String(block.adler32)],
            ],
            file.name,
            block,
          ),
        retry,
        counter,
      );
      seq++;
    }
    const finished = await this.call(
      `${MEDIAS}/upload_finish`,
      () => json({ upload_id: uploadId, block_num: blockNum }),
      retry,
      counter,
    );
    return fileTokenOf(finished);
  }

  /** One logical call: paced, authenticated (one token refresh), retried while transient. */
  private call(
    path: string,
    makeRequest: () => PreparedRequest,
    retry: RetryOptions,
    counter: Counter,
  ): Promise<LarkBody> {
    return withRetries(async () => {
      for (let refreshed = false; ; refreshed = true) {
        const token = await this.tokens.get();
        try {
          const reply = await this.pacer.run(async () => {
            counter.calls++;
            const req = makeRequest();
            const started = Date.now();
            try {
              return await this.http.post(
                path,
                { ...req.headers, authorization: `Bearer ${token}` },
                req.body,
                retry.deadline,
              );
            } finally {
              counter.larkMs += Date.now() - started;
            }
          }, retry.deadline);
          return interpretReply(path, reply);
        } catch (err) {
          if (err instanceof TokenRejectedError) {
            this.tokens.invalidate(token);
            if (!refreshed) continue;
            throw new TransientError(`${path}: Lark rejected a freshly fetched token (${err.larkCode})`, {
              larkCode: err.larkCode,
            });
          }
          if (err instanceof TransientError && err.retryAfterMs) this.pacer.pauseFor(err.retryAfterMs);
          throw err;
        }
      }
    }, retry);
  }
}

interface PreparedRequest {
  headers: Record<string, string>;
  body: LarkRequestBody;
}

function json(value: unknown): PreparedRequest {
  return { headers: { "content-type": "application/json; charset=utf-8" }, body: JSON.stringify(value) };
}

/**
 * The documented part order: the fields, then the file last. Names go as raw UTF-8. The file part is the
 * block's socket buffers in a stream: nothing is copied or joined, whatever the file size.
 */
function multipart(fields: [string, string][], fileName: string, block: Block): PreparedRequest {
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
    headers: { ...form.getHeaders(), "content-length": String(form.getLengthSync()) },
    body: form.pipe(new PassThrough()),
  };
}

function fileTokenOf(body: LarkBody): string {
  const token = body.data?.file_token;
  if (typeof token !== "string" || !token) throw new TransientError(`Lark answered success without a file_token`);
  return token;
}

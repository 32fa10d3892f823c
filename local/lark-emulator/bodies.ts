// Request body readers. Both consume the whole body, whatever they conclude, so the connection stays usable.

import { createHash } from "node:crypto";
import type { IncomingMessage } from "node:http";
import ADLER32 from "adler-32";
import busboy from "busboy";

const MAX_JSON_BODY = 1024 * 1024;

/** Consume and discard what is left of a request body. */
export function drain(req: IncomingMessage): Promise<void> {
  return new Promise((resolve) => {
    if (req.readableEnded || req.destroyed) return resolve();
    req.once("end", resolve);
    req.once("close", resolve);
    req.resume();
  });
}

export const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

export const isInteger = (v: unknown): v is number => Number.isInteger(v);

/** The body as a JSON object; undefined when it is not one (wrong content type, too big, not JSON, not an object). */
export async function readJson(req: IncomingMessage): Promise<Record<string, unknown> | undefined> {
  const type = (req.headers["content-type"] ?? "").toLowerCase();
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total <= MAX_JSON_BODY) chunks.push(chunk);
  }
  if (!type.startsWith("application/json") || total > MAX_JSON_BODY) return undefined;
  try {
    const v: unknown = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    return isRecord(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

export interface FilePart {
  bytes: number;
  sha256: string;
  adler32: string;
  data?: Buffer;
}
export interface Multipart {
  fields: Map<string, string>;
  file?: FilePart;
  code?: number; // first error found; later ones are ignored
}

/**
 * Stream a multipart body through busboy, hashing the `file` part as it arrives.
 * `onFileStart` sees the fields sent before the file and may return an error code:
 * metadata is judged before any byte of the file is read. `keep` (asked at the same moment) says whether the
 * bytes are kept. Malformed bodies answer `badRequest`.
 */
export function readMultipart(
  req: IncomingMessage,
  keep: (fields: Map<string, string>) => boolean,
  badRequest: number,
  onFileStart: (fields: Map<string, string>) => number | undefined,
): Promise<Multipart> {
  return new Promise((resolve, reject) => {
    const out: Multipart = { fields: new Map() };
    const fail = (code: number | undefined) => {
      if (code !== undefined) out.code ??= code;
    };
    let settled = false;
    const finish = (file?: () => FilePart) => {
      if (settled) return;
      settled = true;
      if (file) out.file = file();
      resolve(out);
    };
    req.once("close", () => {
      if (!req.complete && !settled) {
        settled = true;
        reject(new Error("client aborted the request"));
      }
    });

    let bb: busboy.Busboy;
    try {
      // UTF-8 field values (file_name) and filename params arrive intact (busboy's params default is latin1).
      bb = busboy({ headers: req.headers, defCharset: "utf8", defParamCharset: "utf8" });
    } catch {
      fail(badRequest); // not multipart/form-data, or no boundary
      void drain(req).then(() => finish());
      return;
    }

    let fileSeen = false;
    let keeping = false;
    const sha = createHash("sha256");
    let adler = 1;
    let bytes = 0;
    const chunks: Buffer[] = [];
    bb.on("field", (name, value) => {
      if (fileSeen)
        fail(badRequest); // the file part must be the last one
      else out.fields.set(name, value);
    });
    bb.on("file", (name, stream) => {
      // On a truncated body busboy fails the open file stream too; its own 'error' below answers.
      stream.on("error", () => {});
      if (fileSeen || name !== "file") {
        fail(badRequest);
        stream.resume();
        return;
      }
      fileSeen = true;
      fail(onFileStart(out.fields));
      keeping = keep(out.fields);
      stream.on("data", (chunk: Buffer) => {
        bytes += chunk.length;
        sha.update(chunk);
        adler = ADLER32.buf(chunk, adler);
        if (keeping) chunks.push(chunk);
      });
    });
    bb.on("error", () => {
      fail(badRequest); // malformed multipart
      req.unpipe(bb);
      void drain(req).then(() => finish());
    });
    bb.on("close", () =>
      finish(
        fileSeen
          ? () => ({
              bytes,
              sha256: sha.digest("hex"),
              adler32: (adler >>> 0).toString(),
              data: keeping ? Buffer.concat(chunks) : undefined,
            })
          : undefined,
      ),
    );
    req.pipe(bb);
  });
}

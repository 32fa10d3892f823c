/**
 * The measured side: the real handler built the way the Lambda builds it (loadConfig -> createRuntime ->
 * createHandler), a plain S3 client to put fresh objects, and the lower bound the handler is compared
 * with (one GetObject, one multipart POST to upload_all, one self-CopyObject, nothing else).
 */

import { PassThrough } from "node:stream";
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import ADLER32 from "adler-32";
import FormData from "form-data";
import { Agent, request } from "undici";
import { loadConfig } from "../lib/config";
import { createHandler } from "../lib/handler";
import { createLogger } from "../lib/log";
import { createRuntime, type Runtime } from "../lib/runtime";
import { createS3Client } from "../lib/s3-client";
import { LOCAL_CREDENTIALS, LOCAL_REGION, useLocalCredentials } from "../local/local-s3";

export const PARENT = { type: "docx_file", node: "doxcnBench01" } as const;

export interface LarkTarget {
  url: string;
  appId: string;
  appSecret: string;
}

/**
 * Lark's windows at this scale are a millisecond: the function's pacer does not shape the figures of the
 * parts that measure overhead and memory (the burst sets its own scale, matched by the emulator).
 */
export const UNPACED = 0.001;

export interface BenchFunction {
  runtime: Runtime;
  handler: ReturnType<typeof createHandler>;
  /** Log lines the handler wrote, except the "uploaded" ones (failures, retries, skips). */
  outcomes: string[];
}

/** The real handler against these servers. The default parent replaces per-object tags. */
export function makeFunction(
  s3Endpoint: string,
  lark: LarkTarget,
  env: Record<string, string> = {},
  timeScale = UNPACED,
): BenchFunction {
  useLocalCredentials();
  const config = loadConfig({
    LARK_APP_ID: lark.appId,
    LARK_APP_SECRET: lark.appSecret,
    LARK_BASE_URL: lark.url,
    AWS_ENDPOINT_URL_S3: s3Endpoint,
    LARK_DEFAULT_PARENT_TYPE: PARENT.type,
    LARK_DEFAULT_PARENT_NODE: PARENT.node,
    // The wait an untagged new object is given for late tags is idle time by configuration, not the
    // function's work: the figures measure the work (README: what the wait costs).
    TAG_WAIT_MS: "0",
    ...env,
  });
  const runtime = createRuntime(config, { timeScale });
  const outcomes: string[] = [];
  // The logger's cost (one JSON.stringify per object) stays in; only the write goes nowhere.
  const logger = createLogger(
    {},
    { write: (line) => void (line.includes('"outcome":"uploaded"') || outcomes.push(line)) },
  );
  // Likewise the metrics: built as in Lambda, written nowhere.
  const handler = createHandler({ runtime: () => runtime, logger, writeMetrics: () => undefined });
  return {
    runtime,
    handler,
    outcomes,
  };
}

export function plainS3Client(endpoint: string): S3Client {
  return createS3Client({ endpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS });
}

export async function putObject(s3: S3Client, bucket: string, key: string, body: Buffer): Promise<string> {
  const out = await s3.send(
    new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: "application/octet-stream" }),
  );
  return (out.ETag ?? "").replace(/"/g, "");
}

export async function deleteObject(s3: S3Client, bucket: string, key: string): Promise<void> {
  await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
}

/**
 * The least any implementation must do for one object: read the bytes (into one buffer, no checksum),
 * POST them once to upload_all with form-data + undici like the product (a token fetched beforehand,
 * only the four required fields), and write the token back with one REPLACE self-copy (no guard, no
 * HeadObject, no tagging).
 */
export class LowerBound {
  private readonly s3: S3Client;
  private readonly agent = new Agent({ connections: 4, keepAliveTimeout: 30_000 });
  private token = "";

  /**
   * `checksum`: also compute the Adler-32 while the bytes arrive and send it, as the product does (the
   * field is optional for Lark): separates the cost of that design choice from the rest.
   */
  constructor(
    s3Endpoint: string,
    private readonly lark: LarkTarget,
    private readonly checksum = false,
  ) {
    useLocalCredentials();
    this.s3 = createS3Client({ endpoint: s3Endpoint });
  }

  async init(): Promise<void> {
    const res = await request(`${this.lark.url}/open-apis/auth/v3/tenant_access_token/internal`, {
      method: "POST",
      headers: { "content-type": "application/json; charset=utf-8" },
      body: JSON.stringify({ app_id: this.lark.appId, app_secret: this.lark.appSecret }),
      dispatcher: this.agent,
    });
    const body = (await res.body.json()) as { tenant_access_token?: string };
    if (!body.tenant_access_token) throw new Error(`lower bound: no token (${JSON.stringify(body)})`);
    this.token = body.tenant_access_token;
  }

  /** Returns the time of each of the three calls, in ms. */
  async run(bucket: string, key: string, size: number): Promise<{ get: number; post: number; copy: number }> {
    const t0 = performance.now();
    const got = await this.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const bytes = Buffer.allocUnsafe(size);
    let filled = 0;
    let adler = 1;
    for await (const chunk of got.Body as AsyncIterable<Uint8Array>) {
      bytes.set(chunk, filled);
      filled += chunk.length;
      if (this.checksum) adler = ADLER32.buf(chunk, adler);
    }
    if (filled !== size) throw new Error(`lower bound: read ${filled} of ${size} bytes`);

    const t1 = performance.now();
    const name = key.slice(key.lastIndexOf("/") + 1);
    const form = new FormData();
    form.append("file_name", name);
    form.append("parent_type", PARENT.type);
    form.append("parent_node", PARENT.node);
    form.append("size", String(size));
    if (this.checksum) form.append("checksum", String(adler >>> 0));
    form.append("file", bytes, { filename: name, contentType: "application/octet-stream", knownLength: size });
    const res = await request(`${this.lark.url}/open-apis/drive/v1/medias/upload_all`, {
      method: "POST",
      headers: {
        ...form.getHeaders(),
        "content-length": String(form.getLengthSync()),
        authorization: `Bearer ${this.token}`,
      },
      // As the product does: form-data straight into undici leaves listeners on the keep-alive socket.
      body: form.pipe(new PassThrough()),
      dispatcher: this.agent,
    });
    const reply = (await res.body.json()) as { code: number; msg?: string; data?: { file_token?: string } };
    const fileToken = reply.data?.file_token;
    if (reply.code !== 0 || !fileToken) throw new Error(`lower bound: upload_all answered ${JSON.stringify(reply)}`);
    const t2 = performance.now();

    await this.s3.send(
      new CopyObjectCommand({
        Bucket: bucket,
        Key: key,
        CopySource: `${bucket}/${key}`,
        MetadataDirective: "REPLACE",
        Metadata: { "lark-file-token": fileToken },
      }),
    );
    const t3 = performance.now();
    return { get: t1 - t0, post: t2 - t1, copy: t3 - t2 };
  }

  async close(): Promise<void> {
    this.s3.destroy();
    await this.agent.close();
  }
}

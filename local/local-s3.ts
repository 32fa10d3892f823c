/**
 * s3rver, in process, as the local S3: the tests' server and `npm start`'s. s3rver emits an event for each
 * Put/Post/Copy; `toAwsRecord` turns that into the record AWS would send (URL-encoded key, quoted-free ETag,
 * a per-key increasing sequencer), because s3rver's own records carry raw keys. It emits none for
 * PutObjectTagging, which S3 announces as `ObjectTagging:Put`: that one is made here.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import S3rver from "s3rver";
import { type S3rverStore, TaggingConfiguration } from "s3rver/lib/models/config.js";
import { encodeS3Key, keyPath } from "../lib/s3-keys";

export const LOCAL_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };
export const LOCAL_REGION = "us-east-1";

/**
 * Points the standard AWS credential chain of this process at the local S3, as Lambda's environment points
 * it at the function's role: code under test finds its credentials the way it does in Lambda.
 */
export function useLocalCredentials(env: NodeJS.ProcessEnv = process.env): void {
  Object.assign(env, {
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    AWS_REGION: LOCAL_REGION,
  });
  delete env.AWS_SESSION_TOKEN;
  delete env.AWS_PROFILE;
}

export interface LocalS3 {
  endpoint: string;
  /** Every request the server received, oldest first: lets a test see what was (not) read. */
  requests: { method: string; url: string }[];
  /** Answers the next `times` requests that `match` with an S3 error (default: 503 SlowDown, as S3 under load). */
  failRequests(
    match: (r: { method: string; url: string; headers: Record<string, string | undefined> }) => boolean,
    times: number,
    error?: { status: number; code: string; message: string },
  ): void;
  clearFaults(): void;
  close(): Promise<void>;
  /**
   * Calls `listener` with the notification AWS would send for each object created (Put, Post, Copy). Like S3,
   * it announces a write once it is complete: the event of a PUT that carries tags comes after they are set.
   */
  onObjectCreated(listener: (notification: AwsNotification) => void): void;
  /** The same for each PutObjectTagging (`ObjectTagging:Put`), which s3rver does not announce itself. */
  onObjectTagged(listener: (notification: AwsNotification) => void): void;
}

export type AwsNotification = { Records: AwsS3Record[] };

export interface AwsS3Record {
  eventVersion: string;
  eventSource: "aws:s3";
  awsRegion: string;
  eventTime: string;
  eventName: string;
  s3: {
    s3SchemaVersion: "1.0";
    bucket: { name: string; arn: string };
    /** No size in a tagging event. */
    object: { key: string; size?: number; eTag: string; versionId?: string; sequencer: string };
  };
}

export async function startLocalS3(opts: { directory: string; port?: number; buckets?: string[] }): Promise<LocalS3> {
  const server = new S3rver({
    address: "127.0.0.1",
    port: opts.port ?? 0,
    silent: true,
    directory: opts.directory,
    configureBuckets: (opts.buckets ?? []).map((name) => ({ name })),
    // The copy-source shim below rewrites a signed header.
    allowMismatchedSignatures: true,
  });
  const requests: LocalS3["requests"] = [];
  const faults: {
    match: Parameters<LocalS3["failRequests"]>[0];
    times: number;
    error: { status: number; code: string; message: string };
  }[] = [];
  // s3rver emits its events from inside the request, before the tag shims below have run: each request
  // collects them, and they are announced when it is done.
  const emitted = new AsyncLocalStorage<S3rverRecord[]>();
  server.on("event", (event: { Records: S3rverRecord[] }) => emitted.getStore()?.push(...event.Records));
  const listeners: { events: RegExp; listener: (notification: AwsNotification) => void }[] = [];
  // One chain for every listener: notifications keep the order of the writes.
  let announced = Promise.resolve();
  server.middleware.unshift(async (ctx, next) => {
    requests.push({ method: ctx.method, url: ctx.url });
    const fault = faults.find((f) => f.times > 0 && f.match(ctx));
    if (fault) {
      fault.times--;
      ctx.status = fault.error.status;
      ctx.body = `<Error><Code>${fault.error.code}</Code><Message>${fault.error.message} (injected)</Message></Error>`;
      return;
    }
    // s3rver decodes x-amz-copy-source with decodeURI, which leaves %2B (a "+" in the key) encoded, while
    // S3 decodes it fully and reads a raw "+" as a space. Re-encode so s3rver finds what S3 would.
    const source = ctx.headers["x-amz-copy-source"];
    if (source) ctx.headers["x-amz-copy-source"] = encodeURI(decodeURIComponent(source));
    const records: S3rverRecord[] = [];
    await emitted.run(records, next);
    const ok = ctx.status >= 200 && ctx.status < 300;
    const plainPut = ctx.params?.key && !ctx.params.queryMethod && !/[?&](partNumber|uploadId)=/.test(ctx.url);
    if (ctx.method === "PUT" && plainPut && ok) {
      const directive = ctx.headers["x-amz-tagging-directive"]?.toUpperCase() ?? "COPY";
      if (!source || directive === "REPLACE") await applyTaggingHeader(ctx as Required<typeof ctx>);
      else await copyTags(ctx as Required<typeof ctx>, source);
    }
    if (ctx.method === "PUT" && ctx.params?.queryMethod === "tagging" && ok) {
      records.push({
        eventName: "ObjectTagging:Put",
        s3: { bucket: { name: ctx.params.bucket }, object: { key: ctx.params.key } },
      });
    }
    // The listeners of the moment of the write: a subscription made later does not hear of it.
    const subscribed = listeners.filter(({ events }) => records.some((r) => events.test(r.eventName)));
    const wanted = records.filter((r) => subscribed.some(({ events }) => events.test(r.eventName)));
    if (!wanted.length) return;
    // Off the request's path: a record may need a HEAD of its object first.
    announced = announced
      .then(() => Promise.all(wanted.map((r) => awsRecordFor(endpoint, r))))
      .then((all) => {
        for (const { events, listener } of subscribed) {
          const Records = all.filter((r) => events.test(r.eventName));
          if (Records.length) listener({ Records });
        }
      })
      // Never throw into s3rver's request handler: it would answer 500 to the writer.
      .catch((err) => console.error("local S3 event listener failed:", err));
  });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    requests,
    failRequests: (
      match,
      times,
      error = { status: 503, code: "SlowDown", message: "Please reduce your request rate." },
    ) => void faults.push({ match, times, error }),
    clearFaults: () => void faults.splice(0),
    close: () => server.close(),
    onObjectCreated: (listener) => void listeners.push({ events: /^ObjectCreated:/, listener }),
    onObjectTagged: (listener) => void listeners.push({ events: /^ObjectTagging:Put$/, listener }),
  };
}

interface S3rverRecord {
  eventName: string;
  s3: { bucket: { name: string }; object: { key: string; size?: number; eTag?: string } };
}

/** s3rver's Copy events, and the tagging ones made here, carry no ETag; AWS's do, so ask the server for it. */
async function awsRecordFor(endpoint: string, r: S3rverRecord): Promise<AwsS3Record> {
  const { name } = r.s3.bucket;
  const { key, size } = r.s3.object;
  let eTag = r.s3.object.eTag;
  if (!eTag) {
    const res = await fetch(`${endpoint}/${name}/${keyPath(key)}`, { method: "HEAD" });
    eTag = res.headers.get("etag") ?? "";
  }
  return toAwsRecord(name, key, size, eTag ?? "", r.eventName);
}

/**
 * s3rver ignores the Tagging header of PutObject and keeps an overwritten object's old tags; S3 sets
 * exactly the tags the PUT carries. Make s3rver do the same, so clients can tag in the PUT as on S3.
 */
async function applyTaggingHeader(ctx: {
  headers: Record<string, string | undefined>;
  params: { bucket: string; key: string };
  store: S3rverStore;
}) {
  const { bucket, key } = ctx.params;
  const header = ctx.headers["x-amz-tagging"];
  if (!header) return ctx.store.deleteSubresource(bucket, key, "tagging");
  const tags = [...new URLSearchParams(header)]
    .map(([k, v]) => `<Tag><Key>${xml(k)}</Key><Value>${xml(v)}</Value></Tag>`)
    .join("");
  await ctx.store.putSubresource(
    bucket,
    key,
    TaggingConfiguration.validate(`<Tagging><TagSet>${tags}</TagSet></Tagging>`),
  );
}

/** A copy keeps the source's tags unless told to replace them (S3's default TaggingDirective COPY). */
async function copyTags(
  ctx: { params: { bucket: string; key: string }; store: S3rverStore },
  source: string,
): Promise<void> {
  const [path] = decodeURIComponent(source).replace(/^\//, "").split("?");
  const slash = path!.indexOf("/");
  const from = { bucket: path!.slice(0, slash), key: path!.slice(slash + 1) };
  const { bucket, key } = ctx.params;
  if (from.bucket === bucket && from.key === key) return;
  const tagging = await ctx.store.getSubresource(from.bucket, from.key, "tagging");
  if (tagging) await ctx.store.putSubresource(bucket, key, tagging);
  else await ctx.store.deleteSubresource(bucket, key, "tagging");
}

const xml = (text: string) => text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);

let sequence = 0n;

/**
 * The record S3 would send for an event on the object at `key` (raw, as stored): an object created unless
 * `eventName` says otherwise. Tagging events carry no size, and S3 gives them event version 2.3.
 */
export function toAwsRecord(
  bucket: string,
  key: string,
  size: number | undefined,
  eTag: string,
  eventName = "ObjectCreated:Put",
  versionId?: string,
): AwsS3Record {
  sequence += 1n;
  return {
    eventVersion: eventName.includes("ObjectTagging:") ? "2.3" : "2.1",
    eventSource: "aws:s3",
    awsRegion: LOCAL_REGION,
    eventTime: new Date().toISOString(),
    eventName: eventName.replace(/^s3:/, ""),
    s3: {
      s3SchemaVersion: "1.0",
      bucket: { name: bucket, arn: `arn:aws:s3:::${bucket}` },
      object: {
        key: encodeS3Key(key),
        ...(size === undefined ? {} : { size }),
        eTag: eTag.replace(/"/g, ""),
        ...(versionId ? { versionId } : {}),
        sequencer: (BigInt(Date.now()) * 1000n + sequence).toString(16).toUpperCase().padStart(18, "0"),
      },
    },
  };
}

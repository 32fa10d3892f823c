/**
 * s3rver, in process, as the local S3: the tests' server and `npm start`'s. It emits an event for each
 * Put/Post/Copy; `toAwsRecord` turns that into the record AWS would send (URL-encoded key, quoted-free
 * ETag, a per-key increasing sequencer), because s3rver's own records carry raw keys.
 */
import S3rver from "s3rver";
import { encodeS3Key } from "../lib/event";

export const LOCAL_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };
export const LOCAL_REGION = "us-east-1";

export interface LocalS3 {
  endpoint: string;
  close(): Promise<void>;
  /** Calls `listener` with an AWS-shaped S3 notification for every object created. */
  onObjectCreated(listener: (notification: { Records: AwsS3Record[] }) => void): void;
}

export interface AwsS3Record {
  eventVersion: string;
  eventSource: "aws:s3";
  awsRegion: string;
  eventTime: string;
  eventName: string;
  s3: {
    s3SchemaVersion: "1.0";
    bucket: { name: string; arn: string };
    object: { key: string; size: number; eTag: string; versionId?: string; sequencer: string };
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
  // s3rver decodes x-amz-copy-source with decodeURI, which leaves %2B (a "+" in the key) encoded, while
  // S3 decodes it fully and reads a raw "+" as a space. Re-encode so s3rver finds what S3 would.
  server.middleware.unshift(async (ctx, next) => {
    const source = ctx.headers["x-amz-copy-source"];
    if (source) ctx.headers["x-amz-copy-source"] = encodeURI(decodeURIComponent(source));
    await next();
  });
  const { port } = await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () => server.close(),
    onObjectCreated(listener) {
      server.on("event", (event: { Records: { eventName: string; s3: { bucket: { name: string }; object: { key: string; size: number; eTag: string } } }[] }) => {
        listener({ Records: event.Records.map((r) => toAwsRecord(r.s3.bucket.name, r.s3.object.key, r.s3.object.size, r.s3.object.eTag, r.eventName)) });
      });
    },
  };
}

let sequence = 0n;

/** The record S3 would send for an object created at `key` (raw, as stored). */
export function toAwsRecord(bucket: string, key: string, size: number, eTag: string, eventName = "ObjectCreated:Put", versionId?: string): AwsS3Record {
  sequence += 1n;
  return {
    eventVersion: "2.1",
    eventSource: "aws:s3",
    awsRegion: LOCAL_REGION,
    eventTime: new Date().toISOString(),
    eventName: eventName.replace(/^s3:/, ""),
    s3: {
      s3SchemaVersion: "1.0",
      bucket: { name: bucket, arn: `arn:aws:s3:::${bucket}` },
      object: {
        key: encodeS3Key(key),
        size,
        eTag: eTag.replace(/"/g, ""),
        ...(versionId ? { versionId } : {}),
        sequencer: (BigInt(Date.now()) * 1000n + sequence).toString(16).toUpperCase().padStart(18, "0"),
      },
    },
  };
}

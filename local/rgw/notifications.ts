// Helpers for tests that want real radosgw bucket notifications pushed over HTTP.
//
//   const rx = await startNotificationReceiver(async (body) => { ... });
//   await subscribeBucket({ endpoint, credentials, bucket, pushEndpoint: rx.url });
//   ... PutObject ...   // radosgw POSTs {"Records":[...]} to rx.url
//   await rx.close();
//
// radosgw 16.2 behaviour, checked against local/rgw/rgw.sh (details in local/rgw/FINDINGS.md):
// - each POST carries `{"Records":[oneRecord]}`: eventVersion "2.2", eventSource "ceph:s3", awsRegion "",
//   eventName without the "s3:" prefix ("ObjectCreated:Put", "ObjectCreated:Copy", ...), s3.object.key RAW
//   (not URL-encoded), eTag without quotes, versionId "" when unversioned (and "" on Copy events even in a
//   versioned bucket), plus rgw extras (s3.object.metadata/tags as [{key,val}], eventId, opaqueData).
// - default (non-persistent) topic: the push is synchronous — the S3 request that fired it does not answer
//   until this receiver has answered; a 500 is not retried and does not fail the S3 request.
// - `persistent: true`: queued, delivered seconds later (3-20 s seen); a non-2xx answer is retried at once,
//   in a tight loop (~1000 POSTs/s) — make onRecords succeed or expect a flood.
// - "s3:ObjectTagging:*" events are rejected (InvalidArgument) by PutBucketNotificationConfiguration.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { PutBucketNotificationConfigurationCommand, S3Client, type Event as S3Event } from "@aws-sdk/client-s3";
import { CreateTopicCommand, SNSClient } from "@aws-sdk/client-sns";

export interface NotificationReceiver {
  /** http://127.0.0.1:PORT/ — pass it as pushEndpoint */
  url: string;
  close(): Promise<void>;
  /** every parsed body, in arrival order (including ones whose onRecords threw) */
  received: unknown[];
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function answer(res: ServerResponse, status: number, text: string): void {
  if (res.headersSent) return;
  res.writeHead(status, { "content-type": "text/plain", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/**
 * Starts a node:http server on 127.0.0.1 (ephemeral port) that accepts radosgw's notification POSTs,
 * parses the JSON body, records it in `received`, calls onRecords, and answers 200 once onRecords resolves
 * (500 if it throws, 400 if the body is not JSON). Non-POST requests get 405.
 */
export async function startNotificationReceiver(
  onRecords: (body: unknown) => Promise<void>,
): Promise<NotificationReceiver> {
  const received: unknown[] = [];
  const server = createServer((req, res) => {
    if (req.method !== "POST") {
      answer(res, 405, "method not allowed");
      req.resume();
      return;
    }
    void (async () => {
      let body: unknown;
      try {
        const text = await readBody(req);
        body = text.length === 0 ? null : JSON.parse(text);
      } catch (err) {
        answer(res, 400, `bad body: ${(err as Error).message}`);
        return;
      }
      received.push(body);
      try {
        await onRecords(body);
        answer(res, 200, "ok");
      } catch (err) {
        answer(res, 500, `onRecords failed: ${(err as Error)?.message ?? String(err)}`);
      }
    })();
  });
  // radosgw keeps push connections alive; don't let idle sockets hold close() up.
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  let closed: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}/`,
    received,
    close() {
      closed ??= new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeIdleConnections();
        // connections with a request in flight end when it is answered; force the rest shortly after
        setTimeout(() => server.closeAllConnections(), 2000).unref();
      });
      return closed;
    },
  };
}

export interface SubscribeOptions {
  /** radosgw endpoint, e.g. process.env.AWS_ENDPOINT_URL_S3 */
  endpoint: string;
  region?: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  bucket: string;
  /** URL radosgw POSTs to, e.g. the receiver's url */
  pushEndpoint: string;
  /** default ["s3:ObjectCreated:*"] */
  events?: string[];
  /** default `${bucket}-notify`; a topic with the same name is overwritten (CreateTopic is idempotent) */
  topicName?: string;
  /** notification id; default `${topicName}-id` */
  id?: string;
  /** radosgw persistent topic: queued, pushed asynchronously, retried. Default false (synchronous push). */
  persistent?: boolean;
  /** extra topic attributes (radosgw: "verify-ssl", "OpaqueData", "cloudevents", ...) */
  attributes?: Record<string, string>;
}

/**
 * Creates (or overwrites) an SNS-API topic on radosgw with a push-endpoint attribute, then attaches it to the
 * bucket with PutBucketNotificationConfiguration. Replaces the bucket's whole notification configuration.
 */
export async function subscribeBucket(opts: SubscribeOptions): Promise<{ topicArn: string }> {
  const region = opts.region ?? "us-east-1";
  const topicName = opts.topicName ?? `${opts.bucket}-notify`;
  const sns = new SNSClient({ endpoint: opts.endpoint, region, credentials: opts.credentials });
  let topicArn: string;
  try {
    const out = await sns.send(
      new CreateTopicCommand({
        Name: topicName,
        Attributes: {
          "push-endpoint": opts.pushEndpoint,
          ...(opts.persistent ? { persistent: "true" } : {}),
          ...opts.attributes,
        },
      }),
    );
    if (!out.TopicArn) throw new Error(`radosgw CreateTopic ${topicName} returned no TopicArn`);
    topicArn = out.TopicArn;
  } finally {
    sns.destroy();
  }

  const s3 = new S3Client({
    endpoint: opts.endpoint,
    region,
    credentials: opts.credentials,
    forcePathStyle: true,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
  try {
    await s3.send(
      new PutBucketNotificationConfigurationCommand({
        Bucket: opts.bucket,
        NotificationConfiguration: {
          TopicConfigurations: [
            {
              Id: opts.id ?? `${topicName}-id`,
              TopicArn: topicArn,
              Events: (opts.events ?? ["s3:ObjectCreated:*"]) as S3Event[],
            },
          ],
        },
      }),
    );
  } finally {
    s3.destroy();
  }
  return { topicArn };
}

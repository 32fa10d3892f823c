/**
 * The core contract, end to end: real handler, s3rver and the Lark emulator over HTTP,
 * events shaped as AWS sends them.
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, beforeEach, describe, test } from "node:test";
import { CopyObjectCommand, DeleteObjectCommand, GetObjectCommand, PutObjectTaggingCommand } from "@aws-sdk/client-s3";
import ADLER32 from "adler-32";
import { originOf } from "../lib/contract";
import { toTagSet } from "../lib/s3-objects";
import { toAwsRecord } from "../local/local-s3";
import { otherEvent } from "./support/envelopes";
import { BACKEND, bytes, type Stack, startStack, TO_DOCX } from "./support/stack";

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const adler = (b: Buffer) => String(ADLER32.buf(b) >>> 0);

let stack: Stack;
before(async () => {
  stack = await startStack();
});
after(() => stack.close());
beforeEach(() => {
  stack.lark.reset();
  stack.logs.length = 0;
});

/** GETs of the object's bytes (not its tagging) that reached the S3 server (s3rver keeps a log). */
function downloads(key: string): number {
  const path = `/${stack.bucket}/${key.split("/").map(encodeURIComponent).join("/")}`;
  return stack.localS3!.requests.filter(
    (r) =>
      r.method === "GET" &&
      decodeURIComponent(r.url.split("?")[0]!) === decodeURIComponent(path) &&
      !r.url.includes("tagging"),
  ).length;
}

describe("a file dropped into S3", () => {
  test("lands in Lark and its file_token comes back, with everything else about the object kept", async () => {
    const key = "exports/2026/q3 report.pdf";
    const body = bytes(1024 * 1024, 7);
    const expires = new Date("2031-01-02T03:04:05Z");
    const event = await stack.put(key, body, {
      tags: { ...TO_DOCX, team: "finance", "lark-upload-error": "missing-parent: earlier failure" },
      ContentType: "application/pdf",
      ContentDisposition: 'attachment; filename="q3.pdf"',
      CacheControl: "max-age=60",
      ContentEncoding: "identity",
      ContentLanguage: "en-GB",
      Expires: expires,
      // radosgw only knows STANDARD (and refuses others with 400).
      StorageClass: BACKEND === "rgw" ? "STANDARD" : "STANDARD_IA",
      Metadata: { owner: "alice", "source-system": "erp" },
    });
    const before = await stack.head(key);

    const result = await stack.handler(event);

    assert.equal(stack.lark.files.length, 1);
    const received = stack.lark.files[0]!;
    assert.equal(received.fileName, "q3 report.pdf");
    assert.equal(received.parentType, "docx_file");
    assert.equal(received.parentNode, "doxcnTarget01");
    assert.equal(received.size, body.length);
    assert.equal(received.checksum, adler(body));
    assert.equal(received.sha256, sha256(body));

    const head = await stack.head(key);
    assert.equal(head.Metadata?.["lark-file-token"], received.fileToken);
    assert.deepEqual(head.Metadata, {
      owner: "alice",
      "source-system": "erp",
      "lark-file-token": received.fileToken,
      "lark-target": "docx_file:doxcnTarget01",
      "lark-file-origin": originOf({ bucket: stack.bucket, key }),
    });
    assert.match(head.Metadata["lark-file-origin"]!, /^[0-9a-f]{32}$/);
    assert.equal(head.ContentType, "application/pdf");
    assert.equal(head.ContentDisposition, 'attachment; filename="q3.pdf"');
    assert.equal(head.CacheControl, "max-age=60");
    assert.equal(head.ContentEncoding, "identity");
    assert.equal(head.ContentLanguage, "en-GB");
    assert.equal(head.Expires?.toISOString(), expires.toISOString());
    if (BACKEND === "s3rver") assert.equal(head.StorageClass, "STANDARD_IA");
    assert.equal(head.ETag, before.ETag, "same bytes");
    assert.deepEqual(await stack.tags(key), { ...TO_DOCX, team: "finance" }, "tags kept, the old error tag removed");
    assert.deepEqual(result, {
      objects: [
        {
          bucket: stack.bucket,
          key,
          versionId: undefined,
          outcome: (result as any).objects[0].outcome,
          durationMs: (result as any).objects[0].durationMs,
        },
      ],
    });
    assert.equal((result as any).objects[0].outcome.kind, "uploaded");
    assert.equal((result as any).objects[0].outcome.fileToken, received.fileToken);

    const line = stack.logs.find((l) => l.message === "uploaded" && l.key === key);
    assert.equal(line?.fileToken, received.fileToken, "one structured log line per outcome");
    assert.equal(line?.size, body.length);
    const emf = stack.metrics.at(-1)!;
    assert.equal(emf._aws.CloudWatchMetrics[0].Namespace, "s3-to-lark");
    assert.equal(emf.Uploaded, 1);
    assert.equal(emf.UploadedBytes, body.length);
  });

  for (const key of [
    "with space/a b.txt",
    "plus/c++ notes+v2.txt",
    "percent/100% done %2B.txt",
    "unicode/报告 ü 🚀.txt",
    "parens/copy (1) [x].txt",
    "odd/a&b=c?d#e'f!.txt",
  ]) {
    test(`key ${JSON.stringify(key)} is decoded the AWS way and its name arrives intact`, async () => {
      const body = Buffer.from(`content of ${key}`);
      const event = await stack.put(key, body, { tags: TO_DOCX });
      assert.notEqual(event.Records[0]!.s3.object.key, key, "the event carries the encoded key");
      await stack.handler(event);
      assert.equal(stack.lark.files.length, 1);
      assert.equal(stack.lark.files[0]!.fileName, key.slice(key.lastIndexOf("/") + 1));
      assert.equal(stack.lark.files[0]!.sha256, sha256(body));
      assert.equal((await stack.head(key)).Metadata?.["lark-file-token"], stack.lark.files[0]!.fileToken);
    });
  }

  for (const [what, name, char] of [
    ["a line feed", "line\nfeed.txt", "U+000A"],
    ["a carriage return", "scan\r.pdf", "U+000D"],
    ["a tab", "tab\tseparated.csv", "U+0009"],
  ] as const) {
    test(`a name holding ${what} is refused with invalid-file-name, not uploaded under another name`, async () => {
      const key = `control/${name}`;
      const put = await stack.put(key, "x", { tags: TO_DOCX });
      await stack.handler(put);
      assert.equal(stack.lark.stats().requests, 0);
      assert.equal(
        (await stack.tags(key))["lark-upload-error"],
        `invalid-file-name: the file name holds the control character ${char} set the lark-file-name tag`,
      );
      // The user's way out: a name of their choosing, and the tag change decides the object again.
      await stack.s3.send(
        new PutObjectTaggingCommand({
          Bucket: stack.bucket,
          Key: key,
          Tagging: { TagSet: toTagSet({ ...TO_DOCX, "lark-file-name": "renamed.txt" }) },
        }),
      );
      await stack.handler(otherEvent(put.Records[0]!, "ObjectTagging:Put"));
      assert.equal(stack.lark.files[0]!.fileName, "renamed.txt");
    });
  }

  test("exactly 20971520 bytes go through upload_all", async () => {
    const body = bytes(20971520, 3);
    await stack.handler(await stack.put("big/exact.bin", body, { tags: TO_DOCX }));
    assert.equal(stack.lark.files.length, 1);
    assert.equal(stack.lark.files[0]!.size, 20971520);
    assert.equal(stack.lark.files[0]!.sha256, sha256(body));
    assert.equal(stack.lark.files[0]!.route, "upload_all");
  });

  test("one byte more is refused with too-large and never downloaded", async () => {
    const key = "big/over.bin";
    const event = await stack.put(key, bytes(20971521, 4), { tags: TO_DOCX });
    const gets = stack.localS3 && downloads(key);
    await stack.handler(event);
    assert.equal(stack.lark.stats().requests, 0);
    if (stack.localS3) assert.equal(downloads(key), gets, "no GetObject of the bytes");
    const tags = await stack.tags(key);
    assert.match(tags["lark-upload-error"]!, /^too-large: 20971521 bytes is above the limit of 20971520 bytes/);
    assert.equal(tags["lark-parent-type"], "docx_file", "other tags kept");
    assert.equal((await stack.head(key)).Metadata?.["lark-file-token"], undefined);
  });

  test("a duplicate Put delivery and the function's own Copy event upload nothing more", async () => {
    const key = "dup/once.txt";
    const event = await stack.put(key, "only once", { tags: TO_DOCX });
    await stack.handler(event);
    await stack.handler(event);
    const head = await stack.head(key);
    assert.ok(head.Metadata?.["lark-file-token"]);
    const copyEvent = {
      Records: [toAwsRecord(stack.bucket, key, 9, head.ETag!, "ObjectCreated:Copy", head.VersionId)],
    };
    const result: any = await stack.handler(copyEvent);
    assert.equal(stack.lark.files.length, 1);
    assert.equal(result.objects[0].outcome.kind, "skipped");
    assert.equal(result.objects[0].outcome.reason, "already-uploaded");
  });

  test("without tags the configured default parent applies; lark-file-name and lark-drive-route-token are honoured", async () => {
    const local = await startStack({
      env: { LARK_DEFAULT_PARENT_TYPE: "bitable_file", LARK_DEFAULT_PARENT_NODE: "bascnDefault" },
    });
    try {
      await local.handler(await local.put("untagged.csv", "a,b\n1,2\n"));
      await local.handler(
        await local.put("named.csv", "x", {
          tags: { ...TO_DOCX, "lark-file-name": "Quarterly 季度.csv", "lark-drive-route-token": "doxcnRoute42" },
        }),
      );
      assert.deepEqual(
        local.lark.files.map((f) => [f.fileName, f.parentType, f.parentNode, f.extra]),
        [
          ["untagged.csv", "bitable_file", "bascnDefault", undefined],
          ["Quarterly 季度.csv", "docx_file", "doxcnTarget01", '{"drive_route_token":"doxcnRoute42"}'],
        ],
      );
    } finally {
      await local.close();
    }
  });

  const refusals: [string, Record<string, string> | undefined, RegExp][] = [
    [
      "no tags and no default",
      undefined,
      /^missing-parent: neither a lark-target tag nor lark-parent-type and lark-parent-node tags are set and no default/,
    ],
    [
      "only the node",
      { "lark-parent-node": "doxcn1" },
      /^missing-parent: tag lark-parent-type is missing: lark-parent-type and lark-parent-node go together/,
    ],
    [
      "a parent_type Lark does not know",
      { "lark-parent-type": "wiki_page", "lark-parent-node": "doxcn1" },
      /^invalid-parent-type: wiki_page is not one of doc_image/,
    ],
    [
      "a file name over 250 characters",
      { ...TO_DOCX, "lark-file-name": "n".repeat(251) },
      /^invalid-file-name: the file name has 251 characters/,
    ],
  ];
  for (const [what, tags, expected] of refusals) {
    test(`${what}: a clear lark-upload-error tag, nothing uploaded, the object intact`, async () => {
      const key = `bad/${what.replace(/\W+/g, "-")}.txt`;
      const event = await stack.put(key, "payload", { tags, ContentType: "text/plain", Metadata: { keep: "me" } });
      const before = await stack.head(key);
      const result: any = await stack.handler(event);
      assert.equal(result.objects[0].outcome.kind, "rejected");
      assert.equal(stack.lark.stats().requests, 0);
      const after = await stack.head(key);
      assert.equal(after.ETag, before.ETag);
      assert.deepEqual(after.Metadata, { keep: "me" });
      assert.equal(after.ContentType, "text/plain");
      const got = await stack.tags(key);
      assert.match(got["lark-upload-error"]!, expected);
      assert.match(got["lark-upload-error"]!, /^[\p{L}\p{N}\p{Zs}_.:/=+\-@]{1,256}$/u, "a valid S3 tag value");
      assert.deepEqual({ ...got, "lark-upload-error": undefined }, { ...tags, "lark-upload-error": undefined });
    });
  }

  test("a zero-byte object is refused with empty-file", async () => {
    await stack.handler(await stack.put("empty.txt", "", { tags: TO_DOCX }));
    assert.equal(stack.lark.stats().requests, 0);
    assert.match((await stack.tags("empty.txt"))["lark-upload-error"]!, /^empty-file: /);
  });

  test("a permanent Lark error is tagged lark-<code> at once, without retries", async () => {
    stack.lark.deleteParentNode("doxcnGone");
    const key = "perm/deleted-parent.txt";
    const result: any = await stack.handler(
      await stack.put(key, "x", { tags: { "lark-parent-type": "docx_file", "lark-parent-node": "doxcnGone" } }),
    );
    assert.equal(result.objects[0].outcome.kind, "rejected");
    assert.equal(stack.lark.stats().requests, 1);
    assert.match((await stack.tags(key))["lark-upload-error"]!, /^lark-1061041: parent node has been deleted/);
  });

  test("a token that expires mid-run is fetched again once and the upload goes through", async () => {
    await stack.handler(await stack.put("token/one.txt", "1", { tags: TO_DOCX }));
    const before = stack.lark.stats().tokenRequests;
    stack.lark.expireTokens();
    await stack.handler(await stack.put("token/two.txt", "2", { tags: TO_DOCX }));
    assert.equal(stack.lark.files.length, 2);
    assert.equal(stack.lark.stats().tokenRequests, before + 1);
    assert.ok(
      stack.lark.requests.some((r) => r.code === 99991663),
      "Lark did reject the old token",
    );
  });

  test("the token is cached across invocations", async () => {
    await stack.handler(await stack.put("cache/a.txt", "a", { tags: TO_DOCX }));
    const tokens = stack.lark.stats().tokenRequests;
    await stack.handler(await stack.put("cache/b.txt", "b", { tags: TO_DOCX }));
    assert.equal(stack.lark.stats().tokenRequests, tokens);
  });

  test("an object deleted before we read it is logged and skipped", async () => {
    const event = await stack.put("gone.txt", "soon gone", { tags: TO_DOCX });
    await stack.s3.send(new DeleteObjectCommand({ Bucket: stack.bucket, Key: "gone.txt" }));
    const result: any = await stack.handler(event);
    assert.equal(result.objects[0].outcome.reason, "gone");
    assert.equal(stack.lark.stats().requests, 0);
    assert.ok(stack.logs.some((l) => l.message === "skipped" && l.reason === "gone" && l.key === "gone.txt"));
  });

  test("folder markers are skipped", async () => {
    const result: any = await stack.handler(await stack.put("folder/", ""));
    assert.equal(result.objects[0].outcome.reason, "folder-marker");
    assert.equal(stack.lark.stats().requests, 0);
  });

  test("an event for content that has since been overwritten uploads nothing; the newer event uploads the new bytes", async () => {
    const oldEvent = await stack.put("over/doc.txt", "old content", { tags: TO_DOCX });
    const newEvent = await stack.put("over/doc.txt", "new content!", { tags: TO_DOCX });
    const stale: any = await stack.handler(oldEvent);
    assert.equal(stale.objects[0].outcome.reason, "stale-event");
    await stack.handler(newEvent);
    assert.equal(stack.lark.files.length, 1);
    assert.equal(stack.lark.files[0]!.sha256, sha256(Buffer.from("new content!")));
  });
});

describe("delivery paths", () => {
  test("an SQS batch of 12 objects: all uploaded, one at a time, within 5/s, nothing reported failed", async () => {
    const records = [];
    for (let i = 0; i < 12; i++) {
      const e = await stack.put(`sqs/file-${i}.txt`, `file ${i}`, { tags: TO_DOCX });
      records.push({
        messageId: `m-${i}`,
        eventSource: "aws:sqs",
        body: JSON.stringify(e),
        receiptHandle: "r",
        attributes: {},
        messageAttributes: {},
        md5OfBody: "",
        eventSourceARN: "arn:aws:sqs:us-east-1:1:q",
        awsRegion: "us-east-1",
      });
    }
    const result = await stack.handler({ Records: records });
    assert.deepEqual(result, { batchItemFailures: [] });
    const stats = stack.lark.stats();
    assert.equal(stats.uploads, 12);
    assert.equal(stats.rateViolations, 0);
    assert.equal(stats.concurrencyViolations, 0);
    assert.equal(stats.maxInFlight, 1);
    for (let i = 0; i < 12; i++) assert.ok((await stack.head(`sqs/file-${i}.txt`)).Metadata?.["lark-file-token"]);
  });

  test("SQS: exactly the messages whose objects failed transiently are named", async () => {
    const ok = await stack.put("sqs2/ok.txt", "fine", { tags: TO_DOCX });
    const bad = await stack.put("sqs2/bad.txt", "will fail", { tags: TO_DOCX });
    const test = { Service: "Amazon S3", Event: "s3:TestEvent", Time: new Date().toISOString(), Bucket: stack.bucket };
    stack.lark.injectFault({
      fault: { kind: "http", status: 503, body: "<html>busy</html>", contentType: "text/html" },
      path: "upload_all",
      times: 100,
    });
    // The first message fails (persistent 503), then the fault is cleared for the second.
    const records = [
      { messageId: "bad", eventSource: "aws:sqs", body: JSON.stringify(bad) },
      { messageId: "test", eventSource: "aws:sqs", body: JSON.stringify(test) },
      { messageId: "junk", eventSource: "aws:sqs", body: "not json" },
    ];
    const first: any = await stack.handler({ Records: records });
    stack.lark.clearFaults();
    const second: any = await stack.handler({
      Records: [{ messageId: "ok", eventSource: "aws:sqs", body: JSON.stringify(ok) }],
    });
    assert.deepEqual(first.batchItemFailures.map((f: any) => f.itemIdentifier).sort(), ["bad", "junk"]);
    assert.deepEqual(second, { batchItemFailures: [] });
    assert.equal(
      (await stack.head("sqs2/bad.txt")).Metadata?.["lark-file-token"],
      undefined,
      "the failed object is untouched",
    );
    assert.deepEqual(await stack.tags("sqs2/bad.txt"), TO_DOCX);
  });

  test("SQS: an invocation out of time starts nothing and names every message for a retry", async () => {
    const records = [];
    for (let i = 0; i < 3; i++) {
      const e = await stack.put(`late/${i}.txt`, `late ${i}`, { tags: TO_DOCX });
      records.push({ messageId: `late-${i}`, eventSource: "aws:sqs", body: JSON.stringify(e) });
    }
    const result: any = await stack.handler(
      { Records: records },
      { awsRequestId: "r", getRemainingTimeInMillis: () => 0 },
    );
    assert.deepEqual(
      result.batchItemFailures.map((f: any) => f.itemIdentifier),
      ["late-0", "late-1", "late-2"],
    );
    assert.equal(stack.lark.stats().requests, 0);
    assert.equal((await stack.head("late/0.txt")).Metadata?.["lark-file-token"], undefined);
  });

  test("an EventBridge Object Created event", async () => {
    const key = "eb/from bridge+.txt";
    const e = await stack.put(key, "via eventbridge", { tags: TO_DOCX });
    const o = e.Records[0]!.s3.object;
    const result: any = await stack.handler({
      version: "0",
      id: "17793124-05d4-b198-2fde-7ededc63b103",
      "detail-type": "Object Created",
      source: "aws.s3",
      account: "111122223333",
      time: new Date().toISOString(),
      region: "us-east-1",
      resources: [`arn:aws:s3:::${stack.bucket}`],
      detail: {
        version: "0",
        bucket: { name: stack.bucket },
        object: { key: o.key, size: o.size, etag: o.eTag, sequencer: o.sequencer },
        "request-id": "x",
        requester: "1",
        reason: "PutObject",
      },
    });
    assert.equal(result.objects[0].outcome.kind, "uploaded");
    assert.equal(stack.lark.files[0]!.fileName, "from bridge+.txt");
  });

  test("the s3:TestEvent is ignored", async () => {
    const result = await stack.handler({
      Service: "Amazon S3",
      Event: "s3:TestEvent",
      Time: "2026-01-01T00:00:00.000Z",
      Bucket: stack.bucket,
      RequestId: "r",
      HostId: "h",
    });
    assert.deepEqual(result, { ignored: "s3:TestEvent" });
    assert.equal(stack.lark.stats().requests, 0);
  });

  const malformed: [string, unknown, RegExp][] = [
    ["null", null, /expected an S3 notification .* got null/],
    ["a string", "hello", /got string "hello"/],
    ["an API Gateway event", { httpMethod: "GET", path: "/" }, /the event is an object with keys \[httpMethod, path\]/],
    [
      "a record from DynamoDB",
      { Records: [{ eventSource: "aws:dynamodb", eventVersion: "1.1" }] },
      /eventSource must be "aws:s3" or "ceph:s3", got string "aws:dynamodb"/,
    ],
    [
      "a record without object",
      { Records: [{ eventSource: "aws:s3", eventVersion: "2.1", s3: { bucket: { name: "b" } } }] },
      /s3 must hold bucket and object/,
    ],
    [
      "eventVersion 3",
      { Records: [{ eventSource: "aws:s3", eventVersion: "3.0", s3: {} }] },
      /eventVersion must be 2.x/,
    ],
    [
      "a badly encoded key",
      {
        Records: [toAwsRecord("inbox", "x", 1, "e")].map((r) => ({
          ...r,
          s3: { ...r.s3, object: { ...r.s3.object, key: "bad%E0%A4%A" } },
        })),
      },
      /is not URL-encoded as S3 encodes keys/,
    ],
  ];
  for (const [what, event, message] of malformed) {
    test(`a malformed event (${what}) is rejected with what was expected and what arrived`, async () => {
      await assert.rejects(stack.handler(event), message);
      assert.equal(stack.lark.stats().requests, 0);
    });
  }
});

describe("hygiene", () => {
  test("the app secret and the tenant token never reach a log line", async () => {
    stack.lark.expireTokens();
    await stack.handler(await stack.put("secret/check.txt", "s", { tags: TO_DOCX }));
    stack.lark.injectFault({
      fault: { kind: "code", code: 99991672, httpStatus: 400, msg: "app lacks scope" },
      path: "upload_all",
    });
    await assert.rejects(stack.handler(await stack.put("secret/check2.txt", "s", { tags: TO_DOCX })));
    const text = JSON.stringify(stack.logs);
    assert.ok(stack.logs.length >= 2);
    assert.ok(!text.includes(stack.lark.appSecret), "no secret");
    assert.ok(!/t-[A-Za-z0-9]{8,}/.test(text), "no tenant token");
  });

  test("a copy of an uploaded object to another key is a new file for Lark: it goes where its own tags say", async () => {
    await stack.handler(await stack.put("copy/src.txt", "original", { tags: TO_DOCX }));
    const srcToken = (await stack.head("copy/src.txt")).Metadata?.["lark-file-token"];
    // A plain copy keeps the metadata (and the tags): the token and its origin come along.
    await stack.s3.send(
      new CopyObjectCommand({ Bucket: stack.bucket, Key: "copy/dst.txt", CopySource: `${stack.bucket}/copy/src.txt` }),
    );
    const elsewhere = { "lark-parent-type": "docx_file", "lark-parent-node": "doxcnElsewhere" };
    await stack.s3.send(
      new PutObjectTaggingCommand({
        Bucket: stack.bucket,
        Key: "copy/dst.txt",
        Tagging: { TagSet: Object.entries(elsewhere).map(([Key, Value]) => ({ Key, Value })) },
      }),
    );
    const head = await stack.head("copy/dst.txt");
    assert.equal(head.Metadata?.["lark-file-token"], srcToken);
    const result: any = await stack.handler({
      Records: [toAwsRecord(stack.bucket, "copy/dst.txt", 8, head.ETag!, "ObjectCreated:Copy")],
    });
    assert.equal(result.objects[0].outcome.kind, "uploaded");
    assert.equal(stack.lark.files.length, 2);
    assert.equal(stack.lark.files[1]!.parentNode, "doxcnElsewhere");
    const dstToken = (await stack.head("copy/dst.txt")).Metadata?.["lark-file-token"];
    assert.equal(dstToken, stack.lark.files[1]!.fileToken);
    assert.notEqual(dstToken, srcToken);
    // The source's own echo is still recognised.
    const again: any = await stack.handler({
      Records: [toAwsRecord(stack.bucket, "copy/src.txt", 8, head.ETag!, "ObjectCreated:Copy")],
    });
    assert.equal(again.objects[0].outcome.reason, "already-uploaded");
    const body = await (
      await stack.s3.send(new GetObjectCommand({ Bucket: stack.bucket, Key: "copy/src.txt" }))
    ).Body!.transformToString();
    assert.equal(body, "original");
  });

  test("an archived object (Glacier: GetObject answers InvalidObjectState) is refused with archived-object", {
    skip: BACKEND === "rgw" && "needs s3rver's fault injection",
  }, async () => {
    const key = "cold/archived.txt";
    const event = await stack.put(key, "in deep archive", { tags: TO_DOCX });
    stack.localS3!.failRequests((r) => r.method === "GET" && !r.url.includes("tagging"), 1, {
      status: 403,
      code: "InvalidObjectState",
      message: "The operation is not valid for the object's storage class",
    });
    const result: any = await stack.handler(event);
    stack.localS3!.clearFaults();
    assert.equal(result.objects[0].outcome.code, "archived-object");
    assert.equal(stack.lark.stats().requests, 0);
    assert.match((await stack.tags(key))["lark-upload-error"]!, /^archived-object: /);
  });

  test("an object with 10 tags and wrong ones: too-many-tags, not retried, the reason says to remove a tag", async () => {
    const key = "tags/ten.txt";
    const tags = Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`team-${i}`, "x"]));
    const event = await stack.put(key, "x", { tags: { ...tags, "lark-parent-type": "wiki" } });
    stack.metrics.length = 0;
    const result: any = await stack.handler(event); // returns: a retry cannot help
    assert.equal(result.objects[0].outcome.kind, "rejected");
    assert.equal(result.objects[0].outcome.code, "too-many-tags");
    assert.match(
      result.objects[0].outcome.reason,
      /cannot add the tag lark-upload-error \(missing-parent: .*\): the object already has the 10 tags S3 allows\. Remove one of its tags/,
    );
    assert.equal(Object.keys(await stack.tags(key)).length, 10, "the object's tags are as they were");
    assert.ok(stack.logs.some((l) => l.message === "rejected" && l.code === "too-many-tags"));
    assert.ok(stack.metrics.some((m) => m.Code === "too-many-tags" && m.Rejected === 1));
  });

  test("user metadata that leaves no room for the token is refused before the upload", async () => {
    const key = "meta/full.txt";
    await stack.handler(await stack.put(key, "x", { tags: TO_DOCX, Metadata: { notes: "n".repeat(1990) } }));
    assert.equal(stack.lark.stats().requests, 0);
    assert.match((await stack.tags(key))["lark-upload-error"]!, /^metadata-too-large: /);
  });

  test("a metadata write that fails after the upload parks the token as a tag; the retry writes it without uploading again", {
    skip: BACKEND === "rgw" && "needs s3rver's fault injection",
  }, async () => {
    const key = "park/once.txt";
    const event = await stack.put(key, "uploaded once", { tags: TO_DOCX });
    // Every attempt the SDK makes at the self-copy gets 503 SlowDown.
    stack.localS3!.failRequests((r) => r.method === "PUT" && r.headers["x-amz-copy-source"] !== undefined, 10);
    await assert.rejects(stack.handler(event), /1 of 1 object\(s\) failed/);
    assert.equal(stack.lark.files.length, 1);
    const token = stack.lark.files[0]!.fileToken;
    assert.ok(
      stack.logs.some((l) => l.message === "failed" && l.fileToken === token),
      "the token is in the failure's log line",
    );
    assert.deepEqual(
      await stack.tags(key),
      { ...TO_DOCX, "lark-pending-metadata": `lark-file-token=${token} lark-target=docx_file:doxcnTarget01` },
      "parked as a tag",
    );
    stack.localS3!.clearFaults();
    // Lambda's retry: the same event.
    stack.lark.reset();
    const retry: any = await stack.handler(event);
    assert.equal(retry.objects[0].outcome.kind, "uploaded");
    assert.equal(stack.lark.stats().requests, 0, "no second upload");
    assert.equal((await stack.head(key)).Metadata?.["lark-file-token"], token);
    assert.deepEqual(await stack.tags(key), TO_DOCX, "the parked tag is gone");
  });
});

/**
 * What only a real S3 implementation can show, against Ceph's radosgw: versioned buckets,
 * tags in the PUT and after the metadata write, the overwrite guard, and real bucket notifications
 * pushed over HTTP ("ceph:s3" records with raw keys). Run by `npm run test:rgw`.
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { GetObjectTaggingCommand, ListObjectVersionsCommand } from "@aws-sdk/client-s3";
import { ObjectChangedError } from "../../lib/errors";
import { type NotificationReceiver, startNotificationReceiver, subscribeBucket } from "../../local/rgw/notifications";
import { BACKEND, type Stack, startStack, TO_DOCX } from "../support/stack";

const sha256 = (b: string) => createHash("sha256").update(b).digest("hex");
const skip = BACKEND !== "rgw" && "needs S3_BACKEND=rgw (npm run test:rgw)";

describe("radosgw", { skip }, () => {
  describe("a versioned bucket", () => {
    let stack: Stack;
    before(async () => {
      stack = await startStack({ versioned: true });
    });
    after(() => stack?.close());

    test("the event's version is the one read; an older version's event is stale; the metadata write makes one new version and no loop", async () => {
      const first = await stack.put("v/doc.txt", "version one", { tags: TO_DOCX });
      const second = await stack.put("v/doc.txt", "version two", { tags: TO_DOCX });
      const v1 = first.Records[0]!.s3.object.versionId!;
      const v2 = second.Records[0]!.s3.object.versionId!;
      assert.ok(v1 && v2 && v1 !== v2, "each PUT made a version");

      const stale: any = await stack.handler(first);
      assert.equal(stale.objects[0].outcome.reason, "stale-event");
      assert.equal(stack.lark.files.length, 0);

      const done: any = await stack.handler(second);
      assert.equal(done.objects[0].versionId, v2);
      assert.equal(stack.lark.files.length, 1);
      assert.equal(stack.lark.files[0]!.sha256, sha256("version two"));

      const versions = await stack.s3.send(
        new ListObjectVersionsCommand({ Bucket: stack.bucket, Prefix: "v/doc.txt" }),
      );
      assert.equal(versions.Versions?.length, 3, "v1, v2 and the copy carrying the token");
      const head = await stack.head("v/doc.txt");
      assert.notEqual(head.VersionId, v2);
      assert.equal(head.Metadata?.["lark-file-token"], stack.lark.files[0]!.fileToken);
      assert.deepEqual(await stack.tags("v/doc.txt"), TO_DOCX, "radosgw drops tags on the copy; they were restored");

      // The copy's own event (radosgw sends no versionId for copies) and a replay of v2's event upload nothing.
      const copy: any = await stack.handler({
        Records: [
          {
            ...second.Records[0]!,
            eventName: "ObjectCreated:Copy",
            s3: { ...second.Records[0]!.s3, object: { ...second.Records[0]!.s3.object, versionId: undefined } },
          },
        ],
      });
      assert.equal(copy.objects[0].outcome.reason, "already-uploaded");
      const replay: any = await stack.handler(second);
      assert.equal(replay.objects[0].outcome.kind, "skipped");
      assert.equal(stack.lark.files.length, 1);
    });

    test("a refusal tags the version the event announced", async () => {
      const e = await stack.put("v/bad.txt", "x", { tags: { "lark-parent-type": "nope", "lark-parent-node": "n" } });
      await stack.handler(e);
      const tags = await stack.s3.send(
        new GetObjectTaggingCommand({
          Bucket: stack.bucket,
          Key: "v/bad.txt",
          VersionId: e.Records[0]!.s3.object.versionId,
        }),
      );
      assert.match(tags.TagSet?.find((t) => t.Key === "lark-upload-error")?.Value ?? "", /^invalid-parent-type: /);
    });
  });

  describe("an unversioned bucket", () => {
    let stack: Stack;
    before(async () => {
      stack = await startStack();
    });
    after(() => stack?.close());

    test("tags set in the PUT itself are read, and are all still there after the metadata write", async () => {
      const tags = { ...TO_DOCX, "lark-file-name": "名前 with spaces.txt", team: "a+b=c", empty: "" };
      await stack.handler(await stack.put("t/tagged.txt", "tagged", { tags }));
      assert.equal(stack.lark.files[0]!.fileName, "名前 with spaces.txt");
      assert.deepEqual(await stack.tags("t/tagged.txt"), tags);
    });

    test("the metadata copy is guarded: radosgw honours the guard this client sends, so an overwrite is not clobbered", async () => {
      await stack.put("t/guard.txt", "current content", { tags: TO_DOCX });
      const head = (await stack.runtime.s3.head(stack.bucket, "t/guard.txt"))!;
      await assert.rejects(
        stack.runtime.s3.writePlacement(
          { bucket: stack.bucket, key: "t/guard.txt" },
          { ...head, eTag: "0123456789abcdef0123456789abcdef" },
          TO_DOCX,
          { "lark-file-token": "boxcnX" },
        ),
        ObjectChangedError,
      );
      assert.equal((await stack.head("t/guard.txt")).Metadata?.["lark-file-token"], undefined);
    });
  });

  describe("real bucket notifications pushed by radosgw", () => {
    let stack: Stack;
    let receiver: NotificationReceiver;
    before(async () => {
      stack = await startStack();
      receiver = await startNotificationReceiver(async (body) => {
        await stack.handler(body);
      });
      await subscribeBucket({
        endpoint: process.env.AWS_ENDPOINT_URL_S3!,
        credentials: {
          accessKeyId: process.env.AWS_ACCESS_KEY_ID!,
          secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY!,
        },
        bucket: stack.bucket,
        pushEndpoint: receiver.url,
      });
    });
    after(async () => {
      await receiver?.close();
      await stack?.close();
    });

    test("each object created is uploaded once; raw keys are not decoded twice; the function's own copy does not loop", async () => {
      const keys = ["n/plain.txt", "n/a b+c%20d (1).txt", "n/日本 ü é.txt", "n/100%25 % done.txt"];
      for (const key of keys) await stack.put(key, `body of ${key}`, { tags: TO_DOCX });
      for (const key of keys) {
        const head = await stack.head(key);
        assert.ok(head.Metadata?.["lark-file-token"], `${key} carries its token`);
      }
      const records = receiver.received.flatMap((b: any) => b.Records);
      assert.ok(records.every((r: any) => r.eventSource === "ceph:s3"));
      assert.deepEqual(
        records.filter((r: any) => r.eventName === "ObjectCreated:Put").map((r: any) => r.s3.object.key),
        keys,
        "raw keys",
      );
      assert.equal(
        records.filter((r: any) => r.eventName === "ObjectCreated:Copy").length,
        keys.length,
        "one self-copy each, then quiet",
      );
      assert.deepEqual(stack.lark.files.map((f) => f.fileName).sort(), keys.map((k) => k.slice(2)).sort());
      assert.equal(stack.lark.files.length, keys.length, "exactly once");
    });
  });
});

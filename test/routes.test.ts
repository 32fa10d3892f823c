/**
 * Every route an S3 event takes to the function (direct, SQS, SNS, SNS -> SQS with and without raw delivery,
 * EventBridge, EventBridge -> SQS), S3's test event through each, a bad body among good ones, and the events
 * that are not about a new file: each ends as the user expects, with no S3 write where nothing is to be done.
 */

import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import type { AwsS3Record } from "../local/local-s3";
import { eventBridgeEvent, otherEvent, snsEnvelope, snsLambdaEvent, sqsEvent, testEvent } from "./support/envelopes";
import { type Stack, startStack, TO_DOCX } from "./support/stack";

let stack: Stack;
before(async () => {
  stack = await startStack();
});
after(() => stack.close());
beforeEach(() => {
  stack.lark.reset();
  stack.logs.length = 0;
});

type Route = {
  name: string;
  /** The event the function is invoked with, for these S3 notifications (one per message where a queue is involved). */
  wrap: (notifications: { Records: AwsS3Record[] }[]) => Record<string, unknown>;
  /** SQS routes answer with the messages that failed; the others return or throw. */
  sqs: boolean;
  /** S3 sends its test event to the notification's own destination; EventBridge never carries one. */
  carriesTestEvent?: false;
};

const eachMessage = (bodies: unknown[]) => sqsEvent(bodies.map((body, i) => ({ messageId: `m${i}`, body })));
const ROUTES: Route[] = [
  {
    name: "S3 -> Lambda",
    sqs: false,
    wrap: (ns) => (ns.length === 1 ? ns[0]! : { Records: ns.flatMap((n) => n.Records) }),
  },
  { name: "S3 -> SQS -> Lambda", sqs: true, wrap: (ns) => eachMessage(ns) },
  { name: "S3 -> SNS -> SQS -> Lambda", sqs: true, wrap: (ns) => eachMessage(ns.map(snsEnvelope)) },
  { name: "S3 -> SNS (raw delivery) -> SQS -> Lambda", sqs: true, wrap: (ns) => eachMessage(ns) },
  { name: "S3 -> SNS -> Lambda", sqs: false, wrap: (ns) => snsLambdaEvent(ns) },
  {
    name: "S3 -> EventBridge -> SQS -> Lambda",
    sqs: true,
    carriesTestEvent: false,
    wrap: (ns) => eachMessage(ns.map(eventBridgeOf)),
  },
];

function eventBridgeOf(n: { Records: AwsS3Record[] }) {
  return eventBridgeEvent(n.Records[0]!);
}

describe("every route S3 events take to the function", () => {
  for (const route of ROUTES) {
    test(`${route.name}: two files, each uploaded once, and keys decoded once`, async () => {
      const keys = [`routes/${route.name.length}/a b+c.txt`, `routes/${route.name.length}/报告 100%.txt`];
      const notifications = [];
      for (const key of keys) notifications.push(await stack.put(key, `content of ${key}`, { tags: TO_DOCX }));
      const result: any = await stack.handler(route.wrap(notifications));
      if (route.sqs) assert.deepEqual(result, { batchItemFailures: [] });
      else
        assert.deepEqual(
          result.objects.map((o: any) => o.outcome.kind),
          ["uploaded", "uploaded"],
        );
      assert.deepEqual(
        stack.lark.files.map((f) => f.fileName),
        keys.map((k) => k.slice(k.lastIndexOf("/") + 1)),
      );
      for (const [i, key] of keys.entries()) {
        assert.equal((await stack.head(key)).Metadata?.["lark-file-token"], stack.lark.files[i]!.fileToken);
      }
      // At least once: the same delivery again uploads nothing.
      await stack.handler(route.wrap(notifications));
      assert.equal(stack.lark.files.length, 2);
    });

    if (route.carriesTestEvent === false) continue;
    test(`${route.name}: S3's test event is ignored`, async () => {
      const result: any = await stack.handler(route.wrap([testEvent(stack.bucket) as never]));
      if (route.sqs) assert.deepEqual(result, { batchItemFailures: [] });
      else assert.deepEqual(result, { ignored: "s3:TestEvent" });
      assert.equal(stack.lark.stats().requests, 0);
    });
  }

  test("SQS: a body that is none of these fails alone, with a message naming what arrived", async () => {
    const good = await stack.put("routes/mixed/good.txt", "good", { tags: TO_DOCX });
    const result: any = await stack.handler(
      sqsEvent([
        { messageId: "good", body: snsEnvelope(good) },
        { messageId: "dynamo", body: { Records: [{ eventSource: "aws:dynamodb", eventVersion: "1.1" }] } },
        { messageId: "sns-junk", body: snsEnvelope({ hello: "world" }) },
        { messageId: "text", body: "plain text" },
      ]),
    );
    assert.deepEqual(
      result.batchItemFailures.map((f: any) => f.itemIdentifier),
      ["dynamo", "sns-junk", "text"],
    );
    assert.equal(stack.lark.files.length, 1, "the good message's file is uploaded");
    const errors = Object.fromEntries(
      stack.logs.filter((l) => l.message === "malformed SQS message").map((l) => [l.messageId, l.error]),
    );
    assert.match(errors.dynamo, /eventSource must be "aws:s3" or "ceph:s3", got string "aws:dynamodb"/);
    assert.match(errors["sns-junk"], /the message body\.Message is an object with keys \[hello\]/);
    assert.match(errors.text, /the message body is not JSON/);
  });

  test("S3 -> SNS -> Lambda: a notification that is not an S3 event fails the invocation, naming it", async () => {
    await assert.rejects(
      stack.handler(snsLambdaEvent([{ alarm: "CPU high" }])),
      /Records\[0\]\.Sns\.Message is an object with keys \[alarm\]/,
    );
  });
});

describe("only events that mean a file to upload upload", () => {
  const others = [
    "ObjectRemoved:Delete",
    "ObjectRemoved:DeleteMarkerCreated",
    "ObjectRestore:Post",
    "ObjectRestore:Delete",
    "ObjectAcl:Put",
    "ObjectTagging:Delete",
    "LifecycleTransition",
    "LifecycleExpiration:Delete",
    "IntelligentTiering",
    "Replication:OperationFailedReplication",
  ];
  for (const eventName of others) {
    test(`${eventName}: skipped with its name, no S3 request, no Lark call`, async () => {
      const put = await stack.put(`others/${eventName}.txt`, "x", { tags: TO_DOCX });
      const before = stack.localS3!.requests.length;
      const result: any = await stack.handler(otherEvent(put.Records[0]!, eventName));
      assert.deepEqual(result.objects[0].outcome, { kind: "skipped", reason: "not-a-new-file", detail: eventName });
      assert.equal(stack.localS3!.requests.length, before, "the function asked S3 nothing");
      assert.equal(stack.lark.stats().requests, 0);
      assert.ok(stack.logs.some((l) => l.message === "skipped" && l.detail === eventName));
    });
  }

  test("EventBridge: an 'Object Deleted' event is skipped too", async () => {
    const put = await stack.put("others/eb-deleted.txt", "x", { tags: TO_DOCX });
    const result: any = await stack.handler(eventBridgeEvent(put.Records[0]!, "Object Deleted", "DeleteObject"));
    assert.deepEqual(result.objects[0].outcome, {
      kind: "skipped",
      reason: "not-a-new-file",
      detail: "ObjectRemoved:Delete",
    });
    assert.equal(stack.lark.stats().requests, 0);
  });

  test("an archived object refused as archived uploads once restored (ObjectRestore:Completed)", async () => {
    const key = "others/restored.txt";
    const put = await stack.put(key, "was in glacier", { tags: TO_DOCX });
    // S3 refuses to read an archived object; once restored it reads again.
    stack.localS3!.failRequests((r) => r.method === "GET" && !r.url.includes("tagging"), 1, {
      status: 403,
      code: "InvalidObjectState",
      message: "The operation is not valid for the object's storage class",
    });
    await stack.handler(put);
    assert.match((await stack.tags(key))["lark-upload-error"]!, /^archived-object: /);
    const restored: any = await stack.handler(otherEvent(put.Records[0]!, "ObjectRestore:Completed"));
    assert.equal(restored.objects[0].outcome.kind, "uploaded");
    assert.equal(stack.lark.files.length, 1);
    assert.deepEqual(await stack.tags(key), TO_DOCX, "the archived-object tag is gone");
  });
});

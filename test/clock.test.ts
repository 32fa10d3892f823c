/**
 * The clocks real hosts give: whatever `getRemainingTimeInMillis()` returns (a fraction, a Lambda timeout of
 * 25 or 30 s, a few hundred ms, 0, nothing, not a number), every timer handed to undici, the pacer and the
 * retry loop is valid, and work that cannot finish is handed back with the object untouched.
 */

import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import type { Context } from "aws-lambda";
import { sqsEvent } from "./support/envelopes";
import { lambdaContext, type Stack, startStack, TO_DOCX } from "./support/stack";

let stack: Stack;
before(async () => {
  stack = await startStack();
});
after(() => stack.close());
beforeEach(() => {
  stack.lark.reset();
  stack.logs.length = 0;
});

let n = 0;
const drop = () => stack.put(`clock/${++n}.txt`, `file ${n}`, { tags: TO_DOCX });
const noRangeErrors = () =>
  assert.ok(!JSON.stringify(stack.logs).includes("ERR_OUT_OF_RANGE"), "no timer was handed an invalid value");

describe("hosts' clocks", () => {
  const uploading: [string, Partial<Context>][] = [
    ["a fractional remaining time (23077.19 ms)", { getRemainingTimeInMillis: () => 23077.19 }],
    ["a 25 s Lambda timeout, on a fractional clock", lambdaContext(25_000)],
    ["a 30 s Lambda timeout, late in the invocation (12.5 s used)", lambdaContext(30_000, 12_500.5)],
    ["no clock at all (a local runner)", {}],
    ["a clock that answers NaN", { getRemainingTimeInMillis: () => Number.NaN }],
  ];
  for (const [what, context] of uploading) {
    test(`${what}: the file is uploaded`, async () => {
      const event = await drop();
      const result: any = await stack.handler(event, context);
      assert.equal(result.objects[0].outcome.kind, "uploaded");
      noRangeErrors();
    });
  }

  for (const [what, remaining] of [
    ["0 ms", 0],
    ["a negative remaining time", -5],
  ] as const) {
    test(`${what}: nothing starts, the SQS message is named, the object is untouched`, async () => {
      const event = await drop();
      const key = event.Records[0]!.s3.object.key.replace(/\+/g, " ");
      const result: any = await stack.handler(sqsEvent([{ messageId: "m", body: event }]), {
        getRemainingTimeInMillis: () => remaining,
      });
      assert.deepEqual(result, { batchItemFailures: [{ itemIdentifier: "m" }] });
      assert.equal(stack.lark.stats().requests, 0);
      assert.deepEqual(await stack.tags(decodeURIComponent(key)), TO_DOCX);
      noRangeErrors();
    });
  }

  test("a few hundred ms: either uploaded, or handed back with no token and no error tag", async () => {
    for (const ms of [150.5, 300.25, 600.75]) {
      const event = await drop();
      const key = decodeURIComponent(event.Records[0]!.s3.object.key);
      const result: any = await stack.handler(sqsEvent([{ messageId: "m", body: event }]), {
        getRemainingTimeInMillis: () => ms,
      });
      const head = await stack.head(key);
      if (result.batchItemFailures.length) {
        assert.equal(head.Metadata?.["lark-file-token"], undefined, `${ms} ms: no token without an upload`);
      } else {
        assert.ok(head.Metadata?.["lark-file-token"], `${ms} ms: uploaded and written back`);
      }
      assert.deepEqual(await stack.tags(key), TO_DOCX, `${ms} ms: no error tag for running out of time`);
    }
    noRangeErrors();
  });
});

describe("running out of time mid-batch", () => {
  test("2.5 s left, an SQS batch of 3 slow uploads: the unfinished are named, and their redelivery uploads each once", async () => {
    const events = [await drop(), await drop(), await drop()];
    const keys = events.map((e) => decodeURIComponent(e.Records[0]!.s3.object.key));
    const batch = sqsEvent(events.map((body, i) => ({ messageId: `slow-${i}`, body })));
    // Each upload takes 900 ms at Lark: two fit before the deadline (2.5 s minus the 20 % reserve), three do not.
    stack.lark.injectFault({ fault: { kind: "delay", ms: 900 }, path: "upload_all", times: 3 });
    const first: any = await stack.handler(batch, lambdaContext(2500));
    const named = first.batchItemFailures.map((f: any) => f.itemIdentifier);
    assert.ok(named.includes("slow-2"), `the third cannot finish: ${JSON.stringify(named)}`);
    assert.ok(!named.includes("slow-0"), "the first finishes");
    for (const [i, key] of keys.entries()) {
      const token = (await stack.head(key)).Metadata?.["lark-file-token"];
      assert.equal(
        Boolean(token),
        !named.includes(`slow-${i}`),
        `${key}: a token exactly when its message was not named`,
      );
      assert.deepEqual(await stack.tags(key), TO_DOCX, `${key}: no error tag for running out of time`);
    }
    // SQS redelivers the named messages (the others were deleted), to an invocation with time to spare.
    stack.lark.clearFaults();
    const redelivered = sqsEvent(named.map((id: string) => ({ messageId: id, body: events[Number(id.slice(5))] })));
    assert.deepEqual(await stack.handler(redelivered), { batchItemFailures: [] });
    for (const key of keys) {
      const name = key.slice(key.lastIndexOf("/") + 1);
      const uploads = stack.lark.files.filter((f) => f.fileName === name);
      assert.equal(uploads.length, 1, `${key} uploaded exactly once`);
      assert.equal((await stack.head(key)).Metadata?.["lark-file-token"], uploads[0]!.fileToken);
    }
    noRangeErrors();
  });
});

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

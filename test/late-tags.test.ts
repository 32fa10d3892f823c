/**
 * Tags that arrive after the file, in a second call as many tools do: a tag change decides the object again.
 * A refusal for its tags is lifted when the tags are fixed, new tags re-route a file, a new untagged object is
 * given a moment for its tags, and the function's own writes never start a loop.
 */

import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import { PutObjectTaggingCommand } from "@aws-sdk/client-s3";
import type { AwsS3Record } from "../local/local-s3";
import { otherEvent, sqsEvent } from "./support/envelopes";
import { lambdaContext, type Stack, startStack, TO_DOCX } from "./support/stack";

const TO_SHEET_FILE = { "lark-parent-type": "sheet_file", "lark-parent-node": "shtcnOther01" };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function setTags(stack: Stack, key: string, tags: Record<string, string>) {
  await stack.s3.send(
    new PutObjectTaggingCommand({
      Bucket: stack.bucket,
      Key: key,
      Tagging: { TagSet: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) },
    }),
  );
}

/** The event S3 sends after a PutObjectTagging on this object. */
const tagged = (put: { Records: AwsS3Record[] }) => otherEvent(put.Records[0]!, "ObjectTagging:Put");

/** PutObjectTagging requests the function made since `from` in the S3 server's request log. */
function tagWrites(stack: Stack, from: number): string[] {
  return stack
    .localS3!.requests.slice(from)
    .filter((r) => r.method === "PUT" && /[?&]tagging/.test(r.url))
    .map((r) => r.url);
}

describe("tags set after the file (no default destination)", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(() => stack.close());
  beforeEach(() => stack.lark.reset());

  test("refused for missing tags, then tagged: uploaded once, and the error tag goes", async () => {
    const key = "late/fixed.txt";
    const put = await stack.put(key, "tagged later");
    await stack.handler(put);
    assert.match((await stack.tags(key))["lark-upload-error"]!, /^missing-parent: /);
    await setTags(stack, key, { ...(await stack.tags(key)), ...TO_DOCX });
    const result: any = await stack.handler(tagged(put));
    assert.equal(result.objects[0].outcome.kind, "uploaded");
    assert.equal(stack.lark.files.length, 1);
    assert.deepEqual(await stack.tags(key), TO_DOCX, "the error tag is gone, the user's tags stay");
    const head = await stack.head(key);
    assert.equal(head.Metadata?.["lark-file-token"], stack.lark.files[0]!.fileToken);
    assert.equal(head.Metadata?.["lark-target"], "docx_file:doxcnTarget01");
  });

  test("tags that still fail: the error tag stays as it is, and nothing is written", async () => {
    const key = "late/still-bad.txt";
    const put = await stack.put(key, "still bad", { tags: { "lark-parent-type": "wiki", "lark-parent-node": "n" } });
    await stack.handler(put);
    const refused = await stack.tags(key);
    assert.match(refused["lark-upload-error"]!, /^invalid-parent-type: /);
    const from = stack.localS3!.requests.length;
    await stack.handler(tagged(put));
    assert.deepEqual(tagWrites(stack, from), [], "no tag write, so no new tagging event");
    assert.deepEqual(await stack.tags(key), refused);
    assert.equal(stack.lark.stats().requests, 0);
  });

  test("a tag change on an object uploaded to the destination its tags name: skipped, nothing written", async () => {
    const key = "late/same.txt";
    const put = await stack.put(key, "same place", { tags: TO_DOCX });
    await stack.handler(put);
    await setTags(stack, key, { ...TO_DOCX, team: "finance" });
    const from = stack.localS3!.requests.length;
    const result: any = await stack.handler(tagged(put));
    assert.equal(result.objects[0].outcome.reason, "already-uploaded");
    assert.equal(stack.lark.files.length, 1);
    assert.equal(stack.localS3!.requests.slice(from).filter((r) => r.method === "PUT").length, 0);
  });

  test("retagged to another destination: uploaded there once, the earlier upload stays where it is", async () => {
    const key = "late/moved.txt";
    const put = await stack.put(key, "moves", { tags: TO_DOCX });
    await stack.handler(put);
    const first = stack.lark.files[0]!;
    await setTags(stack, key, { ...TO_SHEET_FILE, team: "ops" });
    const result: any = await stack.handler(tagged(put));
    assert.equal(result.objects[0].outcome.kind, "uploaded");
    assert.equal(result.objects[0].outcome.replaces, "docx_file:doxcnTarget01");
    assert.equal(stack.lark.files.length, 2);
    const second = stack.lark.files[1]!;
    assert.deepEqual([second.parentType, second.parentNode], ["sheet_file", "shtcnOther01"]);
    assert.equal(first.parentNode, "doxcnTarget01", "the first upload is untouched");
    const head = await stack.head(key);
    assert.equal(head.Metadata?.["lark-file-token"], second.fileToken);
    assert.equal(head.Metadata?.["lark-target"], "sheet_file:shtcnOther01");
    // The same tagging event again (at least once delivery): nothing more.
    await stack.handler(tagged(put));
    assert.equal(stack.lark.files.length, 2);
  });

  test("retagged with wrong tags after an upload: told on the object, the upload stays", async () => {
    const key = "late/wrong-after.txt";
    const put = await stack.put(key, "fine then wrong", { tags: TO_DOCX });
    await stack.handler(put);
    const token = (await stack.head(key)).Metadata?.["lark-file-token"];
    await setTags(stack, key, { "lark-parent-type": "docx_file" });
    await stack.handler(tagged(put));
    assert.match((await stack.tags(key))["lark-upload-error"]!, /^missing-parent: tag lark-parent-node is missing/);
    assert.equal((await stack.head(key)).Metadata?.["lark-file-token"], token);
  });
});

describe("the function's own writes never start a loop", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(() => stack.close());

  /**
   * Runs the function on `first`, then on every event its own S3 writes cause (a CopyObject announces
   * ObjectCreated:Copy, a PutObjectTagging announces ObjectTagging:Put), until none are left. Returns the
   * number of invocations and the outcome of the last one.
   */
  async function untilQuiet(first: { Records: AwsS3Record[] }, base: AwsS3Record) {
    const copies: { Records: AwsS3Record[] }[] = [];
    stack.localS3!.onObjectCreated((n) => copies.push(n));
    const pending = [first];
    let invocations = 0;
    let last: any;
    while (pending.length) {
      assert.ok(invocations < 10, `still going after ${invocations} invocations: a loop`);
      const event = pending.shift()!;
      copies.length = 0;
      const from = stack.localS3!.requests.length;
      // A failed invocation (Lambda would retry it) still leaves the writes it made.
      last = await stack.handler(event).catch((error: Error) => ({ error }));
      invocations++;
      await sleep(50); // s3rver's events arrive asynchronously
      for (const _ of tagWrites(stack, from)) pending.push(tagged({ Records: [base] }));
      pending.push(...copies.filter((c) => c.Records[0]!.eventName === "ObjectCreated:Copy"));
    }
    return { invocations, last };
  }

  test("an upload: its metadata copy is announced once and ends in a no-op", async () => {
    const put = await stack.put("loop/upload.txt", "u", { tags: TO_DOCX });
    const { invocations, last } = await untilQuiet(put, put.Records[0]!);
    assert.equal(invocations, 2, "the upload, then one no-op for its copy");
    assert.equal(last.objects[0].outcome.reason, "already-uploaded");
  });

  test("a refusal: its error tag is announced once and ends in a no-op", async () => {
    const put = await stack.put("loop/refusal.txt", "r", {
      tags: { "lark-parent-type": "wiki", "lark-parent-node": "n" },
    });
    const { invocations, last } = await untilQuiet(put, put.Records[0]!);
    assert.equal(invocations, 2, "the refusal, then one no-op for its tag write");
    assert.equal(last.objects[0].outcome.kind, "rejected");
  });

  test("a re-route after a retag: its metadata copy ends in a no-op", async () => {
    const put = await stack.put("loop/reroute.txt", "m", { tags: TO_DOCX });
    await stack.handler(put);
    await setTags(stack, "loop/reroute.txt", TO_SHEET_FILE);
    const { invocations, last } = await untilQuiet(tagged(put), put.Records[0]!);
    assert.equal(invocations, 2);
    assert.equal(last.objects[0].outcome.reason, "already-uploaded");
  });

  test("a metadata write that failed: the pending tag, its event, the write, its copy, then quiet; one upload", async () => {
    stack.lark.reset();
    const put = await stack.put("loop/pending.txt", "p", { tags: TO_DOCX });
    stack.localS3!.failRequests((r) => r.method === "PUT" && r.headers["x-amz-copy-source"] !== undefined, 3);
    const { invocations } = await untilQuiet(put, put.Records[0]!);
    assert.equal(stack.lark.files.length, 1, "uploaded once");
    assert.equal(invocations, 3, "the failed write (parks), its tagging event (writes), the copy's no-op");
    assert.equal((await stack.head("loop/pending.txt")).Metadata?.["lark-file-token"], stack.lark.files[0]!.fileToken);
    assert.deepEqual(await stack.tags("loop/pending.txt"), TO_DOCX);
  });
});

describe("a new untagged object is given a moment for its tags (TAG_WAIT_MS)", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({
      env: {
        TAG_WAIT_MS: "2500",
        LARK_DEFAULT_PARENT_TYPE: "docx_file",
        LARK_DEFAULT_PARENT_NODE: "doxcnDefault01",
      },
    });
  });
  after(() => stack.close());
  beforeEach(() => stack.lark.reset());

  test("put, then tagged a moment later: it goes where its tags say, never to the default", async () => {
    const key = "wait/tagged-later.txt";
    const put = await stack.put(key, "tags follow");
    const invocation = stack.handler(put);
    await sleep(300);
    await setTags(stack, key, TO_DOCX);
    const result: any = await invocation;
    assert.equal(result.objects[0].outcome.target, "docx_file:doxcnTarget01");
    assert.deepEqual(
      stack.lark.files.map((f) => f.parentNode),
      ["doxcnTarget01"],
    );
    // The tagging event that follows finds the object done.
    await stack.handler(tagged(put));
    assert.equal(stack.lark.files.length, 1);
  });

  test("put and never tagged: the default once the moment has passed", async () => {
    const put = await stack.put("wait/untagged.txt", "no tags coming");
    const result: any = await stack.handler(put);
    assert.equal(result.objects[0].outcome.target, "docx_file:doxcnDefault01");
  });

  test("an object that is no longer new is not kept waiting (a backfill, a late redelivery)", async () => {
    const put = await stack.put("wait/old.txt", "old");
    await sleep(2600);
    const started = Date.now();
    await stack.handler(put);
    assert.equal(stack.lark.files[0]!.parentNode, "doxcnDefault01");
    assert.ok(Date.now() - started < 2000, "decided at once");
  });

  test("too little time left to wait: handed back untouched, and decided on the retry", async () => {
    const put = await stack.put("wait/short.txt", "short on time");
    const result: any = await stack.handler(sqsEvent([{ messageId: "m", body: put }]), lambdaContext(1500));
    assert.deepEqual(result, { batchItemFailures: [{ itemIdentifier: "m" }] });
    assert.equal(stack.lark.stats().requests, 0);
    assert.deepEqual(await stack.tags("wait/short.txt"), {}, "no error tag for running out of time");
    await sleep(2600);
    assert.deepEqual(await stack.handler(sqsEvent([{ messageId: "m", body: put }])), { batchItemFailures: [] });
    assert.equal(stack.lark.files.length, 1);
  });
});

describe("without a default, late tags never meet an error tag", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ env: { TAG_WAIT_MS: "2500" } });
  });
  after(() => stack.close());

  test("put, tagged a moment later: uploaded, no refusal ever written", async () => {
    const key = "wait/no-default.txt";
    const put = await stack.put(key, "x");
    const from = stack.localS3!.requests.length;
    const invocation = stack.handler(put);
    await sleep(300);
    await setTags(stack, key, TO_DOCX);
    const result: any = await invocation;
    assert.equal(result.objects[0].outcome.kind, "uploaded");
    // The only tag write is the test's own.
    assert.equal(tagWrites(stack, from).length, 1);
    assert.deepEqual(await stack.tags(key), TO_DOCX);
  });
});

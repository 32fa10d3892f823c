// The docx client against the emulator over HTTP, through the function's own Lark stack: an image or a file
// appended at the end of a document and bound, client_token replays, removal (even while someone edits the
// document), Lark's refusals as the object would be tagged, transient faults retried, and Lark's limits kept
// under a burst.

import assert from "node:assert/strict";
import { describe, type TestContext, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { newCounter } from "../lib/lark/client";
import { LarkDocx } from "../lib/lark/docx";
import { LarkHttp } from "../lib/lark/http";
import type { LarkEmulatorOptions } from "../local/lark-emulator";
import { assertLark, call, tenantToken } from "./support/emulator";
import { clientOver, type LarkRig, rejection, startLark, THROTTLED } from "./support/lark";

const DOC = "doxcnClientDoc000000000001";
const OTHER = "doxcnClientDoc000000000002";
const TIME_SCALE = 0.02; // Lark's 1 s windows last 20 ms

async function withDocument(t: TestContext, opts: LarkEmulatorOptions = {}) {
  const rig = await startLark(t, { timeScale: TIME_SCALE, ...opts });
  rig.emu.addDocument(DOC, { title: "Inbox" });
  return { ...rig, docx: new LarkDocx(rig.client, rig.limits) };
}

const rootChildren = (rig: LarkRig, documentId = DOC) =>
  rig.emu.documents.get(documentId)!.blocks.get(documentId)!.children;
const blockOf = (rig: LarkRig, blockId: string, documentId = DOC) =>
  rig.emu.documents.get(documentId)!.blocks.get(blockId)!;

/** A paragraph someone typed, straight through the API (not through our client or its pacers). */
async function typeParagraph(rig: LarkRig, index: number, content: string): Promise<string> {
  const token = await tenantToken(rig.emu);
  for (;;) {
    const answer = await call(rig.emu, "POST", `/open-apis/docx/v1/documents/${DOC}/blocks/${DOC}/children`, {
      token,
      body: { index, children: [{ block_type: 2, text: { elements: [{ text_run: { content } }] } }] },
    });
    if (answer.json.code === THROTTLED) {
      await sleep(Number(answer.headers["x-ogw-ratelimit-reset"]) * 1000);
      continue;
    }
    assertLark(answer, 200, 0);
    return answer.json.data.children[0].block_id;
  }
}

describe("placing media in a document", () => {
  test("image: an Image block at the end, the upload into it, replace_image with the size", async (t) => {
    const rig = await withDocument(t);
    const paragraph = await typeParagraph(rig, 0, "before");
    const counter = newCounter();
    const placed = await rig.docx.appendBlock(DOC, "image", "token-image-1", rig.retry(), counter);
    assert.equal(placed.blockId, placed.topBlockId, "an Image block sits directly under the root");
    assert.deepEqual(rootChildren(rig), [paragraph, placed.blockId], "appended at the end");
    assert.deepEqual(blockOf(rig, placed.blockId).payload, { width: 100, height: 100, token: "" });

    const fileToken = await rig.upload({ parentType: "docx_image", parentNode: placed.blockId, driveRouteToken: DOC });
    await rig.docx.replaceImage(DOC, placed.blockId, fileToken, { width: 640, height: 480 }, rig.retry(), counter);
    assert.deepEqual(blockOf(rig, placed.blockId).payload, { width: 640, height: 480, token: fileToken });
    assert.equal(counter.calls, 2, "one call each, nothing retried");
    const view = rig.emu.state().documents.find((d) => d.documentId === DOC)!;
    assert.equal(view.revisionId, 4, "three edits: the paragraph, the block, the image");
  });

  test("image without a size keeps the block's own", async (t) => {
    const rig = await withDocument(t);
    const placed = await rig.docx.appendBlock(DOC, "image", "token-image-2", rig.retry());
    const fileToken = await rig.upload({ parentType: "docx_image", parentNode: placed.blockId, driveRouteToken: DOC });
    await rig.docx.replaceImage(DOC, placed.blockId, fileToken, undefined, rig.retry());
    assert.deepEqual(blockOf(rig, placed.blockId).payload, { width: 100, height: 100, token: fileToken });
  });

  test("file: the View block under the root, the File block inside it takes the upload and replace_file", async (t) => {
    const rig = await withDocument(t);
    const placed = await rig.docx.appendBlock(DOC, "file", "token-file-1", rig.retry());
    assert.notEqual(placed.blockId, placed.topBlockId);
    assert.deepEqual(rootChildren(rig), [placed.topBlockId]);
    assert.equal(blockOf(rig, placed.topBlockId).blockType, 33);
    assert.equal(blockOf(rig, placed.blockId).blockType, 23);
    assert.equal(blockOf(rig, placed.blockId).parentId, placed.topBlockId);

    const fileToken = await rig.upload({
      parentType: "docx_file",
      parentNode: placed.blockId,
      driveRouteToken: DOC,
      name: "report.pdf",
    });
    await rig.docx.replaceFile(DOC, placed.blockId, fileToken, rig.retry());
    assert.deepEqual(blockOf(rig, placed.blockId).payload, { token: fileToken, name: "report.pdf" });
  });

  test("the same client_token answers the same block and adds nothing; another token adds another", async (t) => {
    const rig = await withDocument(t);
    const first = await rig.docx.appendBlock(DOC, "file", "token-replay", rig.retry());
    const again = await rig.docx.appendBlock(DOC, "file", "token-replay", rig.retry());
    assert.deepEqual(again, first);
    assert.deepEqual(rootChildren(rig), [first.topBlockId]);
    const other = await rig.docx.appendBlock(DOC, "file", "token-other", rig.retry());
    assert.notEqual(other.blockId, first.blockId);
    assert.deepEqual(rootChildren(rig), [first.topBlockId, other.topBlockId]);
  });
});

describe("removing a block", () => {
  test("removeBlock takes the block (a File with its View) out and leaves everything else; gone is not an error", async (t) => {
    const rig = await withDocument(t);
    const before = await typeParagraph(rig, 0, "keep me");
    const image = await rig.docx.appendBlock(DOC, "image", "token-remove-image", rig.retry());
    const file = await rig.docx.appendBlock(DOC, "file", "token-remove-file", rig.retry());
    const after = await typeParagraph(rig, 3, "keep me too");

    await rig.docx.removeBlock(DOC, file.topBlockId, rig.retry());
    assert.deepEqual(rootChildren(rig), [before, image.topBlockId, after]);
    assert.ok(blockOf(rig, file.topBlockId).deleted && blockOf(rig, file.blockId).deleted);
    await rig.docx.removeBlock(DOC, image.topBlockId, rig.retry());
    assert.deepEqual(rootChildren(rig), [before, after]);

    await rig.docx.removeBlock(DOC, image.topBlockId, rig.retry()); // already gone
    rig.emu.removeDocument(DOC);
    await rig.docx.removeBlock(DOC, file.topBlockId, rig.retry()); // the whole document is gone
  });

  test("someone inserting a paragraph between our read and our delete does not lose it", async (t) => {
    const rig = await withDocument(t);
    const first = await typeParagraph(rig, 0, "first");
    const ours = await rig.docx.appendBlock(DOC, "image", "token-race", rig.retry());
    let typed: string | undefined;
    // A transport that, once our read of the root has its answer, lets a user insert a paragraph at the top.
    class TypingUser extends LarkHttp {
      override async send(...args: Parameters<LarkHttp["send"]>) {
        const reply = await super.send(...args);
        if (!typed && args[0].method === "GET" && args[0].path.endsWith(`/blocks/${DOC}`)) {
          typed = await typeParagraph(rig, 0, "typed meanwhile");
        }
        return reply;
      }
    }
    const docx = new LarkDocx(clientOver(rig.emu, new TypingUser(rig.emu.url, 5_000)), rig.limits);

    await docx.removeBlock(DOC, ours.topBlockId, rig.retry());
    assert.ok(typed);
    assert.deepEqual(rootChildren(rig), [typed, first], "both paragraphs kept, our block gone");
    assert.ok(blockOf(rig, ours.topBlockId).deleted);
    assert.equal(rig.answered(1770021), 1, "Lark refused the delete at the stale revision once");
  });

  test("blockExists: a live block yes; a removed one, an unknown one, one of a removed document no", async (t) => {
    const rig = await withDocument(t);
    const placed = await rig.docx.appendBlock(DOC, "file", "token-exists", rig.retry());
    assert.equal(await rig.docx.blockExists(DOC, placed.blockId, rig.retry()), true);
    assert.equal(await rig.docx.blockExists(DOC, placed.topBlockId, rig.retry()), true);
    await rig.docx.removeBlock(DOC, placed.topBlockId, rig.retry());
    assert.equal(await rig.docx.blockExists(DOC, placed.blockId, rig.retry()), false);

    // The replay of a removed block's client_token answers that block: blockExists tells the caller.
    const replay = await rig.docx.appendBlock(DOC, "file", "token-exists", rig.retry());
    assert.deepEqual(replay, placed);
    assert.equal(await rig.docx.blockExists(DOC, replay.blockId, rig.retry()), false);

    assert.equal(await rig.docx.blockExists(DOC, "doxcnNeverThere0000000000", rig.retry()), false);
    rig.emu.addDocument(OTHER);
    const elsewhere = await rig.docx.appendBlock(OTHER, "image", "token-elsewhere", rig.retry());
    assert.equal(await rig.docx.blockExists(DOC, elsewhere.blockId, rig.retry()), false, "a block of another document");
    rig.emu.removeDocument(OTHER);
    assert.equal(await rig.docx.blockExists(OTHER, elsewhere.blockId, rig.retry()), false);
  });
});

describe("Lark's answers", () => {
  test("permanent refusals surface as RejectionError with Lark's code: 1770002, 1770032, 1770013", async (t) => {
    const rig = await withDocument(t);
    const gone = await rejection(rig.docx.appendBlock("doxcnNoSuchDocument0000000", "image", "t1", rig.retry()));
    assert.equal(gone.larkCode, 1770002);
    assert.equal(gone.code, "lark-1770002");

    rig.emu.addDocument(OTHER, { editable: false });
    const forbidden = await rejection(rig.docx.appendBlock(OTHER, "image", "t2", rig.retry()));
    assert.equal(forbidden.larkCode, 1770032);
    assert.deepEqual(rootChildren(rig, OTHER), []);

    // A token uploaded into another block is not this block's image.
    const a = await rig.docx.appendBlock(DOC, "image", "t3", rig.retry());
    const b = await rig.docx.appendBlock(DOC, "image", "t4", rig.retry());
    const intoB = await rig.upload({ parentType: "docx_image", parentNode: b.blockId, driveRouteToken: DOC });
    const mismatch = await rejection(rig.docx.replaceImage(DOC, a.blockId, intoB, undefined, rig.retry()));
    assert.equal(mismatch.larkCode, 1770013);
    assert.equal(blockOf(rig, a.blockId).payload.token, "");
  });

  test("transient faults are retried: a rate refusal with its reset, HTTP 503, a docx internal error", async (t) => {
    const rig = await withDocument(t);
    rig.emu.injectFault({ path: "docx.documentBlockChildren.create", fault: { kind: "code", code: THROTTLED } });
    rig.emu.injectFault({ path: "docx.documentBlockChildren.create", fault: { kind: "http", status: 503 } });
    rig.emu.injectFault({ path: "docx.documentBlockChildren.create", fault: { kind: "code", code: 1771001 } });
    const counter = newCounter();
    const placed = await rig.docx.appendBlock(DOC, "image", "token-faults", rig.retry(), counter);
    assert.equal(counter.calls, 4);
    assert.deepEqual(rootChildren(rig), [placed.topBlockId], "one block, whatever the retries");

    const reset = 300; // ms; the emulator's own header would be one scaled window
    rig.emu.injectFault({
      path: "docx.documentBlock.patch",
      fault: { kind: "code", code: THROTTLED, headers: { "x-ogw-ratelimit-reset": String(reset / 1000) } },
    });
    const fileToken = await rig.upload({ parentType: "docx_image", parentNode: placed.blockId, driveRouteToken: DOC });
    const started = Date.now();
    await rig.docx.replaceImage(DOC, placed.blockId, fileToken, undefined, rig.retry());
    assert.ok(Date.now() - started >= reset, "the retry waited for the reset Lark asked for");
    assert.equal(blockOf(rig, placed.blockId).payload.token, fileToken);
    // The pause held the document's other edits too.
    const pausedAt = Date.now();
    rig.emu.injectFault({
      path: "docx.documentBlockChildren.create",
      fault: { kind: "code", code: THROTTLED, headers: { "x-ogw-ratelimit-reset": String(reset / 1000) } },
    });
    const appending = rig.docx.appendBlock(DOC, "image", "token-paused", rig.retry());
    await sleep(50);
    const removed = rig.docx.removeBlock(DOC, placed.topBlockId, rig.retry()).then(() => Date.now());
    await appending;
    assert.ok((await removed) - pausedAt >= reset, "the removal waited for the document's pause");
    assert.equal(rig.answered(THROTTLED), 3, "only the injected refusals");
  });
});

describe("Lark's limits under a burst", () => {
  test("50 appends into one document at once: 3 edits a window per document, no refusal", async (t) => {
    const rig = await withDocument(t);
    const started = Date.now();
    const counter = newCounter();
    const placed = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        rig.docx.appendBlock(DOC, i % 2 ? "image" : "file", `burst-${i}`, rig.retry({ maxAttempts: 1 }), counter),
      ),
    );
    assert.equal(counter.calls, 50, "no call was refused, so none was retried");
    assert.equal(rig.answered(THROTTLED), 0);
    assert.deepEqual(
      rootChildren(rig),
      placed.map((p) => p.topBlockId),
      "in the order they were asked for",
    );
    assert.ok(Date.now() - started >= 16 * 1000 * TIME_SCALE, "paced: 50 edits need 16 full windows");
  });

  test("appends, binds and removals in three documents at once: per-app and per-document rules hold", async (t) => {
    const rig = await withDocument(t);
    const docs = [DOC, "doxcnClientDoc000000000003", "doxcnClientDoc000000000004"];
    for (const doc of docs.slice(1)) rig.emu.addDocument(doc);
    const once = rig.retry({ maxAttempts: 1 });
    await Promise.all(
      docs.flatMap((doc) =>
        Array.from({ length: 6 }, async (_, i) => {
          const placed = await rig.docx.appendBlock(doc, "image", `mixed-${doc}-${i}`, once);
          const fileToken = await rig.upload({
            parentType: "docx_image",
            parentNode: placed.blockId,
            driveRouteToken: doc,
          });
          await rig.docx.replaceImage(doc, placed.blockId, fileToken, { width: 20 + i, height: 20 }, once);
          if (i % 2) await rig.docx.removeBlock(doc, placed.topBlockId, once);
        }),
      ),
    );
    assert.equal(rig.answered(THROTTLED), 0);
    assert.equal(rig.emu.stats().rateViolations + rig.emu.stats().concurrencyViolations, 0, "media rules too");
    for (const doc of docs) assert.equal(rootChildren(rig, doc).length, 3, doc);
  });
});

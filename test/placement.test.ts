/**
 * The file shows up where people look: appended to a docx document (an Image block for images, a File block
 * otherwise), as a record in a base, as a floating image in a sheet. End to end through the real handler,
 * s3rver and the Lark emulator; exactly one block, record or image in the end, whatever fails on the way.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, beforeEach, describe, test } from "node:test";
import type { Fault } from "../local/lark-emulator";
import { otherEvent, sqsEvent } from "./support/envelopes";
import { type Stack, startStack } from "./support/stack";

const DOC = "doxcnPlace01";
const BASE = "bascnPlace01";
const TABLE = "tblPlace01";
const SHEET_TOKEN = "shtcnPlace01";
const SHEET = "0b12cd";
const image = (name: string) => readFileSync(new URL(`./fixtures/images/${name}`, import.meta.url));
const PNG = image("wide-3000x17.png");
const JPEG = image("rotated.jpg");
const PDF = Buffer.from("%PDF-1.4\n% a small but honest PDF header\n%%EOF\n");

let stack: Stack;
before(async () => {
  stack = await startStack();
});
after(() => stack.close());
beforeEach(() => {
  stack.lark.reset();
  stack.logs.length = 0;
  stack.lark.addDocument(DOC, { title: "Reports" });
  stack.lark.addBase(BASE, {
    tables: [
      {
        tableId: TABLE,
        fields: [
          { name: "Name", type: 1 },
          { name: "Attachment", type: 17 },
          { name: "Scans", type: 17 },
        ],
      },
    ],
  });
  stack.lark.addSpreadsheet(SHEET_TOKEN, { sheets: [{ sheetId: SHEET }] });
});

let n = 0;
async function drop(
  target: string,
  body: Buffer,
  opts: { name?: string; contentType?: string; tags?: Record<string, string> } = {},
) {
  const key = `place/${++n}-${opts.name ?? "file.bin"}`;
  const event = await stack.put(key, body, {
    tags: { "lark-target": target, ...opts.tags },
    ...(opts.contentType !== undefined ? { ContentType: opts.contentType } : {}),
  });
  return { key, event };
}

/** The blocks directly under the document's root, in order, with what they hold. */
function topBlocks(documentId = DOC) {
  const doc = stack.lark.documents.get(documentId)!;
  const root = doc.blocks.get(documentId)!;
  return root.children.map((id) => doc.blocks.get(id)!);
}
const childOf = (documentId: string, blockId: string) => {
  const doc = stack.lark.documents.get(documentId)!;
  return doc.blocks.get(doc.blocks.get(blockId)!.children[0]!)!;
};
const records = () => [...stack.lark.bases.get(BASE)!.tables.get(TABLE)!.records.values()];
const floatImages = () => [...stack.lark.spreadsheets.get(SHEET_TOKEN)!.sheets.get(SHEET)!.floatImages.values()];
const fault = (code: number, httpStatus = 400): Fault => ({ kind: "code", code, httpStatus });

describe("docx: appended to the end of the document", () => {
  test("an image (by Content-Type) becomes an Image block at its real size, holding the written token", async () => {
    const { key, event } = await drop(`docx:${DOC}`, PNG, { name: "chart.png", contentType: "image/png" });
    const result: any = await stack.handler(event);
    assert.equal(result.objects[0].outcome.kind, "uploaded");
    const [block] = topBlocks();
    assert.equal(topBlocks().length, 1);
    assert.equal(block!.blockType, 27);
    const upload = stack.lark.files[0]!;
    assert.deepEqual(
      [upload.parentType, upload.parentNode, upload.extra],
      ["docx_image", block!.blockId, JSON.stringify({ drive_route_token: DOC })],
    );
    assert.equal(block!.payload.token, upload.fileToken);
    assert.deepEqual([block!.payload.width, block!.payload.height], [3000, 17], "not the 100×100 default");
    const head = await stack.head(key);
    assert.equal(head.Metadata?.["lark-file-token"], upload.fileToken);
    assert.equal(head.Metadata?.["lark-block-id"], block!.blockId);
    assert.equal(head.Metadata?.["lark-target"], `docx:${DOC}`);
  });

  test("an image by its extension when the Content-Type is generic (.JPG, binary/octet-stream)", async () => {
    const { event } = await drop(`docx:${DOC}`, JPEG, { name: "PHOTO.JPG", contentType: "binary/octet-stream" });
    await stack.handler(event);
    assert.equal(topBlocks()[0]!.blockType, 27);
    assert.equal(stack.lark.files[0]!.parentType, "docx_image");
    assert.deepEqual(
      [topBlocks()[0]!.payload.width, topBlocks()[0]!.payload.height],
      [300, 400],
      "as shown, EXIF-turned",
    );
  });

  test("anything else becomes a File block inside its View block; the File block is written back", async () => {
    const { key, event } = await drop(`docx:${DOC}`, PDF, { name: "report.pdf", contentType: "application/pdf" });
    await stack.handler(event);
    const [view] = topBlocks();
    assert.equal(view!.blockType, 33);
    const file = childOf(DOC, view!.blockId);
    assert.equal(file.blockType, 23);
    assert.equal(file.payload.token, stack.lark.files[0]!.fileToken);
    assert.equal(stack.lark.files[0]!.parentType, "docx_file");
    assert.equal((await stack.head(key)).Metadata?.["lark-block-id"], file.blockId);
  });

  test("files land in the order they came, each at the end", async () => {
    for (const name of ["1.png", "2.pdf", "3.png"]) {
      const { event } = await drop(`docx:${DOC}`, name.endsWith(".png") ? PNG : PDF, { name });
      await stack.handler(event);
    }
    assert.deepEqual(
      topBlocks().map((b) => b.blockType),
      [27, 33, 27],
    );
  });

  for (const [step, endpoint, code] of [
    ["creating the block and uploading", "upload_all", 1061001],
    ["uploading and binding", "docx.documentBlock.patch", 1771001],
  ] as const) {
    test(`a crash between ${step}, then Lambda's retry: one block, holding the token written back`, async () => {
      const { key, event } = await drop(`docx:${DOC}`, PNG, { name: "retry.png" });
      // Lark's transient answer for as long as the invocation keeps trying: it fails, the retry comes later.
      stack.lark.injectFault({ fault: fault(code, 500), path: endpoint, times: 100 });
      await assert.rejects(stack.handler(event));
      stack.lark.clearFaults();
      await stack.handler(event);
      assert.equal(topBlocks().length, 1);
      const token = (await stack.head(key)).Metadata?.["lark-file-token"];
      assert.equal(topBlocks()[0]!.payload.token, token);
    });
  }

  test("a crash between binding and the metadata write: the retry writes, without any Lark call", async () => {
    const { key, event } = await drop(`docx:${DOC}`, PNG, { name: "park.png" });
    stack.localS3!.failRequests((r) => r.method === "PUT" && r.headers["x-amz-copy-source"] !== undefined, 3);
    await assert.rejects(stack.handler(event));
    const block = topBlocks()[0]!;
    assert.match((await stack.tags(key))["lark-pending-metadata"]!, new RegExp(`lark-block-id=${block.blockId}`));
    const calls = stack.lark.requests.length;
    await stack.handler(event);
    assert.equal(stack.lark.requests.length, calls, "no upload call");
    const head = await stack.head(key);
    assert.equal(head.Metadata?.["lark-block-id"], block.blockId);
    assert.equal(head.Metadata?.["lark-file-token"], block.payload.token);
    assert.equal(topBlocks().length, 1);
  });

  test("Lark refusing the upload for good after the block exists: the block is removed, the object told", async () => {
    const { key, event } = await drop(`docx:${DOC}`, PNG, { name: "refused.png" });
    stack.lark.injectFault({ fault: fault(1061113), path: "upload_all" });
    const result: any = await stack.handler(event);
    assert.equal(result.objects[0].outcome.code, "lark-1061113");
    assert.deepEqual(topBlocks(), [], "no empty image frame is left");
    assert.match((await stack.tags(key))["lark-upload-error"]!, /^lark-1061113: /);
    // Fixed and decided again (a tag change): a new block, not the removed one handed back.
    await stack.handler(otherEvent(event.Records[0]!, "ObjectTagging:Put"));
    assert.equal(topBlocks().length, 1);
    assert.equal(topBlocks()[0]!.payload.token, (await stack.head(key)).Metadata?.["lark-file-token"]);
  });

  test("a document that does not exist: lark-1770002, nothing uploaded", async () => {
    const { key, event } = await drop("docx:doxcnNoSuchDoc", PNG, { name: "nowhere.png" });
    await stack.handler(event);
    assert.match((await stack.tags(key))["lark-upload-error"]!, /^lark-1770002: /);
    assert.equal(stack.lark.files.length, 0);
  });

  test("a document not shared with the app: lark-1770032", async () => {
    stack.lark.addDocument("doxcnPrivate01", { editable: false });
    const { key, event } = await drop("docx:doxcnPrivate01", PNG, { name: "private.png" });
    await stack.handler(event);
    assert.match((await stack.tags(key))["lark-upload-error"]!, /^lark-1770032: /);
    assert.equal(stack.lark.files.length, 0);
  });
});

describe("docx: a burst", () => {
  test("50 images into one document: 50 blocks in order, each holding its object's token, no limit broken", async () => {
    // Lark's windows at a tenth of a second, in the emulator and the function's pacers alike.
    const fast = await startStack({ timeScale: 0.1 });
    try {
      fast.lark.addDocument(DOC);
      const puts = [];
      for (let i = 0; i < 50; i++) {
        puts.push(
          await fast.put(`burst/${String(i).padStart(2, "0")}.png`, PNG, { tags: { "lark-target": `docx:${DOC}` } }),
        );
      }
      for (let i = 0; i < 50; i += 10) {
        const batch = sqsEvent(puts.slice(i, i + 10).map((body, j) => ({ messageId: `m${i + j}`, body })));
        assert.deepEqual(await fast.handler(batch), { batchItemFailures: [] });
      }
      assert.deepEqual(fast.lark.stats().limitViolations, {}, "no rate or concurrency rule of Lark's was broken");
      const doc = fast.lark.documents.get(DOC)!;
      const blocks = doc.blocks.get(DOC)!.children.map((id) => doc.blocks.get(id)!);
      assert.equal(blocks.length, 50);
      for (let i = 0; i < 50; i++) {
        const head = await fast.head(`burst/${String(i).padStart(2, "0")}.png`);
        assert.equal(head.Metadata?.["lark-block-id"], blocks[i]!.blockId, `file ${i} is block ${i}`);
        assert.equal(blocks[i]!.payload.token, head.Metadata?.["lark-file-token"]);
      }
    } finally {
      await fast.close();
    }
  });
});

describe("base: a new record whose attachment field holds the file", () => {
  test("the record's field holds exactly the token written back; images go as bitable_image", async () => {
    const { key, event } = await drop(`base:${BASE}/${TABLE}`, PNG, { name: "scan.png" });
    await stack.handler(event);
    assert.equal(records().length, 1);
    const [record] = records();
    const cell = record!.fields.Attachment as { file_token: string }[];
    assert.deepEqual(
      cell.map((a) => a.file_token),
      [stack.lark.files[0]!.fileToken],
    );
    assert.deepEqual([stack.lark.files[0]!.parentType, stack.lark.files[0]!.parentNode], ["bitable_image", BASE]);
    const head = await stack.head(key);
    assert.equal(head.Metadata?.["lark-record-id"], record!.recordId);
    assert.equal(head.Metadata?.["lark-file-token"], cell[0]!.file_token);
  });

  test("the field named by lark-base-field; a document as bitable_file", async () => {
    const { event } = await drop(`base:${BASE}/${TABLE}`, PDF, {
      name: "scan.pdf",
      tags: { "lark-base-field": "Scans" },
    });
    await stack.handler(event);
    assert.deepEqual(Object.keys(records()[0]!.fields), ["Scans"]);
    assert.equal(stack.lark.files[0]!.parentType, "bitable_file");
  });

  test("a crash between creating the record and uploading, then the retry: one record", async () => {
    const { key, event } = await drop(`base:${BASE}/${TABLE}`, PDF, { name: "early.pdf" });
    stack.lark.injectFault({ fault: fault(1061001, 500), path: "upload_all", times: 100 });
    await assert.rejects(stack.handler(event));
    assert.equal(records().length, 1, "the empty record the crash left");
    stack.lark.clearFaults();
    await stack.handler(event);
    assert.equal(records().length, 1, "found again through its client_token, not made twice");
    assert.equal(
      (records()[0]!.fields.Attachment as { file_token: string }[])[0]!.file_token,
      (await stack.head(key)).Metadata?.["lark-file-token"],
    );
  });

  test("a crash between creating the record and setting its field, then the retry: one record", async () => {
    const { key, event } = await drop(`base:${BASE}/${TABLE}`, PDF, { name: "crash.pdf" });
    stack.lark.injectFault({ fault: fault(1254607, 200), path: "bitable.appTableRecord.update", times: 100 });
    await assert.rejects(stack.handler(event));
    stack.lark.clearFaults();
    await stack.handler(event);
    assert.equal(records().length, 1);
    assert.equal(
      (records()[0]!.fields.Attachment as { file_token: string }[])[0]!.file_token,
      (await stack.head(key)).Metadata?.["lark-file-token"],
    );
  });

  test("no such field: lark-1254045, and the empty record is deleted again", async () => {
    const { key, event } = await drop(`base:${BASE}/${TABLE}`, PDF, {
      name: "nofield.pdf",
      tags: { "lark-base-field": "Nope" },
    });
    await stack.handler(event);
    assert.match((await stack.tags(key))["lark-upload-error"]!, /^lark-1254045: /);
    assert.deepEqual(records(), []);
  });

  test("a base the app may not write: lark-1254302, nothing created", async () => {
    stack.lark.addBase("bascnLocked01", {
      tables: [{ tableId: TABLE, fields: [{ name: "Attachment", type: 17 }] }],
      editable: false,
    });
    const { key, event } = await drop(`base:bascnLocked01/${TABLE}`, PDF, { name: "locked.pdf" });
    await stack.handler(event);
    assert.match((await stack.tags(key))["lark-upload-error"]!, /^lark-1254302: /);
    assert.equal(stack.lark.files.length, 0);
  });
});

describe("sheet: a floating image anchored at a cell", () => {
  test("an image at C3, at its real size, holding the token written back", async () => {
    const { key, event } = await drop(`sheet:${SHEET_TOKEN}/${SHEET}/c3`, PNG, { name: "chart.png" });
    await stack.handler(event);
    const [floating] = floatImages();
    assert.equal(floatImages().length, 1);
    assert.equal(floating!.range, `${SHEET}!C3:C3`);
    assert.deepEqual(
      [floating!.width, floating!.height],
      [3529, 20],
      "its own size, scaled up to Lark's 20 px minimum side",
    );
    const head = await stack.head(key);
    assert.equal(head.Metadata?.["lark-float-image-id"], floating!.floatImageId);
    assert.equal(head.Metadata?.["lark-file-token"], floating!.token);
    assert.equal(head.Metadata?.["lark-target"], `sheet:${SHEET_TOKEN}/${SHEET}/C3`);
    assert.deepEqual([stack.lark.files[0]!.parentType, stack.lark.files[0]!.parentNode], ["sheet_image", SHEET_TOKEN]);
  });

  test("a file that is not an image: not-an-image, before any Lark call", async () => {
    const { key, event } = await drop(`sheet:${SHEET_TOKEN}/${SHEET}/A1`, PDF, {
      name: "table.pdf",
      contentType: "application/pdf",
    });
    await stack.handler(event);
    assert.match((await stack.tags(key))["lark-upload-error"]!, /^not-an-image: /);
    assert.equal(stack.lark.stats().requests, 0);
  });

  test("a crash between uploading and placing, then the retry: one floating image", async () => {
    const { key, event } = await drop(`sheet:${SHEET_TOKEN}/${SHEET}/D4`, PNG, { name: "between.png" });
    stack.lark.injectFault({
      fault: fault(1310235, 200),
      path: "sheets.spreadsheetSheetFloatImage.create",
      times: 100,
    });
    await assert.rejects(stack.handler(event));
    assert.equal(floatImages().length, 0);
    stack.lark.clearFaults();
    await stack.handler(event);
    assert.equal(floatImages().length, 1);
    assert.equal((await stack.head(key)).Metadata?.["lark-file-token"], floatImages()[0]!.token);
  });

  test("a crash after the image was placed: the retry finds it and writes back the token it shows", async () => {
    const { key, event } = await drop(`sheet:${SHEET_TOKEN}/${SHEET}/B2`, PNG, { name: "again.png" });
    stack.localS3!.failRequests((r) => r.method === "PUT" && r.headers["x-amz-copy-source"] !== undefined, 3);
    stack.localS3!.failRequests((r) => r.method === "PUT" && /[?&]tagging/.test(r.url), 3);
    await assert.rejects(stack.handler(event));
    const shown = floatImages()[0]!.token;
    await stack.handler(event);
    assert.equal(floatImages().length, 1);
    assert.equal((await stack.head(key)).Metadata?.["lark-file-token"], shown);
  });

  test("a spreadsheet that does not exist: refused by the upload, lark-1061044", async () => {
    const { key, event } = await drop(`sheet:shtcnNoSuch01/${SHEET}/A1`, PNG, { name: "x.png" });
    await stack.handler(event);
    assert.match((await stack.tags(key))["lark-upload-error"]!, /^lark-1061044: /);
  });
});

describe("targets", () => {
  for (const value of [
    "docx:",
    "base:bascn1",
    "sheet:shtcn1/0b12cd",
    "sheet:shtcn1/0b12cd/3C",
    "wiki:abc",
    "docx:a b",
  ]) {
    test(`lark-target ${JSON.stringify(value)} is refused as invalid-target before any Lark call`, async () => {
      const { key, event } = await drop(value, PNG, { name: "bad.png" });
      await stack.handler(event);
      assert.match((await stack.tags(key))["lark-upload-error"]!, /^invalid-target: /);
      assert.equal(stack.lark.stats().requests, 0);
    });
  }

  test("retagged from a document to a base: placed in the base too, the block stays", async () => {
    const { key, event } = await drop(`docx:${DOC}`, PNG, { name: "move.png" });
    await stack.handler(event);
    await stack.s3.send(
      new (await import("@aws-sdk/client-s3")).PutObjectTaggingCommand({
        Bucket: stack.bucket,
        Key: key,
        Tagging: { TagSet: [{ Key: "lark-target", Value: `base:${BASE}/${TABLE}` }] },
      }),
    );
    const result: any = await stack.handler(otherEvent(event.Records[0]!, "ObjectTagging:Put"));
    assert.equal(result.objects[0].outcome.replaces, `docx:${DOC}`);
    assert.equal(topBlocks().length, 1, "the earlier placement is left as it is");
    assert.equal(records().length, 1);
    const head = await stack.head(key);
    assert.equal(head.Metadata?.["lark-target"], `base:${BASE}/${TABLE}`);
    assert.equal(head.Metadata?.["lark-record-id"], records()[0]!.recordId);
    assert.equal(head.Metadata?.["lark-block-id"], undefined, "the metadata describes the new placement only");
  });
});

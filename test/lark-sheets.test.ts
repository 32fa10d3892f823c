// The sheets client against the emulator over HTTP, through the function's own Lark stack: a floating image at a
// cell, an id an earlier attempt already placed (the image shown is answered), sizes Lark would refuse, Lark's
// refusals, transient faults retried, and the per-app rule kept under a burst.

import assert from "node:assert/strict";
import { describe, type TestContext, test } from "node:test";
import { newCounter } from "../lib/lark/client";
import { floatImageId, LarkSheets } from "../lib/lark/sheets";
import type { LarkEmulatorOptions } from "../local/lark-emulator";
import { type LarkRig, rejection, startLark, THROTTLED } from "./support/lark";

const SPREADSHEET = "shtcnClientSheet0000000001";
const SHEET = "a1b2c3";
const TIME_SCALE = 0.002; // Lark's one-minute window lasts 120 ms

async function withSpreadsheet(t: TestContext, opts: LarkEmulatorOptions = {}) {
  const rig = await startLark(t, { timeScale: TIME_SCALE, ...opts });
  rig.emu.addSpreadsheet(SPREADSHEET, { sheets: [{ sheetId: SHEET }] });
  return { ...rig, sheets: new LarkSheets(rig.client, rig.limits) };
}

const imagesOf = (rig: LarkRig) => rig.emu.spreadsheets.get(SPREADSHEET)!.sheets.get(SHEET)!.floatImages;
const uploadImage = (rig: LarkRig, spreadsheet = SPREADSHEET) =>
  rig.upload({ parentType: "sheet_image", parentNode: spreadsheet });

describe("floatImageId", () => {
  test("10 characters of [0-9a-zA-Z], the same for the same seed, another for another", () => {
    const id = floatImageId("bucket/key@etag");
    assert.match(id, /^[0-9a-zA-Z]{10}$/);
    assert.equal(floatImageId("bucket/key@etag"), id);
    const many = Array.from({ length: 1000 }, (_, i) => floatImageId(`seed ${i}`));
    assert.equal(new Set(many).size, 1000);
    for (const other of many) assert.match(other, /^[0-9a-zA-Z]{10}$/);
    const used = new Set(many.join(""));
    assert.ok(used.size > 55, `most of the alphabet is used (${used.size} characters)`);
  });
});

describe("a floating image", () => {
  test("placed at its cell, with its size; the answer is the image Lark holds", async (t) => {
    const rig = await withSpreadsheet(t);
    const fileToken = await uploadImage(rig);
    const id = floatImageId("photo");
    const counter = newCounter();
    const placed = await rig.sheets.placeFloatImage(
      SPREADSHEET,
      SHEET,
      { floatImageId: id, fileToken, cell: "C3", width: 640, height: 480 },
      rig.retry(),
      counter,
    );
    assert.deepEqual(placed, { floatImageId: id, fileToken });
    assert.deepEqual(imagesOf(rig).get(id), {
      floatImageId: id,
      token: fileToken,
      range: `${SHEET}!C3:C3`,
      width: 640,
      height: 480,
      offsetX: 0,
      offsetY: 0,
    });
    assert.equal(counter.calls, 1);
  });

  test("an id an earlier attempt placed: nothing new, the answer is the token that image shows", async (t) => {
    const rig = await withSpreadsheet(t);
    const id = floatImageId("retried");
    const earlier = await uploadImage(rig);
    await rig.sheets.placeFloatImage(
      SPREADSHEET,
      SHEET,
      { floatImageId: id, fileToken: earlier, cell: "A1" },
      rig.retry(),
    );
    const later = await uploadImage(rig);
    const counter = newCounter();
    const placed = await rig.sheets.placeFloatImage(
      SPREADSHEET,
      SHEET,
      { floatImageId: id, fileToken: later, cell: "A1" },
      rig.retry(),
      counter,
    );
    assert.deepEqual(placed, { floatImageId: id, fileToken: earlier });
    assert.equal(imagesOf(rig).size, 1);
    assert.equal(imagesOf(rig).get(id)!.token, earlier);
    assert.equal(counter.calls, 2, "the refused create, then the read of the existing image");
    assert.equal(rig.answered(1310244), 1);
  });

  test("a side under Lark's 20 px is scaled up, keeping the aspect ratio; no size leaves Lark's default", async (t) => {
    const rig = await withSpreadsheet(t);
    const fileToken = await uploadImage(rig);
    const place = (seed: string, size: { width?: number; height?: number }) =>
      rig.sheets.placeFloatImage(
        SPREADSHEET,
        SHEET,
        { floatImageId: floatImageId(seed), fileToken, cell: "B2", ...size },
        rig.retry(),
      );
    const sizeOf = (seed: string) => {
      const image = imagesOf(rig).get(floatImageId(seed))!;
      return [image.width, image.height];
    };
    await place("dot", { width: 1, height: 1 });
    assert.deepEqual(sizeOf("dot"), [20, 20]);
    await place("strip", { width: 3000, height: 17 });
    assert.deepEqual(sizeOf("strip"), [3529, 20]);
    await place("width only", { width: 5 });
    assert.deepEqual(sizeOf("width only"), [20, 100]);
    await place("unknown", {});
    assert.deepEqual(sizeOf("unknown"), [100, 100]);
  });
});

describe("Lark's answers", () => {
  test("permanent refusals surface as RejectionError with Lark's code: 1310214, 1310245", async (t) => {
    const rig = await withSpreadsheet(t);
    const fileToken = await uploadImage(rig);
    const image = { floatImageId: floatImageId("refused"), fileToken, cell: "A1" };
    const missing = await rejection(
      rig.sheets.placeFloatImage("shtcnNoSuchSheet0000000000", SHEET, image, rig.retry()),
    );
    assert.equal(missing.larkCode, 1310214);
    assert.equal(missing.code, "lark-1310214");

    rig.emu.addSpreadsheet("shtcnClientSheet0000000002", { sheets: [{ sheetId: SHEET }] });
    const foreign = await uploadImage(rig, "shtcnClientSheet0000000002");
    const wrongToken = await rejection(
      rig.sheets.placeFloatImage(SPREADSHEET, SHEET, { ...image, fileToken: foreign }, rig.retry()),
    );
    assert.equal(wrongToken.larkCode, 1310245);
    assert.equal(imagesOf(rig).size, 0);
  });

  test("transient faults are retried: too many requests, retry later, mixed state, a rate refusal, HTTP 503", async (t) => {
    const rig = await withSpreadsheet(t);
    const create = "sheets.spreadsheetSheetFloatImage.create" as const;
    for (const code of [1310217, 1310235, 1310242, THROTTLED])
      rig.emu.injectFault({ path: create, fault: { kind: "code", code } });
    rig.emu.injectFault({ path: create, fault: { kind: "http", status: 503 } });
    const fileToken = await uploadImage(rig);
    const counter = newCounter();
    const id = floatImageId("faults");
    const placed = await rig.sheets.placeFloatImage(
      SPREADSHEET,
      SHEET,
      { floatImageId: id, fileToken, cell: "D4" },
      rig.retry({ maxAttempts: 6 }),
      counter,
    );
    assert.deepEqual(placed, { floatImageId: id, fileToken });
    assert.equal(counter.calls, 6);
    assert.equal(imagesOf(rig).size, 1);
  });
});

describe("Lark's limits under a burst", () => {
  test("150 placements at once: 100 a window for the app, no refusal", async (t) => {
    const rig = await withSpreadsheet(t);
    const fileToken = await uploadImage(rig);
    const once = rig.retry({ maxAttempts: 1 });
    const started = Date.now();
    await Promise.all(
      Array.from({ length: 150 }, (_, i) =>
        rig.sheets.placeFloatImage(
          SPREADSHEET,
          SHEET,
          { floatImageId: floatImageId(`burst ${i}`), fileToken, cell: `A${i + 1}` },
          once,
        ),
      ),
    );
    assert.equal(rig.answered(THROTTLED), 0);
    assert.equal(imagesOf(rig).size, 150);
    assert.ok(Date.now() - started >= 60_000 * TIME_SCALE, "the 101st waited for a window");
  });
});

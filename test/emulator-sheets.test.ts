// Proof that the emulator's sheets family speaks Lark's sheets/v3 sheets and floating images (the official SDK
// queries sheets and creates, reads and deletes floating images through it) and is strict: tokens uploaded into
// the same spreadsheet, one-cell ranges inside the grid, image ids, sizes, the image count and the rate limit.

import assert from "node:assert/strict";
import { describe, type TestContext, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { LarkEmulator, LarkEmulatorOptions } from "../local/lark-emulator";
import {
  assertLark,
  call,
  sdkClient,
  sdkFailure,
  startEmulator,
  tenantToken,
  upload,
  uploaded,
} from "./support/emulator";

const SHEET_TOKEN = "shtcnEmulatorSheet00000001";
const OTHER_TOKEN = "shtcnEmulatorSheet00000002";
const SHEET = "a1b2c3";
const SMALL = "smal11";

async function withSpreadsheets(t: TestContext, opts: LarkEmulatorOptions = {}) {
  const emu = await startEmulator(t, { ratePerWindow: 1000, ...opts });
  emu.addSpreadsheet(SHEET_TOKEN, {
    sheets: [
      { sheetId: SHEET, title: "Inbox" },
      { sheetId: SMALL, rows: 5, cols: 3 },
    ],
  });
  emu.addSpreadsheet(OTHER_TOKEN, { sheets: [{ sheetId: SHEET }] });
  return { emu, token: await tenantToken(emu) };
}

const floatImages = (spreadsheet = SHEET_TOKEN, sheet = SHEET) =>
  `/open-apis/sheets/v3/spreadsheets/${spreadsheet}/sheets/${sheet}/float_images`;

const imageInto = (emu: LarkEmulator, token: string, spreadsheet = SHEET_TOKEN) =>
  uploaded(emu, token, { parentType: "sheet_image", parentNode: spreadsheet });

describe("the official SDK places floating images", () => {
  test("sheets query, upload into the spreadsheet, create (with and without an id), get, query, delete", async (t) => {
    const { emu } = await withSpreadsheets(t);
    const client = sdkClient(emu);
    const sheets = await client.sheets.v3.spreadsheetSheet.query({ path: { spreadsheet_token: SHEET_TOKEN } });
    assert.equal(sheets.code, 0);
    assert.deepEqual(
      sheets.data!.sheets!.map((s) => [
        s.sheet_id,
        s.title,
        s.index,
        s.grid_properties?.row_count,
        s.grid_properties?.column_count,
      ]),
      [
        [SHEET, "Inbox", 0, 200, 20],
        [SMALL, "Sheet2", 1, 5, 3],
      ],
    );

    const media = await client.drive.media.uploadAll({
      data: {
        file_name: "chart.png",
        parent_type: "sheet_image",
        parent_node: SHEET_TOKEN,
        size: 3,
        file: Buffer.from("png"),
      },
    });
    const imageToken = media!.file_token!;
    const path = { spreadsheet_token: SHEET_TOKEN, sheet_id: SHEET };
    const created = await client.sheets.v3.spreadsheetSheetFloatImage.create({
      path,
      data: {
        float_image_id: "ye06SS14ph",
        float_image_token: imageToken,
        range: `${SHEET}!C3:C3`,
        width: 320,
        height: 200,
        offset_x: 5,
        offset_y: 2,
      },
    });
    assert.equal(created.code, 0);
    assert.deepEqual(created.data!.float_image, {
      float_image_id: "ye06SS14ph",
      float_image_token: imageToken,
      range: `${SHEET}!C3:C3`,
      width: 320,
      height: 200,
      offset_x: 5,
      offset_y: 2,
    });
    const generated = await client.sheets.v3.spreadsheetSheetFloatImage.create({
      path,
      data: { float_image_token: imageToken, range: `${SHEET}!A1:A1` },
    });
    const generatedId = generated.data!.float_image!.float_image_id!;
    assert.match(generatedId, /^[0-9a-zA-Z]{10}$/);
    assert.deepEqual([generated.data!.float_image!.width, generated.data!.float_image!.offset_x], [100, 0]);

    const got = await client.sheets.v3.spreadsheetSheetFloatImage.get({
      path: { ...path, float_image_id: "ye06SS14ph" },
    });
    assert.equal(got.data!.float_image!.float_image_token, imageToken);
    const queried = await client.sheets.v3.spreadsheetSheetFloatImage.query({ path });
    assert.deepEqual(
      queried.data!.items!.map((i) => i.float_image_id),
      ["ye06SS14ph", generatedId],
    );
    const deleted = await client.sheets.v3.spreadsheetSheetFloatImage.delete({
      path: { ...path, float_image_id: "ye06SS14ph" },
    });
    assert.equal(deleted.code, 0);
    const gone = await sdkFailure(
      client.sheets.v3.spreadsheetSheetFloatImage.get({ path: { ...path, float_image_id: "ye06SS14ph" } }),
    );
    assert.deepEqual(gone, { status: 400, code: 1310243 });
    assert.equal(emu.spreadsheets.get(SHEET_TOKEN)!.sheets.get(SHEET)!.floatImages.size, 1);
    const [shown] = emu.state().spreadsheets;
    assert.deepEqual(shown.sheets[0].float_images, [generated.data!.float_image]);
    emu.reset();
    assert.equal(emu.spreadsheets.size, 0);
  });
});

describe("floating images are strict", () => {
  test("an id the sheet already has is 1310244; a malformed one 1310243; another sheet may reuse it", async (t) => {
    const { emu, token } = await withSpreadsheets(t);
    const float_image_token = await imageInto(emu, token);
    const create = (float_image_id: string, sheet = SHEET) =>
      call(emu, "POST", floatImages(SHEET_TOKEN, sheet), {
        token,
        body: { float_image_id, float_image_token, range: `${sheet}!B2:B2` },
      });
    assertLark(await create("abcdeABCDE"), 200, 0);
    assertLark(await create("abcdeABCDE"), 400, 1310244);
    assertLark(await create("short"), 400, 1310243);
    assertLark(await create("abcde-BCDE"), 400, 1310243);
    assertLark(await create("abcdeABCDE", SMALL), 200, 0);
  });

  test("the token must be an image uploaded into this spreadsheet: 1310245", async (t) => {
    const { emu, token } = await withSpreadsheets(t);
    const create = (float_image_token: string) =>
      call(emu, "POST", floatImages(), { token, body: { float_image_token, range: `${SHEET}!A1:A1` } });
    assertLark(await create(await imageInto(emu, token, OTHER_TOKEN)), 400, 1310245);
    const asFile = await uploaded(emu, token, { parentType: "sheet_file", parentNode: SHEET_TOKEN });
    assertLark(await create(asFile), 400, 1310245);
    assertLark(await create("boxcnNeverUploaded0000000000"), 400, 1310245);
    assertLark(await create(await imageInto(emu, token)), 200, 0);
  });

  test("range: one cell of this sheet inside its grid, else 1310202", async (t) => {
    const { emu, token } = await withSpreadsheets(t);
    const float_image_token = await imageInto(emu, token);
    const create = (range: string) =>
      call(emu, "POST", floatImages(SHEET_TOKEN, SMALL), { token, body: { float_image_token, range } });
    for (const range of [
      `${SMALL}!A1:B2`,
      `${SHEET}!A1:A1`,
      `${SMALL}!D1:D1`,
      `${SMALL}!A6:A6`,
      `${SMALL}!A0:A0`,
      "A1:A1",
      `${SMALL}!a1:a1`,
    ])
      assertLark(await create(range), 400, 1310202);
    assertLark(await create(`${SMALL}!C5:C5`), 200, 0);
  });

  test("width / height at least 20 px, offsets inside the anchor cell: 1310246", async (t) => {
    const { emu, token } = await withSpreadsheets(t);
    const float_image_token = await imageInto(emu, token);
    const create = (extra: Record<string, unknown>) =>
      call(emu, "POST", floatImages(), { token, body: { float_image_token, range: `${SHEET}!A1:A1`, ...extra } });
    for (const bad of [
      { width: 19 },
      { height: 0 },
      { offset_x: 100 },
      { offset_y: 20 },
      { offset_x: -1 },
      { width: "30" },
    ])
      assertLark(await create(bad), 400, 1310246);
    assertLark(await create({ width: 20, height: 20, offset_x: 99.5, offset_y: 19 }), 200, 0);
  });

  test("spreadsheets, sheets and permissions: 1310214, 1310249, 1310215, 1310211, 1310213", async (t) => {
    const { emu, token } = await withSpreadsheets(t);
    const float_image_token = await imageInto(emu, token);
    const body = { float_image_token, range: `${SHEET}!A1:A1` };
    assertLark(await call(emu, "POST", floatImages("shtcnNoSuchSheet"), { token, body }), 400, 1310214);
    assertLark(await call(emu, "POST", floatImages(SHEET_TOKEN, "zzzzzz"), { token, body }), 400, 1310215);
    assertLark(await call(emu, "POST", floatImages(SHEET_TOKEN, "a%21b"), { token, body }), 400, 1310211);
    emu.spreadsheets.get(SHEET_TOKEN)!.editable = false;
    assertLark(await call(emu, "POST", floatImages(), { token, body }), 400, 1310213);
    assertLark(await call(emu, "GET", `${floatImages()}/query`, { token }), 200, 0);
    assertLark(await upload(emu, token, { parentType: "sheet_image", parentNode: SHEET_TOKEN }), 403, 1061004);
    emu.removeSpreadsheet(OTHER_TOKEN);
    assertLark(await call(emu, "GET", `${floatImages(OTHER_TOKEN)}/query`, { token }), 400, 1310249);
    assertLark(await upload(emu, token, { parentType: "sheet_image", parentNode: OTHER_TOKEN }), 400, 1061041);
    assertLark(await upload(emu, token, { parentType: "sheet_image", parentNode: "shtcnNoSuchSheet" }), 400, 1061044);
  });

  test("distinct image tokens per spreadsheet are capped (1310247); placing a known one again is free", async (t) => {
    const { emu, token } = await withSpreadsheets(t, { sheetImageLimit: 2 });
    const place = (float_image_token: string, range: string) =>
      call(emu, "POST", floatImages(), { token, body: { float_image_token, range: `${SHEET}!${range}` } });
    const [a, b, c] = [await imageInto(emu, token), await imageInto(emu, token), await imageInto(emu, token)];
    assertLark(await place(a, "A1:A1"), 200, 0);
    assertLark(await place(b, "B1:B1"), 200, 0);
    assertLark(await place(c, "C1:C1"), 400, 1310247);
    assertLark(await place(a, "D1:D1"), 200, 0);
  });
});

describe("sheets limits", () => {
  test("100 requests/min per app per endpoint: the 101st is HTTP 429 + 99991400", async (t) => {
    const { emu, token } = await withSpreadsheets(t);
    const query = `/open-apis/sheets/v3/spreadsheets/${SHEET_TOKEN}/sheets/query`;
    const answers = [];
    for (let i = 0; i < 101; i++) answers.push(await call(emu, "GET", query, { token }));
    for (const a of answers.slice(0, 100)) assertLark(a, 200, 0);
    assertLark(answers[100], 429, 99991400);
    assert.equal(answers[100].headers["x-ogw-ratelimit-limit"], "100");
    assert.ok(Number(answers[100].headers["x-ogw-ratelimit-reset"]) >= 59);
  });

  test("rates and timeScale shrink the window: waiting x-ogw-ratelimit-reset admits again", async (t) => {
    const { emu, token } = await withSpreadsheets(t, { rates: { "sheets.app": 2 }, timeScale: 0.005 }); // 2 per 300 ms
    const query = `${floatImages()}/query`;
    assertLark(await call(emu, "GET", query, { token }), 200, 0);
    assertLark(await call(emu, "GET", query, { token }), 200, 0);
    const limited = await call(emu, "GET", query, { token });
    assertLark(limited, 429, 99991400);
    const reset = Number(limited.headers["x-ogw-ratelimit-reset"]);
    assert.ok(reset > 0 && reset <= 0.3, `reset ${reset}`);
    await sleep(reset * 1000 + 5);
    assertLark(await call(emu, "GET", query, { token }), 200, 0);
  });
});

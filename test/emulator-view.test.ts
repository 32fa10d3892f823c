// The emulator's web view in a real browser (Debian's headless chromium, over the DevTools protocol): files put
// into Lark through the emulator's own HTTP API show up on the page (images decoded, blocks in document order,
// attachments, floating images at their cells, imports, folders, members), names stay text, and a file uploaded
// while the page is open appears without a reload. A screenshot is saved under .local/artifacts/.

import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { crc32, deflateSync } from "node:zlib";
import { request } from "undici";
import type { LarkEmulator } from "../local/lark-emulator";
import { launchChromium } from "./support/chromium";
import { assertLark, call, startEmulator, tenantToken, uploaded } from "./support/emulator";

const DOC = "doxcnEmulatorViewDocument1";
const BASE = "bascnEmulatorViewBase00001";
const TABLE = "tblExpenses0001";
const SHEET = "shtcnEmulatorViewSheet0001";
const SHEET_ID = "a1b2c3";
const FOLDER = "fldcnEmulatorViewFolder001";
const ALICE = "ou_7dab8a3d3cdcc9da365777c7ad535d62";
const HOSTILE_NAME = '<img src=x onerror="window.hostile=1">.txt';

/** A `width` × `height` PNG of one colour, so the browser has a real image to decode. */
function png(width: number, height: number, [r, g, b]: [number, number, number]): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8 bits per channel, RGB
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array.from({ length: width }, () => [r, g, b]).flat())]);
  const pixels = deflateSync(Buffer.concat(Array.from({ length: height }, () => row)));
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([signature, chunk("IHDR", header), chunk("IDAT", pixels), chunk("IEND", Buffer.alloc(0))]);
}

/** Everything a user would put into Lark: a document with an image then a PDF, a record with an attachment, a
 * floating image, an import, a Drive file shared with a member. */
async function fill(emu: LarkEmulator, token: string) {
  const children = await call(emu, "POST", `/open-apis/docx/v1/documents/${DOC}/blocks/${DOC}/children`, {
    token,
    body: {
      children: [
        { block_type: 27, image: {} },
        { block_type: 23, file: {} },
      ],
    },
  });
  const [image, view] = children.json.data.children;
  const fileBlock = view.children[0];
  const blocks = `/open-apis/docx/v1/documents/${DOC}/blocks`;
  const chart = await uploaded(emu, token, {
    parentType: "docx_image",
    parentNode: image.block_id,
    driveRouteToken: DOC,
    fileName: "chart.png",
    bytes: png(40, 30, [51, 112, 255]),
  });
  assertLark(
    await call(emu, "PATCH", `${blocks}/${image.block_id}`, { token, body: { replace_image: { token: chart } } }),
    200,
    0,
  );
  const report = await uploaded(emu, token, {
    parentType: "docx_file",
    parentNode: fileBlock,
    driveRouteToken: DOC,
    fileName: "report.pdf",
    bytes: Buffer.from("%PDF-1.4 report"),
  });
  assertLark(
    await call(emu, "PATCH", `${blocks}/${fileBlock}`, { token, body: { replace_file: { token: report } } }),
    200,
    0,
  );

  const receipt = await uploaded(emu, token, {
    parentType: "bitable_image",
    parentNode: BASE,
    fileName: "receipt.png",
    bytes: png(24, 36, [46, 161, 33]),
  });
  const record = { fields: { Name: "Taxi", Photo: [{ file_token: receipt }] } };
  assertLark(
    await call(emu, "POST", `/open-apis/bitable/v1/apps/${BASE}/tables/${TABLE}/records`, { token, body: record }),
    200,
    0,
  );

  const logo = await uploaded(emu, token, {
    parentType: "sheet_image",
    parentNode: SHEET,
    fileName: "logo.png",
    bytes: png(30, 30, [245, 74, 69]),
  });
  const float = { float_image_token: logo, range: `${SHEET_ID}!C3:C3`, width: 60, height: 40 };
  const floats = `/open-apis/sheets/v3/spreadsheets/${SHEET}/sheets/${SHEET_ID}/float_images`;
  assertLark(await call(emu, "POST", floats, { token, body: float }), 200, 0);

  const source = await uploaded(emu, token, {
    parentType: "ccm_import_open",
    extra: JSON.stringify({ obj_type: "docx", file_extension: "md" }),
    fileName: "minutes.md",
    bytes: Buffer.from("# Minutes"),
  });
  const task = { file_extension: "md", file_token: source, type: "docx", point: { mount_type: 1, mount_key: FOLDER } };
  const created = await call(emu, "POST", "/open-apis/drive/v1/import_tasks", { token, body: task });
  while (!emu.imports.get(created.json.data.ticket)?.ended) await sleep(10);

  const contract = await uploaded(emu, token, {
    api: "files",
    parentType: "explorer",
    parentNode: FOLDER,
    fileName: "contract.pdf",
  });
  const member = { member_type: "openid", member_id: ALICE, perm: "full_access", type: "user" };
  const grant = await call(emu, "POST", `/open-apis/drive/v1/permissions/${contract}/members`, {
    token,
    body: member,
    query: { type: "file", need_notification: "false" },
  });
  assertLark(grant, 200, 0);
  await uploaded(emu, token, { api: "files", parentType: "explorer", parentNode: FOLDER, fileName: HOSTILE_NAME });
}

test("the web view shows what Lark holds, in a browser, and follows new uploads", async (t) => {
  const emu = await startEmulator(t, { viewPort: 0, ratePerWindow: 1000, importJobMs: 30 });
  assert.match(emu.view!.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  emu.addDocument(DOC, { title: "Field report" });
  emu.addBase(BASE, {
    tables: [
      {
        tableId: TABLE,
        fields: [
          { name: "Name", type: 1 },
          { name: "Photo", type: 17 },
        ],
      },
    ],
  });
  emu.addSpreadsheet(SHEET, { sheets: [{ sheetId: SHEET_ID, title: "Gallery" }] });
  emu.addFolder(FOLDER, { name: "Contracts" });
  const token = await tenantToken(emu);
  await fill(emu, token);

  const browser = await launchChromium();
  t.after(() => browser.close());
  const { page } = browser;
  await page.navigate(emu.view!.url);
  const decoded = (selector: string) =>
    `[...document.querySelectorAll(${JSON.stringify(selector)})].every((i) => i.complete && i.naturalWidth > 0) && document.querySelector(${JSON.stringify(selector)})`;
  await page.waitFor(decoded("#documents .block.image img"), "the document's image, decoded");
  await page.evaluate("window.sameLoad = true");

  const seen = await page.evaluate<Record<string, unknown>>(`(() => {
    const text = (selector) => document.querySelector(selector)?.textContent ?? "";
    const doc = document.querySelector('#documents article[data-token="${DOC}"]');
    return {
      title: doc.querySelector("h3").textContent,
      blocks: [...doc.querySelectorAll(".block")].map((b) => b.classList[1]),
      imageWidth: doc.querySelector(".block.image img").naturalWidth,
      file: doc.querySelector(".block.file .card").textContent,
      record: text("#bases tr.record"),
      recordImage: document.querySelector("#bases tr.record img")?.naturalWidth,
      floatImage: document.querySelector('#sheets .float-image[data-cell="C3"] img')?.naturalWidth,
      imports: text("#imports tr.import"),
      folder: text('#folders article[data-token="${FOLDER}"]'),
      members: text("#permissions"),
      uploads: [...document.querySelectorAll("#uploads tr.upload .name")].map((n) => n.textContent),
      hostile: window.hostile,
    };
  })()`);
  assert.match(String(seen.title), /^Field report/);
  assert.deepEqual(seen.blocks, ["image", "file"], "the image block, then the file block, as in the document");
  assert.equal(seen.imageWidth, 40);
  assert.match(String(seen.file), /report\.pdf/);
  assert.match(String(seen.record), /Taxi/);
  assert.equal(seen.recordImage, 24);
  assert.equal(seen.floatImage, 30);
  assert.match(String(seen.imports), /minutes.*docx.*imported/);
  assert.match(String(seen.folder), /Contracts.*minutes.*contract\.pdf/s);
  assert.match(String(seen.members), new RegExp(`${ALICE}.*full_access`));
  assert.deepEqual(seen.uploads, [
    "chart.png",
    "report.pdf",
    "receipt.png",
    "logo.png",
    "minutes.md",
    "contract.pdf",
    HOSTILE_NAME,
  ]);
  assert.equal(seen.hostile, undefined, "a file name is shown as text, never run");

  await uploaded(emu, token, {
    api: "files",
    parentType: "explorer",
    parentNode: FOLDER,
    fileName: "arrived-later.txt",
  });
  await page.waitFor(
    `document.querySelector('#folders article[data-token="${FOLDER}"]').textContent.includes("arrived-later.txt")`,
    "the file uploaded while the page was open",
    3000,
  );
  assert.equal(await page.evaluate("window.sameLoad"), true, "the page updated itself, without a reload");

  const screenshot = join(process.cwd(), ".local", "artifacts", "emulator-view.png");
  mkdirSync(join(screenshot, ".."), { recursive: true });
  writeFileSync(screenshot, await page.screenshot());
  t.diagnostic(`screenshot: ${screenshot}`);

  const notKept = await request(`${emu.view!.url}files/${emu.files[1].fileToken}`);
  assert.equal(notKept.statusCode, 404, "a PDF's bytes are not kept (keepBytes is off)");
  await notKept.body.dump();
  const write = await request(emu.view!.url, { method: "POST" });
  assert.equal(write.statusCode, 405);
  await write.body.dump();
});

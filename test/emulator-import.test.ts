// Proof that the emulator's import tasks speak Lark's drive/v1 import_tasks (the official SDK uploads a source,
// creates a task and polls it through them) and are strict: the upload's extra, the 5-minute window, extensions,
// types, sizes, folders, rates, and every way a job can end.

import assert from "node:assert/strict";
import { describe, type TestContext, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { LarkEmulator, LarkEmulatorOptions } from "../local/lark-emulator";
import {
  type Answer,
  assertLark,
  call,
  sdkClient,
  startEmulator,
  tenantToken,
  upload,
  uploadPart,
} from "./support/emulator";

const FOLDER = "fldcnEmulatorImportFolder01";
const READ_ONLY = "fldcnEmulatorReadOnlyFold01";
const MIB = 1024 * 1024;

async function withFolders(t: TestContext, opts: LarkEmulatorOptions = {}) {
  const emu = await startEmulator(t, { ratePerWindow: 1000, importJobMs: 20, ...opts });
  emu.addFolder(FOLDER);
  emu.addFolder(READ_ONLY, { editable: false });
  return { emu, token: await tenantToken(emu) };
}

const importExtra = (obj_type: string, file_extension: string) => JSON.stringify({ obj_type, file_extension });

/** The file token of a source uploaded for import (ccm_import_open, no parent node). */
async function source(emu: LarkEmulator, token: string, fileName: string, objType: string, bytes?: Buffer) {
  const extension = fileName.split(".").pop()!;
  const answer = await upload(emu, token, {
    parentType: "ccm_import_open",
    extra: importExtra(objType, extension),
    fileName,
    bytes: bytes ?? Buffer.from("# Minutes\n"),
  });
  assertLark(answer, 200, 0);
  return answer.json.data.file_token as string;
}

function createTask(emu: LarkEmulator, token: string, body: Record<string, unknown>): Promise<Answer> {
  return call(emu, "POST", "/open-apis/drive/v1/import_tasks", {
    token,
    body: { point: { mount_type: 1, mount_key: FOLDER }, ...body },
  });
}

async function ticketOf(emu: LarkEmulator, token: string, body: Record<string, unknown>): Promise<string> {
  const created = await createTask(emu, token, body);
  assertLark(created, 200, 0);
  return created.json.data.ticket;
}

/** The job's result once it has ended (job_status neither 1 nor 2). */
async function ended(emu: LarkEmulator, token: string, ticket: string) {
  for (;;) {
    const got = await call(emu, "GET", `/open-apis/drive/v1/import_tasks/${ticket}`, { token });
    assertLark(got, 200, 0);
    if (![1, 2].includes(got.json.data.result.job_status)) return got.json.data.result;
    await sleep(5);
  }
}

describe("the official SDK imports a file", () => {
  test("upload for import, create, job_status 1 → 2 → 0, the docx is in the folder and readable", async (t) => {
    const { emu } = await withFolders(t, { importJobMs: 600 });
    const client = sdkClient(emu);
    const uploaded = await client.drive.media.uploadAll({
      data: {
        file_name: "minutes.md",
        parent_type: "ccm_import_open",
        parent_node: "",
        size: 10,
        extra: importExtra("docx", "md"),
        file: Buffer.from("# Minutes\n"),
      },
    });
    const created = await client.drive.v1.importTask.create({
      data: {
        file_extension: "md",
        file_token: uploaded!.file_token!,
        type: "docx",
        point: { mount_type: 1, mount_key: FOLDER },
      },
    });
    const ticket = created.data!.ticket!;
    assert.match(ticket, /^\d{19}$/);
    const poll = async () => (await client.drive.v1.importTask.get({ path: { ticket } })).data!.result!;
    const initialising = await poll();
    assert.deepEqual([initialising.job_status, initialising.token], [1, ""]);
    await sleep(400);
    assert.equal((await poll()).job_status, 2);
    await sleep(300);
    const done = await poll();
    assert.deepEqual(
      { ...done, token: undefined, url: undefined },
      { ticket, type: "docx", job_status: 0, job_error_msg: "success", token: undefined, url: undefined, extra: [] },
    );
    assert.match(done.token!, /^doxcn[A-Za-z0-9]{22}$/);
    assert.equal(done.url, `https://emulator.larksuite.com/docx/${done.token}`);

    const listed = await client.drive.v1.file.list({ params: { folder_token: FOLDER } });
    assert.deepEqual(
      listed.data!.files!.map((f) => [f.token, f.name, f.type, f.url]),
      [[done.token, "minutes", "docx", done.url]],
    );
    const document = await client.docx.v1.document.get({ path: { document_id: done.token! } });
    assert.equal(document.data!.document!.title, "minutes");
    assert.equal(emu.state().imports[0].job_status, 0);
  });

  test("sheet and bitable imports: file_name is the title; tokens shtcn… / bascn…, urls /sheets/, /base/", async (t) => {
    const { emu, token } = await withFolders(t);
    const sheet = await ticketOf(emu, token, {
      file_extension: "csv",
      file_token: await source(emu, token, "q3.csv", "sheet"),
      type: "sheet",
      file_name: "Q3 figures",
    });
    const base = await ticketOf(emu, token, {
      file_extension: "xlsx",
      file_token: await source(emu, token, "crm.xlsx", "bitable"),
      type: "bitable",
    });
    const [sheetDone, baseDone] = [await ended(emu, token, sheet), await ended(emu, token, base)];
    assert.match(sheetDone.token, /^shtcn/);
    assert.equal(sheetDone.url, `https://emulator.larksuite.com/sheets/${sheetDone.token}`);
    assert.match(baseDone.token, /^bascn/);
    assert.equal(baseDone.url, `https://emulator.larksuite.com/base/${baseDone.token}`);
    assert.deepEqual(
      emu.folders.get(FOLDER)!.items.map((i) => [i.name, i.type]),
      [
        ["Q3 figures", "sheet"],
        ["crm", "bitable"],
      ],
    );
  });

  test('a Drive file is a source too, without a window; mount_key "" is the app\'s root folder', async (t) => {
    const { emu, token } = await withFolders(t, { timeScale: 0.001 }); // a 300 ms import window
    const drive = await upload(emu, token, {
      api: "files",
      parentType: "explorer",
      parentNode: FOLDER,
      fileName: "Ledger.XLSX",
    });
    await sleep(350);
    const ticket = await ticketOf(emu, token, {
      file_extension: "xlsx",
      file_token: drive.json.data.file_token,
      type: "sheet",
      point: { mount_type: 1, mount_key: "" },
    });
    const done = await ended(emu, token, ticket);
    assert.equal(done.job_status, 0);
    assert.equal(emu.folders.get(emu.rootFolderToken)!.items[0].token, done.token);
  });
});

describe("uploads for import are strict", () => {
  test("extra must say obj_type (docx, sheet, bitable) and file_extension: else 1061002", async (t) => {
    const { emu, token } = await withFolders(t);
    const into = (extra: string | undefined, parentNode?: string) =>
      upload(emu, token, { parentType: "ccm_import_open", parentNode, extra, fileName: "a.md" });
    for (const extra of [undefined, "{}", importExtra("pdf", "md"), importExtra("docx", ""), '{"obj_type":"docx"}'])
      assertLark(await into(extra), 400, 1061002);
    for (const parentNode of [undefined, "", "/", "fldcnAnything"])
      assertLark(await into(importExtra("docx", "md"), parentNode), 200, 0);
  });
});

describe("import_tasks create is strict", () => {
  test("1069904: not JSON, fields missing or mistyped, mount_type not 1, an extension or type Lark does not import", async (t) => {
    const { emu, token } = await withFolders(t);
    const file_token = await source(emu, token, "a.md", "docx");
    const valid = { file_extension: "md", file_token, type: "docx" };
    const notJson = await call(emu, "POST", "/open-apis/drive/v1/import_tasks", { token });
    assertLark(notJson, 400, 1069904);
    for (const body of [
      { ...valid, type: undefined },
      { ...valid, file_extension: 7 },
      { ...valid, file_name: 12 },
      { ...valid, point: { mount_type: 2, mount_key: FOLDER } },
      { ...valid, point: { mount_type: 1 } },
      { ...valid, file_extension: "pdf" },
      { ...valid, type: "doc" },
    ])
      assertLark(await createTask(emu, token, body), 400, 1069904);
    assertLark(await createTask(emu, token, valid), 200, 0);
  });

  test("tokens: 1069914 malformed or not an import source, 1069907 unknown, 1069913 past the window", async (t) => {
    const { emu, token } = await withFolders(t);
    const create = (file_token: string) => createTask(emu, token, { file_extension: "md", file_token, type: "docx" });
    assertLark(await create("not a token!"), 400, 1069914);
    const image = await upload(emu, token, { parentType: "moments", parentNode: "momentsNode" });
    assertLark(await create(image.json.data.file_token), 400, 1069914);
    assertLark(await create("boxcnNeverUploaded0000000000"), 404, 1069907);
    const file_token = await source(emu, token, "a.md", "docx");
    emu.expireImportUploads();
    assertLark(await create(file_token), 400, 1069913);
    assertLark(await create(await source(emu, token, "b.md", "docx")), 200, 0);
  });

  test("the 5-minute window runs on the emulator's clock (timeScale)", async (t) => {
    const { emu, token } = await withFolders(t, { timeScale: 0.001 }); // 5 min → 300 ms
    const file_token = await source(emu, token, "a.md", "docx");
    assertLark(await createTask(emu, token, { file_extension: "md", file_token, type: "docx" }), 200, 0);
    await sleep(350);
    assertLark(await createTask(emu, token, { file_extension: "md", file_token, type: "docx" }), 400, 1069913);
  });

  test("1069910 extension not the upload's; 1069911 type not importable from it, or not its obj_type", async (t) => {
    const { emu, token } = await withFolders(t);
    const md = await source(emu, token, "a.md", "docx");
    assertLark(
      await createTask(emu, token, { file_extension: "markdown", file_token: md, type: "docx" }),
      400,
      1069910,
    );
    assertLark(await createTask(emu, token, { file_extension: "md", file_token: md, type: "sheet" }), 400, 1069911);
    const csv = await source(emu, token, "a.csv", "sheet");
    assertLark(await createTask(emu, token, { file_extension: "csv", file_token: csv, type: "bitable" }), 400, 1069911);
    assertLark(await createTask(emu, token, { file_extension: "csv", file_token: csv, type: "sheet" }), 200, 0);
    const xlsx = await source(emu, token, "a.xlsx", "docx"); // Lark accepts the upload; the task is refused
    assertLark(await createTask(emu, token, { file_extension: "xlsx", file_token: xlsx, type: "docx" }), 400, 1069911);
  });

  test("1069909: a txt above 20 MB (uploaded in blocks)", async (t) => {
    const { emu, token } = await withFolders(t);
    const size = 20 * MIB + 1;
    const prepared = await call(emu, "POST", "/open-apis/drive/v1/medias/upload_prepare", {
      token,
      body: {
        file_name: "log.txt",
        parent_type: "ccm_import_open",
        parent_node: "",
        size,
        extra: importExtra("docx", "txt"),
      },
    });
    const { upload_id, block_num, block_size } = prepared.json.data;
    for (let seq = 0; seq < block_num; seq++) {
      const block = Buffer.alloc(Math.min(block_size, size - seq * block_size), 0x61);
      const part = await uploadPart(emu, token, "medias", upload_id, seq, block);
      assertLark(part, 200, 0);
    }
    const finished = await call(emu, "POST", "/open-apis/drive/v1/medias/upload_finish", {
      token,
      body: { upload_id, block_num },
    });
    const file_token = finished.json.data.file_token;
    assertLark(await createTask(emu, token, { file_extension: "txt", file_token, type: "docx" }), 400, 1069909);
  });

  test("folders: 1069912 unknown, 1069908 read-only or removed", async (t) => {
    const { emu, token } = await withFolders(t);
    const file_token = await source(emu, token, "a.md", "docx");
    const into = (mount_key: string) =>
      createTask(emu, token, { file_extension: "md", file_token, type: "docx", point: { mount_type: 1, mount_key } });
    assertLark(await into("fldcnNoSuchFolder"), 400, 1069912);
    assertLark(await into(READ_ONLY), 403, 1069908);
    emu.removeFolder(FOLDER);
    assertLark(await into(FOLDER), 403, 1069908);
  });

  test("create: 100/min per app, HTTP 429 + 1069923; get: 50/s, HTTP 429 + 99991400; unknown ticket 1069904", async (t) => {
    const { emu, token } = await withFolders(t, { rates: { "drive.import_create": 2 } });
    const file_token = await source(emu, token, "a.md", "docx");
    const body = { file_extension: "md", file_token, type: "docx" };
    const ticket = await ticketOf(emu, token, body);
    assertLark(await createTask(emu, token, body), 200, 0);
    const limited = await createTask(emu, token, body);
    assertLark(limited, 429, 1069923);
    assert.equal(limited.headers["x-ogw-ratelimit-limit"], "2");
    const gets = [];
    for (let i = 0; i < 51; i++)
      gets.push(await call(emu, "GET", `/open-apis/drive/v1/import_tasks/${ticket}`, { token }));
    assertLark(gets[49], 200, 0);
    assertLark(gets[50], 429, 99991400);
    assertLark(
      await call(emu, "GET", "/open-apis/drive/v1/import_tasks/1234567890123456789", { token }),
      429,
      99991400,
    );
    assert.deepEqual(emu.stats().limitViolations, { "drive.import_create": 1, "drive.import_get_second": 2 });
  });

  test("an unknown ticket is 1069904", async (t) => {
    const { emu, token } = await withFolders(t);
    assertLark(await call(emu, "GET", "/open-apis/drive/v1/import_tasks/1234567890123456789", { token }), 400, 1069904);
  });
});

describe("how import jobs end", () => {
  test("importOutcome: a failure with its message (or Lark's), warnings on success, `times`", async (t) => {
    const { emu, token } = await withFolders(t);
    emu.importOutcome({ jobStatus: 112, jobErrorMsg: "unsupported markdown dialect" });
    emu.importOutcome({ jobStatus: 100 });
    emu.importOutcome({ jobStatus: 0, extra: ["2000", "2002"], times: 2 });
    const file_token = await source(emu, token, "a.csv", "sheet");
    const results = [];
    for (let i = 0; i < 5; i++)
      results.push(
        await ended(emu, token, await ticketOf(emu, token, { file_extension: "csv", file_token, type: "sheet" })),
      );
    assert.deepEqual(
      results.map((r) => [r.job_status, r.job_error_msg, r.extra, r.token === ""]),
      [
        [112, "unsupported markdown dialect", [], true],
        [100, "import file is encrypted", [], true],
        [0, "success", ["2000", "2002"], false],
        [0, "success", ["2000", "2002"], false],
        [0, "success", [], false],
      ],
    );
    assert.equal(emu.folders.get(FOLDER)!.items.length, 3, "failed jobs make no document");
  });

  test("a folder full when the job ends: 105; removed meanwhile: 117", async (t) => {
    const { emu, token } = await withFolders(t, { folderItemLimit: 1, importJobMs: 100 });
    const file_token = await source(emu, token, "a.md", "docx");
    const body = { file_extension: "md", file_token, type: "docx" };
    const first = await ticketOf(emu, token, body);
    const second = await ticketOf(emu, token, body); // the folder is not full yet: the task is accepted
    assert.equal((await ended(emu, token, first)).job_status, 0);
    const full = await ended(emu, token, second);
    assert.deepEqual([full.job_status, full.job_error_msg], [105, "too many folder nodes"]);
    emu.addFolder("fldcnEmulatorSoonRemoved01");
    const third = await ticketOf(emu, token, {
      ...body,
      point: { mount_type: 1, mount_key: "fldcnEmulatorSoonRemoved01" },
    });
    emu.removeFolder("fldcnEmulatorSoonRemoved01");
    assert.equal((await ended(emu, token, third)).job_status, 117);
  });
});

// Imports through the function's own Lark stack against the emulator over HTTP: the source uploaded for import
// (whole, or in blocks), the task created, its result read until the document exists; every way a job can end as
// `result` reports it; Lark's refusals of a task as the object would be tagged; transient faults retried; and
// Lark's limits kept under a burst.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, type TestContext, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import ADLER32 from "adler-32";
import { type Block, readBlocks } from "../lib/blocks";
import { newCounter } from "../lib/lark/client";
import {
  type ImportExtension,
  type ImportResult,
  type ImportType,
  importExtensionOf,
  importMaxBytes,
  importSource,
  LarkImports,
} from "../lib/lark/imports";
import { LarkMedia } from "../lib/lark/media";
import type { ImportFailureStatus, LarkEmulatorOptions } from "../local/lark-emulator";
import { call, tenantToken } from "./support/emulator";
import { type LarkRig, rejection, startLark } from "./support/lark";

const FOLDER = "fldcnClientImportFolder001";
const READ_ONLY = "fldcnClientReadOnlyFolder1";
const MIB = 1024 * 1024;
const TIME_SCALE = 0.01; // Lark's minute lasts 600 ms, its second 10 ms, the 5-minute import window 3 s

type Rig = LarkRig & { imports: LarkImports; media: LarkMedia };

async function withFolders(t: TestContext, opts: LarkEmulatorOptions = {}): Promise<Rig> {
  const rig = await startLark(t, { timeScale: TIME_SCALE, ...opts });
  rig.emu.addFolder(FOLDER, { name: "Imports" });
  rig.emu.addFolder(READ_ONLY, { editable: false });
  return { ...rig, imports: new LarkImports(rig.client, rig.limits), media: new LarkMedia(rig.client, rig.limits) };
}

const wholeBlock = (bytes: Buffer): Block => ({
  parts: [bytes],
  size: bytes.length,
  adler32: ADLER32.buf(bytes) >>> 0,
});

/** Uploads `bytes` as the source of an import of `name` as `type`; answers its file token. */
async function uploadSource(rig: Rig, name: string, type: ImportType, bytes = Buffer.from("# Minutes\n")) {
  const file = importSource({ name, size: bytes.length, extension: importExtensionOf(name)!, type });
  return (await rig.media.uploadAll(file, wholeBlock(bytes), rig.retry())).fileToken;
}

/** Reads the task until its job has ended. */
async function ended(rig: Rig, ticket: string): Promise<Exclude<ImportResult, { status: "pending" }>> {
  for (;;) {
    const result = await rig.imports.result(ticket, rig.retry());
    if (result.status !== "pending") return result;
    await sleep(5);
  }
}

/** A folder's listing, as a user's client reads it (folder_token "" is the app's root). */
async function listing(rig: LarkRig, folderToken: string) {
  const answer = await call(rig.emu, "GET", "/open-apis/drive/v1/files", {
    token: await tenantToken(rig.emu),
    query: { folder_token: folderToken },
  });
  assert.equal(answer.json.code, 0, JSON.stringify(answer.json));
  return (answer.json.data.files as { token: string; name: string; type: string; url: string }[]).map((item) => [
    item.token,
    item.name,
    item.type,
    item.url,
  ]);
}

describe("Lark's import table", () => {
  test("extensions lowercase without the dot; types and sizes per extension", () => {
    assert.equal(importExtensionOf("Minutes.MD"), "md");
    assert.equal(importExtensionOf("archive.tar.xlsx"), "xlsx");
    assert.equal(importExtensionOf("slides.pptx"), undefined);
    assert.equal(importExtensionOf("README"), undefined);
    assert.equal(importExtensionOf("toString"), undefined);
    assert.equal(importMaxBytes("csv", "sheet"), 20 * MIB);
    assert.equal(importMaxBytes("csv", "bitable"), 100 * MIB);
    assert.equal(importMaxBytes("docx", "docx"), 600 * MIB);
    assert.equal(importMaxBytes("md", "sheet"), undefined);
    assert.equal(importMaxBytes("xls", "bitable"), undefined);
  });
});

describe("an import end to end", () => {
  test("source uploaded for import, task created, read until done: the docx is in the folder, titled", async (t) => {
    const rig = await withFolders(t);
    const fileToken = await uploadSource(rig, "minutes.md", "docx");
    const source = rig.emu.files.find((file) => file.fileToken === fileToken)!;
    assert.deepEqual(
      [source.parentType, source.parentNode, source.extra],
      ["ccm_import_open", "", '{"obj_type":"docx","file_extension":"md"}'],
    );

    const counter = newCounter();
    const ticket = await rig.imports.createTask(
      { fileToken, extension: "md", type: "docx", title: "Monday minutes", folderToken: FOLDER },
      rig.retry(),
      counter,
    );
    assert.equal(counter.calls, 1);
    const done = await ended(rig, ticket);
    assert.equal(done.status, "done");
    if (done.status !== "done") return;
    assert.match(done.token, /^doxcn/);
    assert.deepEqual(
      { ...done, token: "" },
      {
        status: "done",
        token: "",
        url: `https://emulator.larksuite.com/docx/${done.token}`,
        type: "docx",
        warnings: [],
      },
    );
    assert.deepEqual(await listing(rig, FOLDER), [[done.token, "Monday minutes", "docx", done.url]]);
    const document = await call(rig.emu, "GET", `/open-apis/docx/v1/documents/${done.token}`, {
      token: await tenantToken(rig.emu),
    });
    assert.equal(document.json.data.document.title, "Monday minutes");
  });

  test("while the job runs (job_status 1, then 2) the task is pending; then done", async (t) => {
    const rig = await withFolders(t, { importJobMs: 30_000 }); // 300 ms at this scale
    const fileToken = await uploadSource(rig, "notes.txt", "docx");
    const ticket = await rig.imports.createTask(
      { fileToken, extension: "txt", type: "docx", folderToken: FOLDER },
      rig.retry(),
    );
    const seen = new Set<number>();
    for (;;) {
      const result = await rig.imports.result(ticket, rig.retry());
      if (result.status !== "pending") {
        assert.equal(result.status, "done");
        break;
      }
      seen.add(rig.emu.state().imports[0]!.job_status);
      await sleep(10);
    }
    assert.ok(seen.has(1) && seen.has(2), `pending while initialising and processing (saw ${[...seen]})`);
  });

  test('a 21 MiB source in blocks (upload_prepare with parent_node ""), into the app\'s root, untitled', async (t) => {
    const rig = await withFolders(t);
    const bytes = randomBytes(21 * MIB);
    const file = importSource({ name: "Handbook.docx", size: bytes.length, extension: "docx", type: "docx" });
    async function* chunks() {
      for (let at = 0; at < bytes.length; at += MIB) yield bytes.subarray(at, at + MIB);
    }
    const uploaded = await rig.media.uploadChunked(
      file,
      (blockSize) => readBlocks(chunks(), bytes.length, blockSize, "test"),
      rig.retry(),
    );
    const source = rig.emu.files.find((received) => received.fileToken === uploaded.fileToken)!;
    assert.deepEqual([source.route, source.parentType, source.parentNode], ["chunked", "ccm_import_open", ""]);
    const ticket = await rig.imports.createTask(
      { fileToken: uploaded.fileToken, extension: "docx", type: "docx", folderToken: "" },
      rig.retry(),
    );
    const done = await ended(rig, ticket);
    assert.equal(done.status, "done");
    if (done.status !== "done") return;
    assert.deepEqual(await listing(rig, ""), [[done.token, "Handbook", "docx", done.url]]);
    assert.deepEqual(await listing(rig, FOLDER), []);
  });

  test("a csv as a sheet and an xlsx as a base: their tokens, urls and types", async (t) => {
    const rig = await withFolders(t);
    const sheet = await rig.imports.createTask(
      { fileToken: await uploadSource(rig, "q3.csv", "sheet"), extension: "csv", type: "sheet", folderToken: FOLDER },
      rig.retry(),
    );
    const base = await rig.imports.createTask(
      {
        fileToken: await uploadSource(rig, "crm.xlsx", "bitable"),
        extension: "xlsx",
        type: "bitable",
        title: "CRM",
        folderToken: FOLDER,
      },
      rig.retry(),
    );
    const [sheetDone, baseDone] = [await ended(rig, sheet), await ended(rig, base)];
    assert.ok(sheetDone.status === "done" && baseDone.status === "done");
    assert.deepEqual(await listing(rig, FOLDER), [
      [sheetDone.token, "q3", "sheet", `https://emulator.larksuite.com/sheets/${sheetDone.token}`],
      [baseDone.token, "CRM", "bitable", `https://emulator.larksuite.com/base/${baseDone.token}`],
    ]);
    assert.deepEqual([sheetDone.type, baseDone.type], ["sheet", "bitable"]);
  });
});

describe("how an import ends, as result reports it", () => {
  /** Imports one csv per outcome, all from one source; answers the results in the same order. */
  async function outcomes(rig: Rig, count: number) {
    const fileToken = await uploadSource(rig, "figures.csv", "sheet");
    const tickets = [];
    for (let i = 0; i < count; i++) {
      tickets.push(
        await rig.imports.createTask({ fileToken, extension: "csv", type: "sheet", folderToken: FOLDER }, rig.retry()),
      );
    }
    return Promise.all(tickets.map((ticket) => ended(rig, ticket)));
  }

  test("done with Lark's warnings (truncated columns, images that failed) as numbers", async (t) => {
    const rig = await withFolders(t);
    rig.emu.importOutcome({ jobStatus: 0, extra: ["2000", "2004"] });
    const [done] = await outcomes(rig, 1);
    assert.equal(done!.status, "done");
    assert.deepEqual(done!.status === "done" && done!.warnings, [2000, 2004]);
  });

  const TRANSIENT: ImportFailureStatus[] = [3, 101, 102, 103, 106, 108, 109, 114, 122, 5000];
  const PERMANENT: ImportFailureStatus[] = [
    100, 104, 105, 110, 112, 113, 115, 116, 117, 118, 119, 120, 121, 7000, 7001, 7002,
  ];

  test("failed: Lark's internal errors, timeouts and copies are transient; the rest the user's to fix", async (t) => {
    const rig = await withFolders(t);
    for (const jobStatus of [...TRANSIENT, ...PERMANENT]) rig.emu.importOutcome({ jobStatus });
    rig.emu.importOutcome({ jobStatus: 112, jobErrorMsg: "unsupported markdown dialect" });
    const results = await outcomes(rig, TRANSIENT.length + PERMANENT.length + 1);
    const expected = [
      ...TRANSIENT.map((jobStatus) => ({ jobStatus, transient: true })),
      ...PERMANENT.map((jobStatus) => ({ jobStatus, transient: false })),
      { jobStatus: 112, transient: false },
    ];
    assert.deepEqual(
      results.map((result) =>
        result.status === "failed" ? { jobStatus: result.jobStatus, transient: result.transient } : result,
      ),
      expected,
    );
    const messages = results.map((result) => result.status === "failed" && result.message);
    assert.equal(messages[0], "internal error");
    assert.equal(messages[TRANSIENT.length], "import file is encrypted");
    assert.equal(messages.at(-1), "unsupported markdown dialect");
    assert.deepEqual(await listing(rig, FOLDER), [], "a failed import makes no document");
  });
});

describe("Lark's refusals of a task", () => {
  test("1069910, 1069911, 1069913, 1069908, 1069912: RejectionError with Lark's code", async (t) => {
    const rig = await withFolders(t);
    const fileToken = await uploadSource(rig, "minutes.md", "docx");
    const task = { fileToken, extension: "md", type: "docx", folderToken: FOLDER } as const;
    const refused = async (changes: { extension?: ImportExtension; type?: ImportType; folderToken?: string }) =>
      (await rejection(rig.imports.createTask({ ...task, ...changes }, rig.retry()))).larkCode;
    assert.equal(await refused({ extension: "txt" }), 1069910, "not the extension the upload declared");
    assert.equal(await refused({ type: "sheet" }), 1069911, "a markdown file is no sheet");
    assert.equal(await refused({ folderToken: READ_ONLY }), 1069908, "a folder the app may not write into");
    assert.equal(await refused({ folderToken: "fldcnNoSuchFolder000000001" }), 1069912);
    rig.emu.expireImportUploads();
    const expired = await rejection(rig.imports.createTask(task, rig.retry()));
    assert.deepEqual([expired.larkCode, expired.code], [1069913, "lark-1069913"]);
    assert.equal(rig.emu.imports.size, 0);
  });

  test("transient faults are retried: too many requests, internal errors (create and read)", async (t) => {
    const rig = await withFolders(t);
    for (const code of [1069923, 1069901, 1069903])
      rig.emu.injectFault({ path: "drive.importTask.create", fault: { kind: "code", code } });
    rig.emu.injectFault({ path: "drive.importTask.get", fault: { kind: "code", code: 1069905 } });
    const fileToken = await uploadSource(rig, "minutes.md", "docx");
    const counter = newCounter();
    const ticket = await rig.imports.createTask(
      { fileToken, extension: "md", type: "docx", folderToken: FOLDER },
      rig.retry(),
      counter,
    );
    assert.equal(counter.calls, 4);
    const reads = newCounter();
    await rig.imports.result(ticket, rig.retry(), reads);
    assert.equal(reads.calls, 2);
    assert.equal((await ended(rig, ticket)).status, "done");
  });
});

describe("Lark's limits under a burst", () => {
  test("150 tasks created and read at once: 100 creates a minute, 50 reads a second; no refusal", async (t) => {
    const rig = await withFolders(t);
    const fileToken = await uploadSource(rig, "minutes.md", "docx");
    const once = rig.retry({ maxAttempts: 1 });
    const started = Date.now();
    const tickets = await Promise.all(
      Array.from({ length: 150 }, (_, i) =>
        rig.imports.createTask(
          { fileToken, extension: "md", type: "docx", title: `burst ${i}`, folderToken: FOLDER },
          once,
        ),
      ),
    );
    assert.ok(Date.now() - started >= 60_000 * TIME_SCALE, "the 101st waited for a window");
    await sleep(2000 * TIME_SCALE); // the jobs end
    const results = await Promise.all(tickets.map((ticket) => rig.imports.result(ticket, once)));
    assert.deepEqual(rig.emu.stats().limitViolations, {});
    assert.equal(results.filter((result) => result.status === "done").length, 150);
    assert.equal(rig.emu.folders.get(FOLDER)!.items.length, 150);
  });
});

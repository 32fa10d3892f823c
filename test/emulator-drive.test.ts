// Proof that the emulator's Drive folders and files speak Lark's drive/v1 files API (the official SDK uploads
// whole and in blocks, and lists folders, through it) and are strict: parent types and folders (unknown, removed,
// read-only, full), the admission shared with the media uploads, listing pages and their codes.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { PassThrough } from "node:stream";
import { describe, type TestContext, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import FormData from "form-data";
import { request } from "undici";
import { adler32Decimal, BLOCK_SIZE, type LarkEmulatorOptions } from "../local/lark-emulator";
import { assertLark, call, sdkClient, sdkFailure, startEmulator, tenantToken, upload } from "./support/emulator";

const FOLDER = "fldcnEmulatorSharedFolder01";
const READ_ONLY = "fldcnEmulatorReadOnlyFold01";
const MIB = 1024 * 1024;

async function withFolders(t: TestContext, opts: LarkEmulatorOptions = {}) {
  const emu = await startEmulator(t, { ratePerWindow: 1000, ...opts });
  emu.addFolder(FOLDER, { name: "Inbox" });
  emu.addFolder(READ_ONLY, { editable: false });
  return { emu, token: await tenantToken(emu) };
}

const intoFolder = (parentNode: string | undefined, fileName = "report.pdf", bytes = Buffer.from("%PDF-1.4")) => ({
  api: "files" as const,
  parentType: "explorer",
  parentNode,
  fileName,
  bytes,
});

describe("the official SDK puts files into Drive folders", () => {
  test("file.uploadAll into a folder: the file is listed there, with its url, and received", async (t) => {
    const { emu } = await withFolders(t);
    const client = sdkClient(emu);
    const bytes = Buffer.from("%PDF-1.4 quarterly");
    const uploaded = await client.drive.v1.file.uploadAll({
      data: {
        file_name: "Q3 report.pdf",
        parent_type: "explorer",
        parent_node: FOLDER,
        size: bytes.length,
        checksum: adler32Decimal(bytes),
        file: bytes,
      },
    });
    const fileToken = uploaded!.file_token!;
    assert.match(fileToken, /^boxcn[A-Za-z0-9]{22}$/);

    const listed = await client.drive.v1.file.list({ params: { folder_token: FOLDER } });
    assert.equal(listed.code, 0);
    assert.equal(listed.data!.has_more, false);
    const [item] = listed.data!.files!;
    assert.deepEqual(
      { token: item.token, name: item.name, type: item.type, parent: item.parent_token, url: item.url },
      {
        token: fileToken,
        name: "Q3 report.pdf",
        type: "file",
        parent: FOLDER,
        url: `https://emulator.larksuite.com/file/${fileToken}`,
      },
    );
    assert.match(item.created_time!, /^\d{10}$/);
    const received = emu.files.find((f) => f.fileToken === fileToken)!;
    assert.deepEqual([received.parentType, received.parentNode, received.size], ["explorer", FOLDER, bytes.length]);
    assert.deepEqual(emu.state().folders.find((f) => f.token === FOLDER)!.items, listed.data!.files);
  });

  test("a 25 MiB file through uploadPrepare / uploadPart / uploadFinish", async (t) => {
    const { emu } = await withFolders(t, { keepBytes: true });
    const client = sdkClient(emu);
    const file = randomBytes(25 * MIB);
    const prepared = await client.drive.v1.file.uploadPrepare({
      data: { file_name: "backup.tar", parent_type: "explorer", parent_node: FOLDER, size: file.length },
    });
    assert.deepEqual([prepared.data!.block_size, prepared.data!.block_num], [BLOCK_SIZE, 7]);
    const upload_id = prepared.data!.upload_id!;
    for (let seq = 0; seq < 7; seq++) {
      const block = file.subarray(seq * BLOCK_SIZE, (seq + 1) * BLOCK_SIZE);
      await client.drive.v1.file.uploadPart({
        data: { upload_id, seq, size: block.length, checksum: adler32Decimal(block), file: block },
      });
    }
    const finished = await client.drive.v1.file.uploadFinish({ data: { upload_id, block_num: 7 } });
    const fileToken = finished.data!.file_token!;
    const received = emu.files.find((f) => f.fileToken === fileToken)!;
    assert.deepEqual([received.route, received.size, received.adler32], ["chunked", file.length, adler32Decimal(file)]);
    assert.deepEqual(received.bytes, file);
    assert.equal(emu.folders.get(FOLDER)!.items[0].token, fileToken);
  });

  test("file.list pages a folder: page_size, next_page_token, has_more", async (t) => {
    const { emu, token } = await withFolders(t);
    for (const name of ["a.txt", "b.txt", "c.txt"])
      assertLark(await upload(emu, token, intoFolder(FOLDER, name)), 200, 0);
    const client = sdkClient(emu);
    const first = await client.drive.v1.file.list({ params: { folder_token: FOLDER, page_size: 2 } });
    assert.deepEqual(
      first.data!.files!.map((f) => f.name),
      ["a.txt", "b.txt"],
    );
    assert.equal(first.data!.has_more, true);
    const second = await client.drive.v1.file.list({
      params: { folder_token: FOLDER, page_size: 2, page_token: first.data!.next_page_token! },
    });
    assert.deepEqual(
      second.data!.files!.map((f) => f.name),
      ["c.txt"],
    );
    assert.equal(second.data!.has_more, false);
    assert.equal(second.data!.next_page_token, undefined);
  });
});

describe("Drive uploads are strict", () => {
  test('parent_node "" is the app\'s root folder, whose listing (folder_token "") is not paginated', async (t) => {
    const { emu, token } = await withFolders(t);
    for (const name of ["one.txt", "two.txt"]) assertLark(await upload(emu, token, intoFolder("", name)), 200, 0);
    const root = await call(emu, "GET", "/open-apis/drive/v1/files", { token, query: { page_size: 1 } });
    assertLark(root, 200, 0);
    assert.deepEqual(
      root.json.data.files.map((f: { name: string; parent_token: string }) => [f.name, f.parent_token]),
      [
        ["one.txt", emu.rootFolderToken],
        ["two.txt", emu.rootFolderToken],
      ],
    );
    const byToken = await call(emu, "GET", "/open-apis/drive/v1/files", {
      token,
      query: { folder_token: emu.rootFolderToken, page_size: 1 },
    });
    assert.equal(byToken.json.data.has_more, true);
  });

  test("folders: unknown 1061044, read-only 1061004, removed 1061041, full 1062507", async (t) => {
    const { emu, token } = await withFolders(t, { folderItemLimit: 2 });
    assertLark(await upload(emu, token, intoFolder("fldcnNoSuchFolder")), 400, 1061044);
    assertLark(await upload(emu, token, intoFolder(READ_ONLY)), 403, 1061004);
    assertLark(await upload(emu, token, intoFolder(FOLDER, "1.txt")), 200, 0);
    assertLark(await upload(emu, token, intoFolder(FOLDER, "2.txt")), 200, 0);
    assertLark(await upload(emu, token, intoFolder(FOLDER, "3.txt")), 400, 1062507);
    emu.removeFolder(FOLDER);
    assertLark(await upload(emu, token, intoFolder(FOLDER)), 400, 1061041);
    assert.equal(emu.files.length, 2);
  });

  test("parent_type must be explorer, parent_node given; media parent types stay media's", async (t) => {
    const { emu, token } = await withFolders(t);
    assertLark(await upload(emu, token, { ...intoFolder(FOLDER), parentType: "wiki" }), 400, 1061002);
    assertLark(await upload(emu, token, { ...intoFolder(FOLDER), parentType: "docx_file" }), 400, 1061002);
    assertLark(await upload(emu, token, intoFolder(undefined)), 400, 1061002);
    assertLark(await upload(emu, token, { ...intoFolder(FOLDER), api: "medias" }), 400, 1061002);
    assertLark(await upload(emu, token, intoFolder(FOLDER, "x".repeat(251))), 400, 1061008);
    assertLark(await upload(emu, token, intoFolder(FOLDER, "empty.txt", Buffer.alloc(0))), 400, 1061002);
    assert.equal(emu.files.length, 0);
  });

  test("an upload id belongs to its API; expireUploadIds reaches Drive uploads (1061021)", async (t) => {
    const { emu, token } = await withFolders(t);
    const prepare = (api: "medias" | "files", body: Record<string, unknown>) =>
      call(emu, "POST", `/open-apis/drive/v1/${api}/upload_prepare`, {
        token,
        body: { file_name: "a.bin", size: 3, ...body },
      });
    const media = await prepare("medias", { parent_type: "moments", parent_node: "momentsNode" });
    const drive = await prepare("files", { parent_type: "explorer", parent_node: FOLDER });
    const finish = (api: "medias" | "files", upload_id: string) =>
      call(emu, "POST", `/open-apis/drive/v1/${api}/upload_finish`, { token, body: { upload_id, block_num: 1 } });
    assertLark(await finish("files", media.json.data.upload_id), 400, 1061002);
    emu.expireUploadIds();
    assertLark(await finish("files", drive.json.data.upload_id), 400, 1061021);
  });

  test("Drive and media uploads share one at a time (1061045) and one rate window", async (t) => {
    const { emu, token } = await withFolders(t, { ratePerWindow: 3 });
    const form = new FormData();
    for (const [k, v] of Object.entries({ file_name: "slow.txt", parent_type: "explorer", parent_node: FOLDER }))
      form.append(k, v);
    form.append("size", "9");
    form.append("file", Buffer.from("slow body"), { filename: "blob" });
    const body = form.getBuffer();
    const stream = new PassThrough();
    stream.write(body.subarray(0, body.length - 10));
    const slow = request(`${emu.url}/open-apis/drive/v1/files/upload_all`, {
      method: "POST",
      headers: { ...form.getHeaders(), authorization: `Bearer ${token}` },
      body: stream,
    });
    while (emu.requests.length < 1) await sleep(2); // the Drive upload is streaming
    const media = await upload(emu, token, { parentType: "moments", parentNode: "momentsNode" });
    assertLark(media, 200, 1061045);
    stream.end(body.subarray(body.length - 10));
    assert.equal(((await (await slow).body.json()) as { code: number }).code, 0);
    assertLark(await upload(emu, token, { parentType: "moments", parentNode: "momentsNode" }), 200, 0);
    assertLark(await upload(emu, token, intoFolder(FOLDER)), 200, 0); // the third admitted in this second
    assertLark(await upload(emu, token, { parentType: "moments", parentNode: "momentsNode" }), 429, 99991400);
    assert.deepEqual(emu.stats().limitViolations, { "media.one_at_a_time": 1, media: 1 });
  });
});

describe("folder listing is strict", () => {
  test("page_size 1..200 (1064001), page_token (1061002), unknown 1061003 and removed 1061007 folders", async (t) => {
    const { emu, token } = await withFolders(t);
    const list = (query: Record<string, string | number>) =>
      call(emu, "GET", "/open-apis/drive/v1/files", { token, query });
    assertLark(await list({ folder_token: FOLDER, page_size: 200 }), 200, 0);
    assertLark(await list({ folder_token: FOLDER, page_size: 201 }), 400, 1064001);
    assertLark(await list({ folder_token: FOLDER, page_size: 0 }), 400, 1064001);
    assertLark(await list({ folder_token: FOLDER, page_token: "not-ours" }), 400, 1061002);
    assertLark(await list({ folder_token: "fldcnNoSuchFolder" }), 404, 1061003);
    assertLark(await list({ folder_token: READ_ONLY }), 200, 0);
    emu.removeFolder(FOLDER);
    assertLark(await list({ folder_token: FOLDER }), 404, 1061007);
    const client = sdkClient(emu);
    const sdkSeen = client.drive.v1.file.list({ params: { folder_token: FOLDER } });
    assert.deepEqual(await sdkFailure(sdkSeen), { status: 404, code: 1061007 });
  });

  test("50 listings/s per app: the 51st is HTTP 429 + 99991400", async (t) => {
    const { emu, token } = await withFolders(t);
    const answers = [];
    for (let i = 0; i < 51; i++)
      answers.push(await call(emu, "GET", "/open-apis/drive/v1/files", { token, query: { folder_token: FOLDER } }));
    assertLark(answers[49], 200, 0);
    assertLark(answers[50], 429, 99991400);
    assert.deepEqual(emu.stats().limitViolations, { "drive.file_list": 1 });
  });
});

// Drive files through the function's own Lark stack against the emulator over HTTP: the media client built for the
// files API puts a file into a folder whole (upload_all) or in blocks (upload_prepare / upload_part /
// upload_finish), or into the app's root; Lark's refusals of a folder; and Drive and media uploads at once keeping
// the one rule they share.

import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { describe, type TestContext, test } from "node:test";
import ADLER32 from "adler-32";
import { type Block, readBlocks } from "../lib/blocks";
import { newCounter } from "../lib/lark/client";
import { DRIVE_FILES, type DriveFile, LarkMedia } from "../lib/lark/media";
import { DRIVE_FOLDER } from "../lib/lark/parent-types";
import type { LarkEmulatorOptions } from "../local/lark-emulator";
import { call, tenantToken } from "./support/emulator";
import { type LarkRig, rejection, startLark } from "./support/lark";

const FOLDER = "fldcnClientDriveFolder0001";
const READ_ONLY = "fldcnClientReadOnlyFolder1";
const MIB = 1024 * 1024;
const TIME_SCALE = 0.02; // Lark's 1 s windows last 20 ms

async function withFolders(t: TestContext, opts: LarkEmulatorOptions = {}) {
  const rig = await startLark(t, { timeScale: TIME_SCALE, ...opts });
  rig.emu.addFolder(FOLDER, { name: "Inbox" });
  rig.emu.addFolder(READ_ONLY, { editable: false });
  return { ...rig, drive: new LarkMedia(rig.client, rig.limits, DRIVE_FILES) };
}

const intoFolder = (folder: string, name: string, size: number): DriveFile => ({
  name,
  parentType: DRIVE_FOLDER,
  parentNode: folder,
  size,
});

const wholeBlock = (bytes: Buffer): Block => ({
  parts: [bytes],
  size: bytes.length,
  adler32: ADLER32.buf(bytes) >>> 0,
});

/** The bytes in blocks of Lark's size, as the pipeline reads an object: 1 MiB chunks cut at block boundaries. */
async function* chunks(bytes: Buffer): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += MIB) yield bytes.subarray(at, at + MIB);
}
const blocksOf = (bytes: Buffer) => (blockSize: number) => readBlocks(chunks(bytes), bytes.length, blockSize, "test");

const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

/** A folder's listing, as a user's client reads it (folder_token "" is the app's root). */
async function listing(rig: LarkRig, folderToken: string) {
  const answer = await call(rig.emu, "GET", "/open-apis/drive/v1/files", {
    token: await tenantToken(rig.emu),
    query: { folder_token: folderToken },
  });
  assert.equal(answer.json.code, 0, JSON.stringify(answer.json));
  return answer.json.data.files as { token: string; name: string; type: string; url: string }[];
}

const received = (rig: LarkRig, fileToken: string) => rig.emu.files.find((file) => file.fileToken === fileToken)!;

describe("a Drive file in a folder", () => {
  test("upload_all: the file is in the folder's listing, under its name, its bytes as sent", async (t) => {
    const rig = await withFolders(t);
    const bytes = Buffer.from("%PDF-1.4 quarterly figures");
    const result = await rig.drive.uploadAll(
      intoFolder(FOLDER, "Q3 report.pdf", bytes.length),
      wholeBlock(bytes),
      rig.retry(),
    );
    assert.match(result.fileToken, /^boxcn/);
    assert.equal(result.calls, 1);
    const [item, ...others] = await listing(rig, FOLDER);
    assert.deepEqual(others, []);
    assert.deepEqual(
      { token: item!.token, name: item!.name, type: item!.type, url: item!.url },
      {
        token: result.fileToken,
        name: "Q3 report.pdf",
        type: "file",
        url: `https://emulator.larksuite.com/file/${result.fileToken}`,
      },
    );
    const file = received(rig, result.fileToken);
    assert.deepEqual([file.route, file.parentType, file.sha256], ["upload_all", "explorer", sha256(bytes)]);
  });

  test("25 MiB in blocks: upload_prepare, 7 parts, upload_finish; listed, the bytes' hash equal", async (t) => {
    const rig = await withFolders(t);
    const bytes = randomBytes(25 * MIB);
    const result = await rig.drive.uploadChunked(
      intoFolder(FOLDER, "backup.tar", bytes.length),
      blocksOf(bytes),
      rig.retry(),
    );
    assert.equal(result.calls, 9, "prepare, 7 parts, finish");
    assert.deepEqual(
      (await listing(rig, FOLDER)).map((item) => [item.token, item.name]),
      [[result.fileToken, "backup.tar"]],
    );
    const file = received(rig, result.fileToken);
    assert.deepEqual([file.route, file.size, file.sha256], ["chunked", bytes.length, sha256(bytes)]);
  });

  test('parent node "" is the app\'s root folder, whole or in blocks', async (t) => {
    const rig = await withFolders(t);
    const small = Buffer.from("notes");
    const large = randomBytes(5 * MIB); // two blocks: the flow, not the size, is what the root must take
    const whole = await rig.drive.uploadAll(intoFolder("", "notes.txt", small.length), wholeBlock(small), rig.retry());
    const chunked = await rig.drive.uploadChunked(
      intoFolder("", "blocks.bin", large.length),
      blocksOf(large),
      rig.retry(),
    );
    assert.deepEqual(
      (await listing(rig, "")).map((item) => [item.token, item.name]),
      [
        [whole.fileToken, "notes.txt"],
        [chunked.fileToken, "blocks.bin"],
      ],
    );
    assert.deepEqual(await listing(rig, FOLDER), []);
  });
});

describe("Lark's refusals of a folder", () => {
  test("unknown 1061044, read-only 1061004, removed 1061041: RejectionError with Lark's code, nothing listed", async (t) => {
    const rig = await withFolders(t);
    const bytes = Buffer.from("refused");
    const upload = (folder: string) =>
      rig.drive.uploadAll(intoFolder(folder, "refused.txt", bytes.length), wholeBlock(bytes), rig.retry());
    assert.equal((await rejection(upload("fldcnNoSuchFolder000000001"))).larkCode, 1061044);
    assert.equal((await rejection(upload(READ_ONLY))).code, "lark-1061004");
    rig.emu.removeFolder(FOLDER);
    const removed = await rejection(
      rig.drive.uploadChunked(intoFolder(FOLDER, "refused.txt", bytes.length), blocksOf(bytes), rig.retry()),
    );
    assert.equal(removed.larkCode, 1061041);
    assert.equal(rig.emu.files.length, 0);
  });
});

describe("Drive and media uploads at once", () => {
  test("one pacer for both APIs: 5 a second, one at a time; Lark refuses none", async (t) => {
    const rig = await withFolders(t);
    const media = new LarkMedia(rig.client, rig.limits);
    const bytes = Buffer.from("burst");
    const counter = newCounter();
    const started = Date.now();
    await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const result =
          i % 2
            ? await rig.drive.uploadAll(intoFolder(FOLDER, `${i}.txt`, bytes.length), wholeBlock(bytes), rig.retry())
            : await media.uploadAll(
                { name: `${i}.txt`, parentType: "moments", parentNode: "momentsNode", size: bytes.length },
                wholeBlock(bytes),
                rig.retry(),
              );
        counter.calls += result.calls;
      }),
    );
    assert.equal(counter.calls, 12, "no call was refused and retried");
    assert.deepEqual(rig.emu.stats().limitViolations, {});
    assert.equal(rig.emu.stats().maxInFlight, 1);
    assert.equal((await listing(rig, FOLDER)).length, 6);
    assert.ok(Date.now() - started >= 2 * 1000 * TIME_SCALE, "12 uploads take at least two more windows than one");
  });
});

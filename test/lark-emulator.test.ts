// Proof that the Lark emulator's media and auth families (local/lark-emulator/) speak Lark (the official SDK
// uploads through them) and that they are strict (every documented rejection, the rate and concurrency limits,
// and each injectable fault).

import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { PassThrough, type Readable } from "node:stream";
import { describe, type TestContext, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import * as lark from "@larksuiteoapi/node-sdk";
import ADLER32 from "adler-32";
import FormData from "form-data";
import { request } from "undici";
import { type LarkEmulator, type LarkEmulatorOptions, startLarkEmulator } from "../local/lark-emulator";

const BLOCK = 4194304;
const adler = (b: Buffer) => (ADLER32.buf(b) >>> 0).toString();
const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

async function start(t: TestContext, opts: LarkEmulatorOptions = {}): Promise<LarkEmulator> {
  const emu = await startLarkEmulator(opts);
  t.after(() => emu.close());
  return emu;
}
/** Most tests are about one rule, not the rate limit: give them room. */
const roomy = (t: TestContext, opts: LarkEmulatorOptions = {}) => start(t, { ratePerWindow: 1000, ...opts });

// ---------- raw client: form-data bodies sent with undici ----------

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
}
async function call(
  url: string,
  init: { body?: Buffer | string | Readable; headers?: Record<string, string> },
): Promise<Answer> {
  const r = await request(url, { method: "POST", body: init.body, headers: init.headers });
  const text = await r.body.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: r.statusCode, headers: r.headers, text, json };
}

const tokenUrl = (emu: LarkEmulator) => `${emu.url}/open-apis/auth/v3/tenant_access_token/internal`;
const mediaUrl = (emu: LarkEmulator, endpoint: string) => `${emu.url}/open-apis/drive/v1/medias/${endpoint}`;

async function askToken(emu: LarkEmulator, body: unknown): Promise<Answer> {
  return call(tokenUrl(emu), { body: JSON.stringify(body), headers: { "content-type": "application/json" } });
}
async function getToken(emu: LarkEmulator): Promise<string> {
  const a = await askToken(emu, { app_id: emu.appId, app_secret: emu.appSecret });
  assert.equal(a.json.code, 0);
  return a.json.tenant_access_token;
}

type Part = [name: string, value: string | Buffer];
function form(parts: Part[]): { body: Buffer; headers: Record<string, string> } {
  const f = new FormData();
  for (const [name, value] of parts) {
    if (typeof value === "string") f.append(name, value);
    else f.append(name, value, { filename: "blob.bin", contentType: "application/octet-stream" });
  }
  return { body: f.getBuffer(), headers: f.getHeaders() };
}

/** The parts of a valid upload_all; override a field with a string, drop it with null. */
function uploadParts(file: Buffer, over: Record<string, string | null> = {}): Part[] {
  const fields: Record<string, string | null> = {
    file_name: "report.pdf",
    parent_type: "docx_file",
    parent_node: "doxcnTarget",
    size: String(file.length),
    checksum: adler(file),
    ...over,
  };
  const present = Object.entries(fields).filter((e): e is [string, string] => e[1] !== null);
  return [...present, ["file", file]];
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function postForm(
  emu: LarkEmulator,
  endpoint: string,
  parts: Part[],
  auth: Record<string, string>,
): Promise<Answer> {
  const { body, headers } = form(parts);
  return call(mediaUrl(emu, endpoint), { body, headers: { ...headers, ...auth } });
}
const uploadAll = (emu: LarkEmulator, token: string, parts: Part[]) =>
  postForm(emu, "upload_all", parts, bearer(token));

async function postJson(emu: LarkEmulator, endpoint: string, token: string, body: unknown): Promise<Answer> {
  return call(mediaUrl(emu, endpoint), {
    body: JSON.stringify(body),
    headers: { "content-type": "application/json; charset=utf-8", ...bearer(token) },
  });
}

function assertLark(a: Answer, status: number, code: number) {
  assert.equal(a.status, status, `HTTP status, body ${a.text}`);
  assert.equal(a.json?.code, code, `code, body ${a.text}`);
}

// ---------- official SDK ----------

function sdkClient(emu: LarkEmulator) {
  return new lark.Client({
    appId: emu.appId,
    appSecret: emu.appSecret,
    domain: emu.url,
    cache: new lark.DefaultCache(), // its own: the SDK's default token cache is shared process-wide by app id
    loggerLevel: lark.LoggerLevel.fatal,
  });
}

describe("the official node SDK talks to the emulator", () => {
  test("uploadAll: token, multipart, UTF-8 name, checksum and file_token round-trip", async (t) => {
    const emu = await start(t, { keepBytes: true });
    const client = sdkClient(emu);
    const file = randomBytes(100_000);
    const name = "报告 (final) ü.pdf";
    const res = await client.drive.media.uploadAll({
      data: {
        file_name: name,
        parent_type: "docx_file",
        parent_node: "doxcnTarget",
        size: file.length,
        checksum: adler(file),
        file,
      },
    });
    assert.match(res?.file_token ?? "", /^boxcn[A-Za-z0-9]{22}$/);
    assert.equal(emu.files.length, 1);
    const got = emu.files[0];
    assert.equal(got.fileToken, res?.file_token);
    assert.equal(got.fileName, name);
    assert.equal(got.size, file.length);
    assert.equal(got.sha256, sha256(file));
    assert.equal(got.adler32, adler(file));
    assert.equal(got.checksum, adler(file));
    assert.equal(got.parentType, "docx_file");
    assert.equal(got.parentNode, "doxcnTarget");
    assert.equal(got.route, "upload_all");
    assert.deepEqual(got.bytes, file);

    // The SDK caches the token: a second upload costs no token request.
    await client.drive.media.uploadAll({
      data: {
        file_name: "b.bin",
        parent_type: "docx_file",
        parent_node: "doxcnTarget",
        size: 3,
        file: Buffer.from("abc"),
      },
    });
    assert.deepEqual(
      { uploads: emu.stats().uploads, tokenRequests: emu.stats().tokenRequests },
      { uploads: 2, tokenRequests: 1 },
    );
  });

  test("chunked: uploadPrepare / uploadPart / uploadFinish assemble the file in seq order", async (t) => {
    const emu = await start(t, { keepBytes: true });
    const client = sdkClient(emu);
    const file = randomBytes(2 * BLOCK + 1000);
    const prep = await client.drive.media.uploadPrepare({
      data: {
        file_name: "大文件.bin",
        parent_type: "ccm_import_open",
        parent_node: "fldcnX",
        size: file.length,
        extra: '{"obj_type":"docx","file_extension":"md"}',
      },
    });
    assert.equal(prep.code, 0);
    assert.equal(prep.data?.block_size, BLOCK);
    assert.equal(prep.data?.block_num, 3);
    const uploadId = prep.data!.upload_id!;
    for (const seq of [2, 0, 1]) {
      // out of order on purpose: finish must order by seq
      const block = file.subarray(seq * BLOCK, Math.min(file.length, (seq + 1) * BLOCK));
      await client.drive.media.uploadPart({
        data: { upload_id: uploadId, seq, size: block.length, checksum: adler(block), file: block },
      });
    }
    const fin = await client.drive.media.uploadFinish({ data: { upload_id: uploadId, block_num: 3 } });
    assert.equal(fin.code, 0);
    assert.equal(emu.files.length, 1);
    const got = emu.files[0];
    assert.equal(got.fileToken, fin.data?.file_token);
    assert.equal(got.route, "chunked");
    assert.equal(got.fileName, "大文件.bin");
    assert.equal(got.size, file.length);
    assert.equal(got.sha256, sha256(file));
    assert.equal(got.adler32, adler(file));
    assert.equal(got.extra, '{"obj_type":"docx","file_extension":"md"}');
    assert.deepEqual(got.bytes, file);
  });

  test("SDK sees Lark's error shape (HTTP 400 + code) on a bad checksum", async (t) => {
    const emu = await start(t);
    const client = sdkClient(emu);
    const err: any = await client.drive.media
      .uploadAll({
        data: {
          file_name: "a",
          parent_type: "docx_file",
          parent_node: "n",
          size: 3,
          checksum: "12345",
          file: Buffer.from("abc"),
        },
      })
      .then(
        () => assert.fail("must reject"),
        (e) => e,
      );
    assert.equal(err.response?.status, 400);
    assert.equal(err.response?.data?.code, 1062008);
    assert.equal(emu.files.length, 0);
  });
});

// ---------- token endpoint ----------

describe("tenant_access_token/internal", () => {
  test("issues t- tokens, reuses one with > 30 min left, counts requests", async (t) => {
    const emu = await start(t);
    const a = await askToken(emu, { app_id: emu.appId, app_secret: emu.appSecret });
    assertLark(a, 200, 0);
    assert.equal(a.json.msg, "ok");
    assert.match(a.json.tenant_access_token, /^t-[A-Za-z0-9]{40}$/);
    assert.equal(a.json.expire, 7200);
    const b = await askToken(emu, { app_id: emu.appId, app_secret: emu.appSecret });
    assert.equal(b.json.tenant_access_token, a.json.tenant_access_token);
    assert.ok(b.json.expire <= 7200 && b.json.expire > 7190);
    assert.equal(emu.stats().tokenRequests, 2);
  });

  test("short TTL: each request gets a new token and the old one stays valid until it expires", async (t) => {
    const emu = await roomy(t, { tokenTtlSeconds: 60 });
    const first = await getToken(emu);
    const second = await getToken(emu);
    assert.notEqual(first, second);
    assertLark(await uploadAll(emu, first, uploadParts(Buffer.from("x"))), 200, 0);
    assertLark(await uploadAll(emu, second, uploadParts(Buffer.from("y"))), 200, 0);
  });

  test("bad credentials answer HTTP 200 with 10014 / 10003 and no token", async (t) => {
    const emu = await start(t);
    const wrongSecret = await askToken(emu, { app_id: emu.appId, app_secret: "nope" });
    assertLark(wrongSecret, 200, 10014);
    assert.equal(wrongSecret.json.msg, "app secret invalid");
    assert.equal(wrongSecret.json.tenant_access_token, undefined);
    const unknownApp = await askToken(emu, { app_id: "cli_other", app_secret: emu.appSecret });
    assertLark(unknownApp, 200, 10014);
    assert.equal(unknownApp.json.msg, "app id not exists");
    assertLark(await askToken(emu, { app_id: emu.appId }), 200, 10003);
    assertLark(await call(tokenUrl(emu), { body: "app_id=x", headers: { "content-type": "text/plain" } }), 200, 10003);
    assert.equal(emu.stats().tokenRequests, 4);
  });
});

// ---------- upload_all strictness ----------

describe("upload_all is strict", () => {
  test("a valid raw upload succeeds and is recorded without bytes by default", async (t) => {
    const emu = await roomy(t);
    const token = await getToken(emu);
    const file = Buffer.from("hello world");
    const a = await uploadAll(emu, token, uploadParts(file));
    assertLark(a, 200, 0);
    assert.equal(a.json.msg, "success");
    assert.equal(emu.files[0].fileToken, a.json.data.file_token);
    assert.equal(emu.files[0].adler32, "436929629"); // Adler-32 of "hello world"
    assert.equal(emu.files[0].bytes, undefined);
  });

  test("checksum must be the unsigned decimal Adler-32 of the bytes", async (t) => {
    const emu = await roomy(t);
    const token = await getToken(emu);
    const file = Buffer.from("hello world");
    assertLark(await uploadAll(emu, token, uploadParts(file, { checksum: "436929630" })), 400, 1062008);
    assertLark(await uploadAll(emu, token, uploadParts(file, { checksum: "0x1a0b045d" })), 400, 1062008);
    // A file whose Adler-32 is above 2^31: the signed value the npm package returns is rejected.
    let big = Buffer.alloc(0);
    for (let n = 1; n < 5000 && ADLER32.buf(big) >= 0; n++) big = Buffer.alloc(n, 0xab);
    assert.ok(ADLER32.buf(big) < 0, "found a buffer whose signed Adler-32 is negative");
    assertLark(await uploadAll(emu, token, uploadParts(big, { checksum: String(ADLER32.buf(big)) })), 400, 1062008);
    assertLark(await uploadAll(emu, token, uploadParts(big)), 200, 0);
    assertLark(await uploadAll(emu, token, uploadParts(file, { checksum: null })), 200, 0); // optional
    assert.equal(emu.files.length, 2);
  });

  test("actual byte count must equal the declared size", async (t) => {
    const emu = await roomy(t);
    const token = await getToken(emu);
    const file = Buffer.from("0123456789");
    assertLark(await uploadAll(emu, token, uploadParts(file, { size: "11", checksum: null })), 400, 1062009);
    assertLark(await uploadAll(emu, token, uploadParts(file, { size: "9", checksum: null })), 400, 1062009);
    assert.equal(emu.files.length, 0);
  });

  test("declared size above 20971520 is 1061043 before any byte is judged; exactly 20971520 is allowed", async (t) => {
    const emu = await roomy(t);
    const token = await getToken(emu);
    const small = Buffer.from("tiny");
    assertLark(await uploadAll(emu, token, uploadParts(small, { size: "20971521", checksum: null })), 400, 1061043);
    // At the limit the size is fine, so the (short) body is what fails.
    assertLark(await uploadAll(emu, token, uploadParts(small, { size: "20971520", checksum: null })), 400, 1062009);
  });

  test("size must be a positive decimal integer; empty files are params errors", async (t) => {
    const emu = await roomy(t);
    const token = await getToken(emu);
    for (const size of ["abc", "-1", "1.5", " 4", ""]) {
      assertLark(await uploadAll(emu, token, uploadParts(Buffer.from("abcd"), { size, checksum: null })), 400, 1061002);
    }
    assertLark(await uploadAll(emu, token, uploadParts(Buffer.alloc(0))), 400, 1061002);
  });

  test("the file part must be last, present, and named file", async (t) => {
    const emu = await roomy(t);
    const token = await getToken(emu);
    const file = Buffer.from("abc");
    const parts = uploadParts(file, { checksum: null });
    const fileLast = parts.pop()!;
    assertLark(await uploadAll(emu, token, [...parts.slice(0, -1), fileLast, parts.at(-1)!]), 400, 1061002);
    assertLark(await uploadAll(emu, token, [...parts, fileLast, ["extra", "{}"]]), 400, 1061002);
    assertLark(await uploadAll(emu, token, parts), 400, 1061002); // no file part
    assertLark(await uploadAll(emu, token, [...parts, ["media", file]]), 400, 1061002);
    assertLark(await uploadAll(emu, token, [...parts, fileLast, ["file", file]]), 400, 1061002);
    assert.equal(emu.files.length, 0);
  });

  test("every required field is required", async (t) => {
    const emu = await roomy(t);
    const token = await getToken(emu);
    for (const missing of ["file_name", "parent_type", "parent_node", "size"]) {
      const a = await uploadAll(emu, token, uploadParts(Buffer.from("abc"), { [missing]: null }));
      assertLark(a, 400, 1061002);
    }
    assertLark(await uploadAll(emu, token, uploadParts(Buffer.from("abc"), { parent_node: "" })), 400, 1061002);
  });

  test("parent_type must be one of the 11 values of Lark's upload_all reference", async (t) => {
    const emu = await roomy(t);
    const token = await getToken(emu);
    assertLark(await uploadAll(emu, token, uploadParts(Buffer.from("a"), { parent_type: "explorer" })), 400, 1061002);
    assertLark(await uploadAll(emu, token, uploadParts(Buffer.from("a"), { parent_type: "DOCX_FILE" })), 400, 1061002);
    const valid = [
      "doc_image",
      "docx_image",
      "sheet_image",
      "doc_file",
      "docx_file",
      "sheet_file",
      "vc_virtual_background",
      "bitable_image",
      "bitable_file",
      "moments",
      "ccm_import_open",
    ];
    for (const parent_type of valid) {
      // An upload for import says what it imports into (test/emulator-import.test.ts holds it to that).
      const extra = parent_type === "ccm_import_open" ? '{"obj_type":"docx","file_extension":"md"}' : null;
      assertLark(await uploadAll(emu, token, uploadParts(Buffer.from("a"), { parent_type, extra })), 200, 0);
    }
    assert.equal(emu.files.length, 11);
  });

  test("file_name: 1..250 characters, no control characters, UTF-8 kept intact", async (t) => {
    const emu = await roomy(t);
    const token = await getToken(emu);
    const file = Buffer.from("a");
    for (const file_name of ["", "x".repeat(251), "line\nbreak.txt", "tab\there", "nul\u0000.txt", "del\u007f"]) {
      assertLark(await uploadAll(emu, token, uploadParts(file, { file_name })), 400, 1061008);
    }
    const longCjk = "文".repeat(250); // 250 characters, 750 bytes: the limit counts characters
    assertLark(await uploadAll(emu, token, uploadParts(file, { file_name: longCjk })), 200, 0);
    assertLark(await uploadAll(emu, token, uploadParts(file, { file_name: "Ünïcødé 😀 (1).txt" })), 200, 0);
    assert.deepEqual(
      emu.files.map((f) => f.fileName),
      [longCjk, "Ünïcødé 😀 (1).txt"],
    );
  });

  test("extra must be a JSON object string when present", async (t) => {
    const emu = await roomy(t);
    const token = await getToken(emu);
    const file = Buffer.from("a");
    for (const extra of ["not json", "[1]", "null", '"s"', "{"]) {
      assertLark(await uploadAll(emu, token, uploadParts(file, { extra })), 400, 1061002);
    }
    const extra = '{"drive_route_token":"doxcnDoc"}';
    assertLark(await uploadAll(emu, token, uploadParts(file, { extra })), 200, 0);
    assert.equal(emu.files[0].extra, extra);
  });

  test("parent nodes: unknown => 1061044, deleted => 1061041", async (t) => {
    const emu = await roomy(t, { knownParentNodes: ["doxcnA", "doxcnB"] });
    const token = await getToken(emu);
    const file = Buffer.from("a");
    assertLark(await uploadAll(emu, token, uploadParts(file, { parent_node: "doxcnZ" })), 400, 1061044);
    assertLark(await uploadAll(emu, token, uploadParts(file, { parent_node: "doxcnA" })), 200, 0);
    emu.deleteParentNode("doxcnA");
    assertLark(await uploadAll(emu, token, uploadParts(file, { parent_node: "doxcnA" })), 400, 1061041);
    assertLark(await uploadAll(emu, token, uploadParts(file, { parent_node: "doxcnB" })), 200, 0);
  });

  test("any non-empty node is accepted without knownParentNodes, except deleted ones", async (t) => {
    const emu = await roomy(t);
    const token = await getToken(emu);
    assertLark(await uploadAll(emu, token, uploadParts(Buffer.from("a"), { parent_node: "whatever" })), 200, 0);
    emu.deleteParentNode("whatever");
    assertLark(await uploadAll(emu, token, uploadParts(Buffer.from("a"), { parent_node: "whatever" })), 400, 1061041);
  });

  test("the body must be multipart/form-data with a boundary", async (t) => {
    const emu = await roomy(t);
    const token = await getToken(emu);
    const json = await call(mediaUrl(emu, "upload_all"), {
      body: JSON.stringify({ file_name: "a" }),
      headers: { "content-type": "application/json", ...bearer(token) },
    });
    assertLark(json, 400, 1061002);
    const { body } = form(uploadParts(Buffer.from("a")));
    const noBoundary = await call(mediaUrl(emu, "upload_all"), {
      body,
      headers: { "content-type": "multipart/form-data", ...bearer(token) },
    });
    assertLark(noBoundary, 400, 1061002);
    const truncated = form(uploadParts(Buffer.from("abc")));
    const cut = await call(mediaUrl(emu, "upload_all"), {
      body: truncated.body.subarray(0, truncated.body.length - 20),
      headers: { ...truncated.headers, ...bearer(token) },
    });
    assertLark(cut, 400, 1061002);
    assert.equal(emu.files.length, 0);
  });

  test("auth: missing 99991661, unknown/expired 99991663, malformed 99991671, all HTTP 400", async (t) => {
    const emu = await roomy(t);
    const file = Buffer.from("a");
    assertLark(await postForm(emu, "upload_all", uploadParts(file), {}), 400, 99991661);
    const token = await getToken(emu);
    assertLark(await postForm(emu, "upload_all", uploadParts(file), { authorization: token }), 400, 99991661); // no "Bearer "
    assertLark(await postForm(emu, "upload_all", uploadParts(file), { authorization: "Bearer " }), 400, 99991661);
    assertLark(await uploadAll(emu, "t-unknownunknownunknown", uploadParts(file)), 400, 99991663);
    assertLark(await uploadAll(emu, "garbage", uploadParts(file)), 400, 99991671);
    assertLark(await uploadAll(emu, token, uploadParts(file)), 200, 0);

    emu.expireTokens();
    assertLark(await uploadAll(emu, token, uploadParts(file)), 400, 99991663);
    assertLark(
      await postJson(emu, "upload_prepare", token, {
        file_name: "a",
        parent_type: "docx_file",
        parent_node: "n",
        size: 1,
      }),
      400,
      99991663,
    );
    const fresh = await getToken(emu);
    assert.notEqual(fresh, token);
    assertLark(await uploadAll(emu, fresh, uploadParts(file)), 200, 0);
    assert.equal(emu.files.length, 2);
  });

  test("tokens expire after tokenTtlSeconds", async (t) => {
    const emu = await roomy(t, { tokenTtlSeconds: 0.2 });
    const token = await getToken(emu);
    assertLark(await uploadAll(emu, token, uploadParts(Buffer.from("a"))), 200, 0);
    await sleep(250);
    assertLark(await uploadAll(emu, token, uploadParts(Buffer.from("a"))), 400, 99991663);
  });
});

// ---------- rate limit and concurrency ----------

describe("rate limit and one-at-a-time", () => {
  test("timeScale 1: the 6th quick upload gets 429 / 99991400 with x-ogw-ratelimit-* headers", async (t) => {
    const emu = await start(t);
    const token = await getToken(emu);
    const answers: Answer[] = [];
    for (let i = 0; i < 6; i++) answers.push(await uploadAll(emu, token, uploadParts(Buffer.from(`file ${i}`))));
    for (const a of answers.slice(0, 5)) assertLark(a, 200, 0);
    const limited = answers[5];
    assertLark(limited, 429, 99991400);
    assert.equal(limited.json.msg, "request trigger frequency limit");
    assert.equal(limited.headers["x-ogw-ratelimit-limit"], "5");
    const reset = Number(limited.headers["x-ogw-ratelimit-reset"]);
    assert.ok(reset > 0 && reset <= 1, `reset ${reset}`);
    assert.deepEqual(
      { uploads: emu.stats().uploads, rateViolations: emu.stats().rateViolations, requests: emu.stats().requests },
      { uploads: 5, rateViolations: 1, requests: 6 },
    );
  });

  test("rejected requests take no slot: waiting x-ogw-ratelimit-reset is enough", async (t) => {
    const emu = await start(t, { timeScale: 0.25 }); // 5 requests per 250 ms
    const token = await getToken(emu);
    const up = () => uploadAll(emu, token, uploadParts(Buffer.from("r")));
    for (let i = 0; i < 5; i++) assertLark(await up(), 200, 0);
    const sixth = await up();
    assertLark(sixth, 429, 99991400);
    assertLark(await up(), 429, 99991400);
    const reset = Number(sixth.headers["x-ogw-ratelimit-reset"]);
    assert.ok(reset > 0 && reset <= 0.25, `reset ${reset} is scaled by timeScale`);
    await sleep(reset * 1000 + 5);
    // Had the two 429s taken slots, the window would still be full here.
    assertLark(await up(), 200, 0);
    assert.equal(emu.stats().rateViolations, 2);
  });

  test("rejected requests take no slot: a window full of 429s still admits once the admitted ones age out", async (t) => {
    const emu = await start(t, { timeScale: 0.5 }); // 5 requests per 500 ms
    const token = await getToken(emu);
    const up = () => uploadAll(emu, token, uploadParts(Buffer.from("w")));
    const t0 = performance.now();
    for (let i = 0; i < 5; i++) assertLark(await up(), 200, 0);
    const fifthDone = performance.now();
    assert.ok(fifthDone - t0 < 200, "the five admitted uploads must fit early in the window");
    await sleep(250 - (performance.now() - t0));
    for (let i = 0; i < 5; i++) assertLark(await up(), 429, 99991400); // arrive at >= t0 + 250
    await sleep(fifthDone + 520 - performance.now());
    // The admitted five have aged out; the five 429s (still inside the window) must not count.
    assertLark(await up(), 200, 0);
  });

  test("a request arriving while another upload is in flight gets 1061045 (HTTP 200)", async (t) => {
    // Two slots a second: the third upload below only passes if the 1061045 answer took no slot.
    const emu = await start(t, { ratePerWindow: 2 });
    const token = await getToken(emu);
    const slow = form(uploadParts(Buffer.from("slow body")));
    const stream = new PassThrough();
    stream.write(slow.body.subarray(0, slow.body.length - 10));
    const first = call(mediaUrl(emu, "upload_all"), { body: stream, headers: { ...slow.headers, ...bearer(token) } });
    while (emu.requests.length < 1) await sleep(2); // the first request has arrived and is streaming

    const second = await uploadAll(emu, token, uploadParts(Buffer.from("fast")));
    assertLark(second, 200, 1061045);
    assert.equal(second.json.msg, "can retry.");

    stream.end(slow.body.subarray(slow.body.length - 10));
    assertLark(await first, 200, 0);
    assertLark(await uploadAll(emu, token, uploadParts(Buffer.from("later"))), 200, 0);
    const s = emu.stats();
    assert.deepEqual(
      { uploads: s.uploads, concurrencyViolations: s.concurrencyViolations, maxInFlight: s.maxInFlight },
      { uploads: 2, concurrencyViolations: 1, maxInFlight: 2 },
    );
  });

  test("sequential uploads never overlap: maxInFlight stays 1", async (t) => {
    const emu = await roomy(t);
    const token = await getToken(emu);
    for (let i = 0; i < 8; i++) assertLark(await uploadAll(emu, token, uploadParts(Buffer.from(`s${i}`))), 200, 0);
    assert.equal(emu.stats().maxInFlight, 1);
    assert.equal(emu.stats().concurrencyViolations, 0);
  });
});

// ---------- faults ----------

describe("injected faults", () => {
  test("code: answered instead of processing, consumed `times` times, in order", async (t) => {
    const emu = await roomy(t);
    const token = await getToken(emu);
    const file = Buffer.from("f");
    emu.injectFault({ fault: { kind: "code", code: 1061045 }, times: 2 });
    emu.injectFault({
      fault: { kind: "code", code: 1061001, httpStatus: 500, msg: "boom", headers: { "x-tt-logid": "abc" } },
    });
    assertLark(await uploadAll(emu, token, uploadParts(file)), 200, 1061045);
    assertLark(await uploadAll(emu, token, uploadParts(file)), 200, 1061045);
    const custom = await uploadAll(emu, token, uploadParts(file));
    assertLark(custom, 500, 1061001);
    assert.equal(custom.json.msg, "boom");
    assert.equal(custom.headers["x-tt-logid"], "abc");
    assertLark(await uploadAll(emu, token, uploadParts(file)), 200, 0);
    assert.equal(emu.files.length, 1);
  });

  test("code 99991400 fault carries rate-limit headers; a path-bound rule waits for its endpoint", async (t) => {
    const emu = await roomy(t);
    const token = await getToken(emu);
    emu.injectFault({ fault: { kind: "code", code: 99991400 }, path: "upload_prepare" });
    assertLark(await uploadAll(emu, token, uploadParts(Buffer.from("a"))), 200, 0);
    const limited = await postJson(emu, "upload_prepare", token, {
      file_name: "a",
      parent_type: "docx_file",
      parent_node: "n",
      size: 1,
    });
    assertLark(limited, 429, 99991400);
    assert.equal(limited.headers["x-ogw-ratelimit-limit"], "1000");
    assert.ok(Number(limited.headers["x-ogw-ratelimit-reset"]) > 0);
    emu.injectFault({ fault: { kind: "code", code: 1061006 } });
    emu.clearFaults();
    assertLark(await uploadAll(emu, token, uploadParts(Buffer.from("a"))), 200, 0);
  });

  test("token faults need path: token; a path-less rule skips the token endpoint", async (t) => {
    const emu = await roomy(t);
    emu.injectFault({ fault: { kind: "code", code: 1061001 } });
    const token = await getToken(emu); // not consumed by the token request
    assertLark(await uploadAll(emu, token, uploadParts(Buffer.from("a"))), 200, 1061001);
    emu.injectFault({
      fault: { kind: "http", status: 503, body: "unavailable", contentType: "text/plain" },
      path: "token",
    });
    const a = await askToken(emu, { app_id: emu.appId, app_secret: emu.appSecret });
    assert.equal(a.status, 503);
    assert.equal(a.text, "unavailable");
  });

  test("http: a 502 with an HTML body, and the connection stays usable", async (t) => {
    const emu = await roomy(t);
    const token = await getToken(emu);
    emu.injectFault({ fault: { kind: "http", status: 502 } });
    const a = await uploadAll(emu, token, uploadParts(Buffer.from("a")));
    assert.equal(a.status, 502);
    assert.match(String(a.headers["content-type"]), /^text\/html/);
    assert.match(a.text, /<html>[\s\S]*502 Bad Gateway/);
    assert.equal(a.json, undefined);
    assertLark(await uploadAll(emu, token, uploadParts(Buffer.from("a"))), 200, 0);
    assert.deepEqual(
      emu.requests.map((r) => [r.httpStatus, r.code]),
      [
        [502, -1],
        [200, 0],
      ],
    );
  });

  test("reset: the socket is destroyed without an answer", async (t) => {
    const emu = await roomy(t);
    const token = await getToken(emu);
    emu.injectFault({ fault: { kind: "reset" }, path: "upload_all" });
    await assert.rejects(uploadAll(emu, token, uploadParts(Buffer.from("a"))));
    assertLark(await uploadAll(emu, token, uploadParts(Buffer.from("a"))), 200, 0);
    assert.equal(emu.requests[0].httpStatus, 0);
    assert.equal(emu.files.length, 1);
  });

  test("hang: no answer until close(), which ends the request", async (t) => {
    const emu = await startLarkEmulator({ ratePerWindow: 1000 });
    t.after(() => emu.close());
    const token = await getToken(emu);
    emu.injectFault({ fault: { kind: "hang" } });
    const pending = uploadAll(emu, token, uploadParts(Buffer.from("a")));
    const outcome = await Promise.race([
      pending.then(
        () => "answered",
        () => "failed",
      ),
      sleep(150).then(() => "pending"),
    ]);
    assert.equal(outcome, "pending");
    // A hung request is not an admitted one: it does not block the next upload.
    assertLark(await uploadAll(emu, token, uploadParts(Buffer.from("b"))), 200, 0);
    assert.equal(emu.stats().maxInFlight, 2);
    await emu.close();
    await assert.rejects(pending);
    assert.equal(emu.requests[0].httpStatus, 0);
  });
});

// ---------- chunked strictness ----------

describe("chunked upload is strict", () => {
  async function prepare(emu: LarkEmulator, token: string, size: number): Promise<string> {
    const a = await postJson(emu, "upload_prepare", token, {
      file_name: "big.bin",
      parent_type: "docx_file",
      parent_node: "doxcnT",
      size,
    });
    assertLark(a, 200, 0);
    assert.equal(a.json.data.block_num, Math.ceil(size / BLOCK));
    return a.json.data.upload_id;
  }
  const part = (
    emu: LarkEmulator,
    token: string,
    uploadId: string,
    seq: number,
    block: Buffer,
    over: Record<string, string> = {},
  ) =>
    postForm(
      emu,
      "upload_part",
      [
        ["upload_id", uploadId],
        ["seq", String(seq)],
        ["size", String(block.length)],
        ["checksum", adler(block)],
        ...Object.entries(over),
        ["file", block],
      ],
      bearer(token),
    );

  test("prepare: sizes above 20 MiB are fine, above the cap are not, fields are validated", async (t) => {
    const emu = await roomy(t);
    const token = await getToken(emu);
    assert.match(await prepare(emu, token, 100 * 1024 * 1024), /^\d{19}$/);
    const base = { file_name: "a", parent_type: "docx_file", parent_node: "n" };
    assertLark(await postJson(emu, "upload_prepare", token, { ...base, size: 21 * 1024 ** 3 }), 400, 1061043);
    assertLark(await postJson(emu, "upload_prepare", token, { ...base, size: "10" }), 400, 1061002);
    assertLark(await postJson(emu, "upload_prepare", token, { ...base, size: 0 }), 400, 1061002);
    assertLark(await postJson(emu, "upload_prepare", token, { ...base, parent_type: "x", size: 1 }), 400, 1061002);
    assertLark(await postJson(emu, "upload_prepare", token, { ...base, file_name: "a\nb", size: 1 }), 400, 1061008);
    assertLark(await postJson(emu, "upload_prepare", token, { ...base, size: 1, extra: "[]" }), 400, 1061002);
  });

  test("part: unknown id, seq bounds, block size, byte count and checksum", async (t) => {
    const emu = await roomy(t);
    const token = await getToken(emu);
    const id = await prepare(emu, token, BLOCK + 10); // blocks: 4 MiB, then 10 bytes
    const tail = randomBytes(10);
    assertLark(await part(emu, token, "123", 1, tail), 400, 1061002);
    assertLark(await part(emu, token, id, 2, tail), 400, 1062011);
    assertLark(await part(emu, token, id, 0, tail), 400, 1061002); // block 0 must be exactly 4 MiB
    assertLark(await part(emu, token, id, 1, tail.subarray(0, 9), { size: "10" }), 400, 1062009);
    assertLark(await part(emu, token, id, 1, tail, { checksum: "1" }), 400, 1062008);
    assertLark(await part(emu, token, id, 1, tail), 200, 0);
  });

  test("finish: a missing block is 1062010, block_num must match, then the file is recorded", async (t) => {
    const emu = await roomy(t);
    const token = await getToken(emu);
    const file = randomBytes(BLOCK + 10);
    const id = await prepare(emu, token, file.length);
    assertLark(await part(emu, token, id, 1, file.subarray(BLOCK)), 200, 0);
    assertLark(await postJson(emu, "upload_finish", token, { upload_id: id, block_num: 2 }), 400, 1062010);
    assertLark(await part(emu, token, id, 0, file.subarray(0, BLOCK)), 200, 0);
    assertLark(await postJson(emu, "upload_finish", token, { upload_id: id, block_num: 3 }), 400, 1061002);
    const done = await postJson(emu, "upload_finish", token, { upload_id: id, block_num: 2 });
    assertLark(done, 200, 0);
    assert.equal(emu.files[0].fileToken, done.json.data.file_token);
    assert.equal(emu.files[0].sha256, sha256(file));
    assert.equal(emu.files[0].bytes, undefined);
    // The upload id is spent.
    assertLark(await postJson(emu, "upload_finish", token, { upload_id: id, block_num: 2 }), 400, 1061002);
  });

  test("expired upload ids answer 1061021 on part and finish", async (t) => {
    const emu = await roomy(t);
    const token = await getToken(emu);
    const id = await prepare(emu, token, 10);
    emu.expireUploadIds();
    assertLark(await part(emu, token, id, 0, randomBytes(10)), 400, 1061021);
    assertLark(await postJson(emu, "upload_finish", token, { upload_id: id, block_num: 1 }), 400, 1061021);
    const fresh = await prepare(emu, token, 10); // ids issued later are not affected
    assertLark(await part(emu, token, fresh, 0, randomBytes(10)), 200, 0);
  });
});

// ---------- introspection ----------

describe("introspection endpoints and bookkeeping", () => {
  test("/__emulator/files, /__emulator/stats, 404 JSON, request records and reset()", async (t) => {
    const emu = await roomy(t, { keepBytes: true });
    const token = await getToken(emu);
    assertLark(await uploadAll(emu, token, uploadParts(Buffer.from("abc"), { file_name: "ü.txt" })), 200, 0);
    assertLark(
      await uploadAll(emu, token, uploadParts(Buffer.from("abc"), { size: "4", checksum: null })),
      400,
      1062009,
    );

    const filesRes = await request(`${emu.url}/__emulator/files`);
    const listed = (await filesRes.body.json()) as Record<string, unknown>[];
    assert.equal(listed.length, 1);
    assert.equal(listed[0].fileName, "ü.txt");
    assert.equal(listed[0].fileToken, emu.files[0].fileToken);
    assert.equal("bytes" in listed[0], false);

    const statsRes = await request(`${emu.url}/__emulator/stats`);
    assert.deepEqual(await statsRes.body.json(), emu.stats());

    const missing = await request(`${emu.url}/open-apis/nope`);
    assert.equal(missing.statusCode, 404);
    assert.equal(((await missing.body.json()) as { code: number }).code, 404);

    assert.equal(emu.requests.length, 2);
    const [ok, bad] = emu.requests;
    assert.equal(ok.path, "/open-apis/drive/v1/medias/upload_all");
    assert.deepEqual([ok.httpStatus, ok.code, bad.httpStatus, bad.code], [200, 0, 400, 1062009]);
    assert.ok(ok.startedAt <= ok.endedAt && ok.endedAt <= bad.startedAt);

    emu.reset();
    assert.deepEqual(emu.stats(), {
      uploads: 0,
      requests: 0,
      tokenRequests: 0,
      rateViolations: 0,
      concurrencyViolations: 0,
      maxInFlight: 0,
      limitViolations: {},
    });
    assert.equal(emu.files.length, 0);
    assertLark(await uploadAll(emu, token, uploadParts(Buffer.from("abc"))), 200, 0); // tokens stay valid
  });
});

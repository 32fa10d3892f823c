/**
 * `npm run backfill` as a user runs it: the CLI as a child process (no terminal, so plain lines) against
 * a test stack (s3rver and the Lark emulator in this process) holding objects written without events.
 */

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { PutObjectCommand, PutObjectTaggingCommand } from "@aws-sdk/client-s3";
import { bytes, type Stack, startStack, TO_DOCX } from "./support/stack";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

let stack: Stack;
let noDevState: string;
before(async () => {
  stack = await startStack({ env: { MAX_FILE_BYTES: "1000" } });
  noDevState = await mkdtemp(join(tmpdir(), "s3-to-lark-backfill-"));
});
after(async () => {
  await stack.close();
  await rm(noDevState, { recursive: true, force: true });
});

interface Result {
  code: number | null;
  out: string;
  err: string;
}

function backfill(args: string[], env: Record<string, string> = {}): Promise<Result> {
  const base: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !/^LARK_/.test(k)) base[k] = v;
  const child = spawn(process.execPath, ["--import", "tsx", "local/backfill.ts", ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...base,
      ...stack.env, // LARK_APP_ID, LARK_APP_SECRET, LARK_BASE_URL, AWS_ENDPOINT_URL_S3 (+ the S3 credentials startStack set)
      MAX_FILE_BYTES: "1000",
      LARK_DEFAULT_PARENT_TYPE: "docx_file",
      LARK_DEFAULT_PARENT_NODE: "doxcnDefault01",
      DEV_STATE_DIR: noDevState,
      NO_COLOR: "1",
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
      ...env,
    },
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (err += d));
  return new Promise((resolve) => child.once("close", (code) => resolve({ code, out, err })));
}

const summary = (r: Result, line: RegExp) => assert.match(r.out, line, `${r.out}\n${r.err}`);
const token = async (key: string) => (await stack.head(key)).Metadata?.["lark-file-token"];
const writes = () =>
  stack.localS3!.requests.filter((r) => r.method === "PUT" || r.method === "POST" || r.method === "DELETE").length;

describe("npm run backfill -- s3://inbox/in/", () => {
  before(async () => {
    await stack.put("in/done.pdf", bytes(100, 1), {
      tags: TO_DOCX,
      Metadata: { "lark-file-token": "boxcnAlreadyThere" },
    });
    await stack.put("in/new-1.pdf", bytes(500, 2), { tags: TO_DOCX });
    await stack.put("in/nested/new 2.txt", bytes(600, 3));
    await stack.put("in/big.bin", bytes(2000, 4), { tags: TO_DOCX });
    await stack.put("in/bad.pdf", bytes(50, 5), {
      tags: { "lark-parent-type": "wiki_file", "lark-parent-node": "doxcnTarget01" },
    });
    await stack.put("in/empty.txt", "", { tags: TO_DOCX });
    await stack.put("other/outside.txt", bytes(10, 6), { tags: TO_DOCX });
  });

  test("--dry-run lists what would happen and changes nothing", async () => {
    const before = writes();
    const r = await backfill(["s3://inbox/in/", "--dry-run"]);
    assert.equal(r.code, 0, r.err);
    summary(r, /^ {2}would upload 2 \(1\.1 KiB\)$/m);
    summary(r, /^ {2}would skip 1 \(already-uploaded 1\)$/m);
    summary(r, /^ {2}would reject 3 \(empty-file 1, invalid-parent-type 1, too-large 1\)$/m);
    summary(r, /nothing was uploaded or written/);
    summary(r, /would upload {2}in\/nested\/new 2\.txt {2}600 B {2}-> docx_file:doxcnDefault01/);
    assert.equal(writes(), before, "no write reached S3");
    assert.equal(stack.lark.files.length, 0);
    assert.equal(stack.lark.stats().tokenRequests, 0, "Lark was not even asked for a token");
    assert.equal(await token("in/new-1.pdf"), undefined);
    assert.deepEqual(await stack.tags("in/bad.pdf"), {
      "lark-parent-type": "wiki_file",
      "lark-parent-node": "doxcnTarget01",
    });
  });

  test("uploads what is new, skips what is done, tags what Lark would refuse", async () => {
    const r = await backfill(["s3://inbox/in/"]);
    assert.equal(r.code, 0, r.out + r.err);
    summary(r, /^ {2}uploaded 2 \(1\.1 KiB\)$/m);
    summary(r, /^ {2}skipped 1 \(already-uploaded 1\)$/m);
    summary(r, /^ {2}rejected 3 \(empty-file 1, invalid-parent-type 1, too-large 1\)/m);
    summary(r, /^ {2}failed 0$/m);
    // Not a terminal: one plain line per object.
    const lines = r.out.split("\n").filter((l) => /^\[\d+\/6\] /.test(l));
    assert.equal(lines.length, 6, r.out);
    assert.ok(
      lines.some((l) =>
        /uploaded {2}in\/new-1\.pdf {2}500 B {2}-> docx_file:doxcnTarget01 {2}file_token boxcn/.test(l),
      ),
      r.out,
    );

    assert.equal(stack.lark.files.length, 2);
    const byName = new Map(stack.lark.files.map((f) => [f.fileName, f]));
    assert.equal(await token("in/new-1.pdf"), byName.get("new-1.pdf")?.fileToken);
    assert.equal(await token("in/nested/new 2.txt"), byName.get("new 2.txt")?.fileToken);
    assert.equal(byName.get("new 2.txt")?.parentNode, "doxcnDefault01");
    assert.equal(await token("in/done.pdf"), "boxcnAlreadyThere");
    assert.match(
      (await stack.tags("in/big.bin"))["lark-upload-error"] ?? "",
      /^too-large: 2000 bytes is above the limit of 1000 bytes/,
    );
    assert.match((await stack.tags("in/bad.pdf"))["lark-upload-error"] ?? "", /^invalid-parent-type: wiki_file/);
    assert.match((await stack.tags("in/empty.txt"))["lark-upload-error"] ?? "", /^empty-file: /);
    assert.equal(await token("other/outside.txt"), undefined, "outside the prefix: untouched");
    assert.deepEqual(await stack.tags("other/outside.txt"), TO_DOCX);
  });

  test("a second run resumes: nothing is uploaded twice", async () => {
    const r = await backfill(["s3://inbox/in"]);
    assert.equal(r.code, 0, r.err);
    summary(r, /^ {2}uploaded 0 \(0 B\)$/m);
    summary(r, /^ {2}skipped 6 \(already-uploaded 3, error-tagged 3\)$/m);
    summary(r, /--retry-errors/);
    assert.equal(stack.lark.files.length, 2);
  });

  test("--retry-errors after fixing the bad tags uploads that one", async () => {
    const error = (await stack.tags("in/bad.pdf"))["lark-upload-error"]!;
    // The user fixes the parent type and leaves the error tag as it is.
    await stack.s3.send(
      new PutObjectTaggingCommand({
        Bucket: stack.bucket,
        Key: "in/bad.pdf",
        Tagging: {
          TagSet: Object.entries({ ...TO_DOCX, "lark-upload-error": error }).map(([Key, Value]) => ({ Key, Value })),
        },
      }),
    );
    const r = await backfill(["s3://inbox/in/", "--retry-errors"]);
    assert.equal(r.code, 0, r.err);
    summary(r, /^ {2}uploaded 1 \(50 B\)$/m);
    summary(r, /^ {2}skipped 3 \(already-uploaded 3\)$/m);
    summary(r, /^ {2}rejected 2 \(empty-file 1, too-large 1\)/m);
    assert.equal(stack.lark.files.length, 3);
    assert.equal(await token("in/bad.pdf"), stack.lark.files[2]!.fileToken);
    assert.deepEqual(await stack.tags("in/bad.pdf"), TO_DOCX, "the error tag is gone");
  });

  test("a Lark outage fails the object, exits 1, and the next run picks it up", async () => {
    await stack.s3.send(new PutObjectCommand({ Bucket: stack.bucket, Key: "in/later.pdf", Body: bytes(80, 9) }));
    await stack.s3.send(
      new PutObjectTaggingCommand({
        Bucket: stack.bucket,
        Key: "in/later.pdf",
        Tagging: { TagSet: Object.entries(TO_DOCX).map(([Key, Value]) => ({ Key, Value })) },
      }),
    );
    stack.lark.injectFault({ fault: { kind: "http", status: 503 }, path: "upload_all", times: 100 });
    try {
      const r = await backfill(["s3://inbox/in/"], { LARK_MAX_ATTEMPTS: "2" });
      assert.equal(r.code, 1, r.out + r.err);
      summary(r, /^ {2}failed 1$/m);
      summary(r, /^ {4}in\/later\.pdf: TransientError: .*HTTP 503/m);
      summary(r, /retrying in\/later\.pdf \(attempt 1 failed/);
      assert.equal(stack.lark.requests.filter((q) => q.httpStatus === 503).length, 2, "LARK_MAX_ATTEMPTS=2 attempts");
      assert.equal(await token("in/later.pdf"), undefined);
      assert.equal((await stack.tags("in/later.pdf"))["lark-upload-error"], undefined, "a failure tags nothing");
    } finally {
      stack.lark.clearFaults();
    }
    const again = await backfill(["s3://inbox/in/"]);
    assert.equal(again.code, 0, again.err);
    summary(again, /^ {2}uploaded 1 \(80 B\)$/m);
    assert.equal(stack.lark.files.length, 4);
  });

  test("bad arguments: usage and exit code 2", async () => {
    const cases = [[], ["inbox/in/"], ["s3://inbox/", "--nope"], ["s3://a/", "s3://b/"]];
    const [badConfig, ...results] = await Promise.all([
      backfill(["s3://inbox/"], { MAX_FILE_BYTES: "lots" }),
      ...cases.map((args) => backfill(args)),
    ]);
    for (const [i, r] of results.entries()) {
      assert.equal(r.code, 2, `${cases[i]!.join(" ")}: ${r.err}`);
      assert.match(r.err, /usage: npm run backfill -- s3:\/\/BUCKET\[\/PREFIX\] \[--dry-run\] \[--retry-errors\]/);
    }
    assert.equal(badConfig.code, 2);
    assert.match(badConfig.err, /MAX_FILE_BYTES must be an integer/);
  });
});

/**
 * `npm run backfill` as a user runs it: the CLI as a child process (no terminal, so plain lines) against
 * a test stack (s3rver and the Lark emulator in this process) holding objects written without events.
 */

import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { PutObjectCommand, PutObjectTaggingCommand } from "@aws-sdk/client-s3";
import { runToEnd, toolEnv } from "./support/local-tools";
import { bytes, type Stack, startStack, TO_DOCX } from "./support/stack";

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

/** The backfill on the test stack (S3 keys: s3rver's, as for any store on this machine), with `env` on top. */
function backfill(args: string[], env: Record<string, string> = {}): Promise<Result> {
  return runToEnd(
    "local/backfill.ts",
    args,
    toolEnv({
      ...stack.env, // LARK_APP_ID, LARK_APP_SECRET, LARK_BASE_URL, AWS_ENDPOINT_URL_S3
      MAX_FILE_BYTES: "1000",
      LARK_DEFAULT_PARENT_TYPE: "docx_file",
      LARK_DEFAULT_PARENT_NODE: "doxcnDefault01",
      DEV_STATE_DIR: noDevState,
      ...env,
    }),
  );
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
      summary(
        r,
        /^Run the same command again to retry the 1 object\(s\) that failed on something passing; what is done is skipped\.$/m,
      );
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

describe("npm run backfill: what a rerun cannot fix is said as such", () => {
  test("against AWS without a region or credentials: exit 2, one line saying what is missing, nothing listed", async () => {
    const home = await mkdtemp(join(tmpdir(), "s3-to-lark-home-"));
    try {
      // No ~/.aws, no instance metadata: nothing to find the settings in.
      const aws = { AWS_ENDPOINT_URL_S3: "", HOME: home, AWS_EC2_METADATA_DISABLED: "true" };
      const [neither, noKeys] = await Promise.all([
        backfill(["s3://inbox/in/"], aws),
        backfill(["s3://inbox/in/"], { ...aws, AWS_REGION: "eu-west-1" }),
      ]);
      assert.equal(neither.code, 2, neither.out + neither.err);
      assert.equal(
        neither.err,
        "npm run backfill: cannot call AWS S3: no region (set AWS_REGION, or a region in your AWS profile); " +
          "no credentials (set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)\n",
      );
      assert.equal(neither.out, "", "nothing was listed");
      assert.equal(noKeys.code, 2);
      assert.equal(
        noKeys.err,
        "npm run backfill: cannot call AWS S3: no credentials (set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)\n",
      );
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });

  test("a configuration problem stops the run with exit 2 and says to fix the settings, not to retry", async () => {
    await stack.put("conf/a.pdf", bytes(40, 11), { tags: TO_DOCX });
    const r = await backfill(["s3://inbox/conf/"], { LARK_APP_SECRET: "not-the-secret" });
    assert.equal(r.code, 2, r.out + r.err);
    summary(r, /^stopped: .*tenant_access_token.*\. Fix the settings, then run the same command again\.$/m);
    assert.doesNotMatch(r.out, /retry the/);
  });

  test("an object whose answer finds no room among its 10 tags: the reason, and no advice to rerun", async () => {
    const ten = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`t${i}`, "v"]));
    await stack.put("full/empty.txt", "", { tags: { ...TO_DOCX, ...ten } });
    const r = await backfill(["s3://inbox/full/"]);
    assert.equal(r.code, 0, "a refusal is an answer");
    summary(r, /^ {2}rejected 1 \(too-many-tags 1\) - no room on the object for the lark-upload-error tag:$/m);
    summary(
      r,
      /^ {4}full\/empty\.txt: too-many-tags: cannot add the tag lark-upload-error \(empty-file: .*\): the object already has the 10 tags S3 allows\. Remove one of its tags/m,
    );
    assert.doesNotMatch(r.out, /Run the same command again/);
    assert.deepEqual(Object.keys(await stack.tags("full/empty.txt")).length, 10, "nothing was added or removed");
  });
});

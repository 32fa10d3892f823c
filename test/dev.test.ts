/**
 * `npm start` as a user runs it: local/dev.ts as a child process on free ports with its own state folder,
 * files dropped in through the S3 API and `npm run put`, answers read back from the objects, the terminal
 * lines and the emulator, then Ctrl-C.
 */

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { crc32, deflateSync } from "node:zlib";
import {
  GetObjectTaggingCommand,
  HeadObjectCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { startLarkEmulator } from "../local/lark-emulator";
import { freePort, type Running, run, runToEnd, toolEnv, waitFor, within } from "./support/local-tools";

const time = String.raw`\d\d:\d\d:\d\d`;
const TO_DEMO_DOCUMENT = { "lark-target": "docx:doxcnLocalDemoDocument" };

/** A real PNG, `width` × `height`, red: what a sheet or an image block needs. */
function png(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
    const head = Buffer.alloc(4);
    head.writeUInt32BE(data.length);
    const tail = Buffer.alloc(4);
    tail.writeUInt32BE(crc32(body));
    return Buffer.concat([head, body, tail]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8 bits, RGB
  const row = Buffer.concat([Buffer.from([0]), Buffer.alloc(width * 3, Buffer.from([255, 0, 0]))]);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(Buffer.concat(Array.from({ length: height }, () => row)))),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

function s3Client(endpoint: string): S3Client {
  return new S3Client({
    endpoint,
    forcePathStyle: true,
    region: "us-east-1",
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}

const tagSet = (tags: Record<string, string>) => ({
  TagSet: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
});

/** One `npm start` on free ports with its own state folder, and what a test reads of it. */
async function startDev(env: Record<string, string> = {}) {
  const state = await mkdtemp(join(tmpdir(), "s3-to-lark-dev-"));
  const s3Port = await freePort();
  const larkPort = await freePort();
  const viewPort = await freePort();
  const dev = run(
    "local/dev.ts",
    [],
    toolEnv({
      S3_PORT: String(s3Port),
      LARK_EMULATOR_PORT: String(larkPort),
      LARK_EMULATOR_VIEW_PORT: String(viewPort),
      DEV_STATE_DIR: state,
      ...env,
    }),
  );
  await waitFor("the ready line", () => {
    if (dev.child.exitCode !== null) throw new Error(`npm start exited early:\n${dev.out()}\n${dev.err()}`);
    return dev.out().includes("ready: watching s3://inbox");
  });
  const endpoint = `http://127.0.0.1:${s3Port}`;
  const s3 = s3Client(endpoint);
  return {
    dev,
    state,
    s3,
    endpoint,
    s3Port,
    larkPort,
    lark: `http://127.0.0.1:${larkPort}`,
    view: `http://127.0.0.1:${viewPort}/`,
    /** `npm run put` against this stack, as from another shell of the same checkout. */
    put: (args: string[]) => runToEnd("local/put.ts", args, toolEnv({ DEV_STATE_DIR: state })),
    token: (key: string) =>
      s3.send(new HeadObjectCommand({ Bucket: "inbox", Key: key })).then((h) => h.Metadata?.["lark-file-token"]),
    tags: (key: string) =>
      s3
        .send(new GetObjectTaggingCommand({ Bucket: "inbox", Key: key }))
        .then((t) => Object.fromEntries((t.TagSet ?? []).map((x) => [x.Key!, x.Value!]))),
    lines: () => dev.out().split("\n"),
    async stop(): Promise<void> {
      s3.destroy();
      if (dev.child.exitCode === null && dev.child.signalCode === null) {
        dev.child.kill("SIGKILL");
        await dev.exited;
      }
      await rm(state, { recursive: true, force: true });
    },
  };
}
type Dev = Awaited<ReturnType<typeof startDev>>;

/** The lines matching `re`: exactly one expected. */
function one(lines: string[], re: RegExp): string {
  const hits = lines.filter((l) => re.test(l));
  assert.equal(hits.length, 1, `one line matching ${re} in:\n${lines.join("\n")}`);
  return hits[0]!;
}

async function received(lark: string, fileName: string): Promise<Record<string, unknown>[]> {
  const files = (await (await fetch(`${lark}/__emulator/files`)).json()) as Record<string, unknown>[];
  return files.filter((f) => f.fileName === fileName);
}

/** What the emulator holds where each demo target points: file tokens in document blocks, records, sheet images. */
async function placed(lark: string): Promise<{ blocks: any[]; records: any[]; images: any[]; folder: any[] }> {
  const state = (await (await fetch(`${lark}/__emulator/state`)).json()) as Record<string, any[]>;
  return {
    blocks: state.documents![0].blocks.filter((b: any) => b.file || b.image),
    records: state.bases![0].tables[0].records,
    images: state.spreadsheets![0].sheets[0].float_images,
    folder: state.folders!.find((f) => f.token === "fldcnLocalDemoFolder").items,
  };
}

describe("npm start (local/dev.ts)", () => {
  let stack: Dev;
  before(async () => (stack = await startDev()));
  after(() => stack?.stop());

  test("the banner leads with what to do next, fits a first screen, and its AWS CLI recipe names the endpoint", async () => {
    const { endpoint, lark } = stack;
    const banner = stack.dev.out().slice(0, stack.dev.out().indexOf("ready:")).trimEnd().split("\n");
    // npm adds four lines of its own above; a first screen has 24 of 120 columns.
    assert.ok(banner.length <= 20, `${banner.length} lines:\n${banner.join("\n")}`);
    const wide = banner.filter((l) => l.length > 120);
    assert.deepEqual(wide, [], "no line wider than 120 columns");
    assert.deepEqual(banner.slice(0, 5), [
      "s3-to-lark: local stack on s3://inbox",
      "Next, in another shell:",
      "  1. drop a file in      npm run put -- ./report.pdf --wait",
      `  2. watch here          one line per object (the function's JSON logs: ${join(stack.state, "function.log")})`,
      `  3. see what Lark holds ${stack.view}`,
    ]);
    one(
      banner,
      /^Untagged: base:bascnLocalDemoBase\/tblLocalDemoTable \(a record of the demo base\), after 3\.0 s for tags \(TAG_WAIT_MS\)\.$/,
    );
    assert.deepEqual(
      banner.filter((l) => l.includes("--target")),
      [
        "  npm run put -- ./photo.png --target docx:doxcnLocalDemoDocument",
        "  npm run put -- ./report.pdf --target base:bascnLocalDemoBase/tblLocalDemoTable",
        "  npm run put -- ./photo.png --target sheet:shtcnLocalDemoSheet/LocalDemo/A1",
        "  npm run put -- ./report.pdf --target folder:fldcnLocalDemoFolder",
      ],
    );
    const recipe = banner.indexOf(
      `  aws --endpoint-url ${endpoint} s3api put-object --bucket inbox --key report.pdf --body ./report.pdf \\`,
    );
    assert.ok(recipe > 0, banner.join("\n"));
    assert.equal(
      banner[recipe - 1],
      "  export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1",
    );
    assert.equal(banner[recipe + 1], "    --tagging 'lark-target=docx:doxcnLocalDemoDocument'");
    const variable = one(banner, /AWS_ENDPOINT_URL_S3/);
    assert.ok(banner.indexOf(variable) > recipe, "the --endpoint-url recipe comes first");
    assert.equal(
      variable,
      "  (AWS_ENDPOINT_URL_S3 for --endpoint-url: AWS CLI 2.13+ and 1.29+ only; older ones, e.g. Debian's 2.9, call AWS)",
    );
    assert.ok(!banner.some((l) => l.includes("export AWS_ENDPOINT_URL_S3")), "no export that old clients ignore");
    assert.match(banner.join("\n"), new RegExp(`S3 \\(s3rver\\)\\s+${endpoint}`));
    assert.match(banner.join("\n"), new RegExp(`Lark emulator\\s+${lark}\\s+app cli_emulator`));
    const view = await fetch(stack.view);
    assert.equal(view.status, 200);
    assert.match(view.headers.get("content-type") ?? "", /^text\/html/);

    const info = JSON.parse(readFileSync(join(stack.state, "env.json"), "utf8"));
    assert.equal(info.s3Endpoint, endpoint);
    assert.equal(info.emulator.baseUrl, lark);
  });

  test("the demo targets exist on the emulator", async () => {
    const state = (await (await fetch(`${stack.lark}/__emulator/state`)).json()) as Record<string, any[]>;
    assert.deepEqual(
      state.documents!.map((d) => d.documentId),
      ["doxcnLocalDemoDocument"],
    );
    const [base] = state.bases!;
    assert.equal(base.appToken, "bascnLocalDemoBase");
    assert.deepEqual(
      base.tables.map((t: any) => [t.tableId, t.fields.map((f: any) => [f.field_name, f.type])]),
      [
        [
          "tblLocalDemoTable",
          [
            ["Name", 1],
            ["Attachment", 17],
          ],
        ],
      ],
    );
    assert.deepEqual(
      state.spreadsheets!.map((s) => [s.token, s.sheets.map((x: any) => x.sheet_id)]),
      [["shtcnLocalDemoSheet", ["LocalDemo"]]],
    );
    assert.ok(
      state.folders!.some((f) => f.token === "fldcnLocalDemoFolder"),
      JSON.stringify(state.folders),
    );
  });

  test("dropped files reach the emulator through the real handler, with one readable line per outcome", async () => {
    const { s3 } = stack;
    // Untagged: the demo default, once its tags had their time.
    await s3.send(new PutObjectCommand({ Bucket: "inbox", Key: "drop/plain report.pdf", Body: Buffer.alloc(2000, 7) }));
    // Tagged with npm run put.
    const file = join(stack.state, "tagged.pdf");
    await writeFile(file, Buffer.alloc(300, 1));
    const put = await stack.put([
      file,
      "--key",
      "tagged.pdf",
      "--target",
      "docx:doxcnLocalDemoDocument",
      "--name",
      "Nice name.pdf",
    ]);
    assert.equal(put.code, 0, put.err);
    assert.match(put.out, /put s3:\/\/inbox\/tagged\.pdf {2}300 B {2}.*tags lark-target=docx:doxcnLocalDemoDocument/);
    // Empty: refused.
    await s3.send(new PutObjectCommand({ Bucket: "inbox", Key: "empty.txt", Body: "", ContentLength: 0 }));

    const plainToken = await waitFor("the untagged file's token", () => stack.token("drop/plain report.pdf"));
    const taggedToken = await waitFor("the tagged file's token", () => stack.token("tagged.pdf"));
    const emptyError = await waitFor("the empty file's error tag", () =>
      stack.tags("empty.txt").then((t) => t["lark-upload-error"]),
    );
    assert.match(emptyError, /^empty-file: /);

    const { blocks, records } = await placed(stack.lark);
    assert.deepEqual(
      records.map((r) => r.fields.Attachment.map((a: any) => [a.file_token, a.name, a.size])),
      [[[plainToken, "plain report.pdf", 2000]]],
      "a new record of the demo base",
    );
    assert.deepEqual(
      blocks.map((b) => [b.file?.token, b.file?.name]),
      [[taggedToken, "Nice name.pdf"]],
      "a file block in the demo document",
    );

    // The terminal: one line per outcome; the echoes of the function's own writes said for what they are.
    const lines = await waitFor("the echo lines", () => {
      const l = stack.lines();
      const copies = l.filter((x) => /skipped .*own metadata write/.test(x)).length;
      return copies >= 2 && l.some((x) => /own error tag/.test(x)) ? l : undefined;
    });
    one(
      lines,
      new RegExp(
        `^${time} {2}uploaded {2}drop/plain report\\.pdf {2}2\\.0 KiB {2}-> base:bascnLocalDemoBase/tblLocalDemoTable {2}file_token ${plainToken} {2}[\\d.]+ m?s$`,
      ),
    );
    one(
      lines,
      new RegExp(
        `^${time} {2}uploaded {2}tagged\\.pdf {2}300 B {2}-> docx:doxcnLocalDemoDocument {2}file_token ${taggedToken} {2}\\d+ ms$`,
      ),
    );
    one(lines, new RegExp(`^${time} {2}rejected {2}empty\\.txt {2}0 B {2}empty-file: the object is empty[^(]*$`));
    one(lines, /rejected {2}empty\.txt .*\(the event of the function's own error tag\)/);
    one(
      lines,
      /skipped {3}drop\/plain report\.pdf .*already-uploaded {2}\(the event of the function's own metadata write\)/,
    );
    assert.ok(!/"level"|"_aws"/.test(stack.dev.out()), "no JSON log or metric lines in the terminal");

    const log = readFileSync(join(stack.state, "function.log"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.ok(log.some((l) => l.message === "uploaded" && l.key === "tagged.pdf" && l.fileToken === taggedToken));
    assert.ok(
      log.some((l) => l._aws),
      "the metric lines went to the log",
    );
  });

  test("each demo target line of the banner places a file there; put --wait prints what was written back", async () => {
    const lines = stack.dev
      .out()
      .split("\n")
      .filter((l) => l.startsWith("  npm run put -- ") && l.includes("--target"));
    const files = { "./photo.png": png(40, 30), "./report.pdf": Buffer.alloc(900, 5) };
    const puts = await Promise.all(
      lines.map(async (line, i) => {
        const [file, ...args] = line.replace("  npm run put -- ", "").split(" ");
        const local = join(stack.state, `target-${i}-${file!.slice(2)}`);
        await writeFile(local, files[file as keyof typeof files]);
        return stack.put([local, ...args, "--wait"]);
      }),
    );
    for (const put of puts) assert.equal(put.code, 0, put.out + put.err);
    const said = puts.map((p) => p.out.split("\n").find((l) => l.startsWith("uploaded: "))!);
    assert.match(
      said[0]!,
      /^uploaded: lark-file-token=(\w+) lark-target=docx:doxcnLocalDemoDocument lark-block-id=\w+$/,
    );
    assert.match(
      said[1]!,
      /^uploaded: lark-file-token=(\w+) lark-target=base:bascnLocalDemoBase\/tblLocalDemoTable lark-record-id=\w+$/,
    );
    assert.match(
      said[2]!,
      /^uploaded: lark-file-token=(\w+) lark-target=sheet:shtcnLocalDemoSheet\/LocalDemo\/A1 lark-float-image-id=\w+$/,
    );
    assert.match(said[3]!, /^uploaded: lark-file-token=(\w+) lark-target=folder:fldcnLocalDemoFolder$/);
    const [image, record, floating, driveFile] = said.map((l) => /lark-file-token=(\w+)/.exec(l)![1]);
    const { blocks, records, images, folder } = await placed(stack.lark);
    assert.ok(
      blocks.some((b) => b.image?.token === image),
      "an image block in the demo document",
    );
    assert.ok(
      records.some((r) => r.fields.Attachment?.[0]?.file_token === record),
      "a record in the demo base",
    );
    assert.deepEqual(
      images.map((x) => [x.float_image_token, x.range, x.width, x.height]),
      [[floating, "LocalDemo!A1:A1", 40, 30]],
    );
    assert.ok(
      folder.some((item) => item.token === driveFile),
      JSON.stringify(folder),
    );
  });

  test("tags in the PUT: one upload, at the tagged destination, without waiting", async () => {
    await stack.s3.send(
      new PutObjectCommand({
        Bucket: "inbox",
        Key: "one-step.pdf",
        Body: Buffer.alloc(700, 3),
        Tagging: new URLSearchParams(TO_DEMO_DOCUMENT).toString(),
      }),
    );
    const token = await waitFor("the token", () => stack.token("one-step.pdf"));
    const files = await received(stack.lark, "one-step.pdf");
    assert.deepEqual(
      files.map((f) => f.fileToken),
      [token],
    );
    // Handled at once: the wait for late tags is for objects that have none.
    one(stack.lines(), /uploaded {2}one-step\.pdf .*-> docx:doxcnLocalDemoDocument .* \d+ ms$/);
  });

  test("tags a moment later, with PutObjectTagging: still one upload, at the tagged destination", async () => {
    await stack.s3.send(new PutObjectCommand({ Bucket: "inbox", Key: "two-step.pdf", Body: Buffer.alloc(800, 4) }));
    await new Promise((r) => setTimeout(r, 500));
    await stack.s3.send(
      new PutObjectTaggingCommand({ Bucket: "inbox", Key: "two-step.pdf", Tagging: tagSet(TO_DEMO_DOCUMENT) }),
    );
    const token = await waitFor("the token", () => stack.token("two-step.pdf"));
    const lines = await waitFor("the tag change's line", () => {
      const l = stack.lines();
      return l.some((x) => /two-step\.pdf .*its tags changed/.test(x)) ? l : undefined;
    });
    const files = await received(stack.lark, "two-step.pdf");
    assert.deepEqual(
      files.map((f) => f.fileToken),
      [token],
    );
    one(lines, new RegExp(`uploaded {2}two-step\\.pdf .*-> docx:doxcnLocalDemoDocument {2}file_token ${token}`));
    one(
      lines,
      new RegExp(
        `skipped {3}two-step\\.pdf .*already-uploaded {2}file_token ${token} {2}\\(its tags changed, and name where it already is\\)`,
      ),
    );
  });

  test("npm run put --wait stops at once on an error tag and says why", async () => {
    const file = join(stack.state, "nothing.txt");
    await writeFile(file, "");
    const put = await stack.put([file, "--wait"]);
    assert.equal(put.code, 1, put.out + put.err);
    assert.match(
      put.out,
      /^refused: lark-upload-error=empty-file: the object is empty and Lark does not take empty files$/m,
    );
    assert.ok(put.ms < 15_000, `${put.ms} ms`);
  });

  test("npm run put --target and its companions become the object's tags", async () => {
    const file = join(stack.state, "photo.png");
    await writeFile(file, Buffer.alloc(100, 9));
    const put = await stack.put([
      file,
      "--key",
      "placed/photo.png",
      "--target",
      "base:bascnLocalDemoBase/tblLocalDemoTable",
      "--base-field",
      "Attachment",
      "--import-as",
      "docx",
      "--name",
      "Photo.png",
      "--wait",
    ]);
    assert.equal(put.code, 0, put.out + put.err);
    assert.deepEqual(await stack.tags("placed/photo.png"), {
      "lark-target": "base:bascnLocalDemoBase/tblLocalDemoTable",
      "lark-base-field": "Attachment",
      "lark-import-as": "docx",
      "lark-file-name": "Photo.png",
    });
  });

  test("an object with no room for the error tag: the refusal and what to do, in the terminal", async () => {
    const nine = Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`t${i}`, "v"]));
    await stack.s3.send(
      new PutObjectCommand({
        Bucket: "inbox",
        Key: "full.txt",
        Body: "",
        ContentLength: 0,
        Tagging: new URLSearchParams({ ...nine, ...TO_DEMO_DOCUMENT }).toString(),
      }),
    );
    const line = await waitFor("the refusal", () => stack.lines().find((l) => /rejected {2}full\.txt/.test(l)));
    assert.match(
      line,
      /too-many-tags: cannot add the tag lark-upload-error \(empty-file: .*\): the object already has the 10 tags S3 allows\. Remove one of its tags/,
    );
    assert.equal(Object.keys(await stack.tags("full.txt")).length, 10, "the object is left as it was");
  });

  // The object above has neither a token nor an error tag, yet its answer was given: it is not counted.
  test("Ctrl-C closes everything, says every object has its answer, and exits 0", async () => {
    const { dev } = stack;
    dev.child.kill("SIGINT");
    const { code } = await within(10_000, dev.exited, "stopping");
    assert.equal(code, 0, dev.err());
    assert.match(dev.out(), /SIGINT: stopping\n {10}every object in s3:\/\/inbox has its answer/);
    assert.equal(existsSync(join(stack.state, "env.json")), false, "the stack's settings are gone with it");
    // The ports are free again.
    const s3Free = createServer();
    await new Promise<void>((resolve, reject) =>
      s3Free.once("error", reject).listen(stack.s3Port, "127.0.0.1", resolve),
    );
    await new Promise((r) => s3Free.close(r));
  });
});

describe("npm start, the other ways", () => {
  test("a busy port is a clear error, not a stack trace", async () => {
    const holder: Server = createServer();
    await new Promise<void>((r) => holder.listen(0, "127.0.0.1", r));
    const busy = (holder.address() as { port: number }).port;
    const state = await mkdtemp(join(tmpdir(), "s3-to-lark-dev-"));
    try {
      const dev = await within(
        15_000,
        runToEnd(
          "local/dev.ts",
          [],
          toolEnv({
            S3_PORT: String(await freePort()),
            LARK_EMULATOR_PORT: String(await freePort()),
            LARK_EMULATOR_VIEW_PORT: String(busy),
            DEV_STATE_DIR: state,
          }),
        ),
        "failing",
      );
      assert.equal(dev.code, 1);
      assert.match(
        dev.err,
        new RegExp(
          `port ${busy} for the Lark emulator's web view is already in use .*LARK_EMULATOR_VIEW_PORT=<port> npm start`,
        ),
      );
      assert.doesNotMatch(dev.err, /\n\s+at /, "no stack trace");
    } finally {
      await new Promise((r) => holder.close(r));
      await rm(state, { recursive: true, force: true });
    }
  });

  describe("with LARK_APP_ID/LARK_APP_SECRET it talks to that Lark, here one that is down", () => {
    let stack: Dev;
    let dev: Running;
    before(async () => {
      stack = await startDev({
        LARK_APP_ID: "cli_real",
        LARK_APP_SECRET: "s3cret",
        // Nothing listens there: every call fails fast, as an outage would.
        LARK_BASE_URL: `http://127.0.0.1:${await freePort()}`,
        LARK_MAX_ATTEMPTS: "1",
        DEV_RETRY_DELAY_MS: "100",
      });
      dev = stack.dev;
    });
    after(() => stack?.stop());

    test("no emulator, no demo targets, no invented parent, no secret written down", async () => {
      const out = dev.out();
      assert.match(out, /REAL Lark: the emulator is not started/);
      assert.match(
        out,
        /^No default destination: an untagged file is refused with missing-parent, after 3\.0 s for tags/m,
      );
      assert.doesNotMatch(out, /__emulator|--target/);
      assert.ok(
        !readFileSync(join(stack.state, "env.json"), "utf8").includes("s3cret"),
        "the secret is not written down",
      );
      const lark = await fetch(`${stack.lark}/__emulator/files`).then(
        () => "up",
        () => "down",
      );
      assert.equal(lark, "down");
    });

    test("a failing invocation is retried twice, then given up; npm run put --wait says so at once", async () => {
      const file = join(stack.state, "doc.pdf");
      await writeFile(file, "hello");
      const put = await stack.put([file, "--parent-type", "docx_file", "--parent-node", "doxcnX", "--wait"]);
      assert.equal(put.code, 1, put.out + put.err);
      assert.match(put.out, /^npm start: the function failed \(.+\); it tries again$/m);
      assert.match(put.out, /^npm start gave up after 3 attempt\(s\): /m);
      assert.ok(
        put.out.includes(
          "On AWS the event would go to the on-failure destination. To try again (with the LARK_* settings of npm start): " +
            `AWS_ENDPOINT_URL_S3=${stack.endpoint} npm run backfill -- s3://inbox/doc.pdf`,
        ),
        put.out,
      );
      assert.ok(put.ms < 20_000, `put waited ${put.ms} ms`);

      const lines = stack.lines();
      assert.equal(lines.filter((l) => /FAILED {4}doc\.pdf {2}5 B {2}TransientError: /.test(l)).length, 3, dev.out());
      assert.equal(lines.filter((l) => /invocation failed \(attempt \d of 3\)/.test(l)).length, 3);
      one(
        lines,
        new RegExp(
          "gave up: on AWS this event would go to the on-failure destination\\. " +
            `Redrive \\(with the LARK_\\* settings of npm start\\): AWS_ENDPOINT_URL_S3=${stack.endpoint} npm run backfill -- s3://inbox/doc\\.pdf$`,
        ),
      );
      assert.deepEqual(Object.keys(await stack.tags("doc.pdf")), ["lark-parent-type", "lark-parent-node"], "no tag");
    });

    test("an object uploaded by another run (a backfill) shows as such", async () => {
      const lark = await startLarkEmulator();
      try {
        const backfill = await runToEnd(
          "local/backfill.ts",
          ["s3://inbox/doc.pdf"],
          toolEnv({
            AWS_ENDPOINT_URL_S3: stack.endpoint,
            DEV_STATE_DIR: stack.state,
            LARK_APP_ID: lark.appId,
            LARK_APP_SECRET: lark.appSecret,
            LARK_BASE_URL: lark.url,
          }),
        );
        assert.equal(backfill.code, 0, backfill.out + backfill.err);
        const [file] = lark.files;
        const line = await waitFor("the line of the backfill's upload", () =>
          stack.lines().find((l) => /doc\.pdf .*uploaded by another run/.test(l)),
        );
        assert.match(
          line,
          new RegExp(
            `^${time} {2}skipped {3}doc\\.pdf {2}5 B {2}uploaded by another run {2}file_token ${file!.fileToken} {2}\\(the event of its metadata write\\)`,
          ),
        );
      } finally {
        await lark.close();
      }
    });

    test("Ctrl-C counts the objects left without an answer and names the command that finishes them", async () => {
      await stack.s3.send(
        new PutObjectCommand({
          Bucket: "inbox",
          Key: "left 1.pdf",
          Body: "x",
          Tagging: "lark-parent-type=docx_file&lark-parent-node=doxcnX",
        }),
      );
      await stack.s3.send(
        new PutObjectCommand({
          Bucket: "inbox",
          Key: "left-2.pdf",
          Body: "y",
          Tagging: "lark-parent-type=docx_file&lark-parent-node=doxcnX",
        }),
      );
      await waitFor("the first failure", () => stack.lines().some((l) => /FAILED .*left 1\.pdf/.test(l)));
      dev.child.kill("SIGINT");
      const { code } = await within(15_000, dev.exited, "stopping");
      assert.equal(code, 0, dev.err());
      const tail = dev.out().slice(dev.out().indexOf("SIGINT: stopping"));
      assert.match(
        tail,
        new RegExp(
          String.raw`\n {10}2 object\(s\) in s3://inbox wait for an answer \(neither a file token nor an error tag\)\.\n` +
            String.raw` {10}To finish them, start npm start again and run, in another shell \(with the LARK_\* settings of npm start\):\n` +
            ` {12}AWS_ENDPOINT_URL_S3=${stack.endpoint} npm run backfill -- s3://inbox/\n`,
        ),
      );
    });
  });
});

/**
 * `npm start` as a user runs it: local/dev.ts as a child process on free ports with its own state
 * folder, files dropped in through the S3 API (and `npm run put`), answers read back from the objects,
 * the terminal lines and the emulator, then Ctrl-C.
 */

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import {
  GetObjectTaggingCommand,
  HeadObjectCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  S3Client,
} from "@aws-sdk/client-s3";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

interface Running {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** The child's env: the test machine's, minus anything that would point the stack elsewhere. */
function childEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || /^LARK_/.test(k) || k === "AWS_ENDPOINT_URL_S3" || k === "MAX_FILE_BYTES" || k === "BUCKET")
      continue;
    env[k] = v;
  }
  return { ...env, NO_COLOR: "1", AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true", ...extra };
}

function run(script: string, args: string[], env: Record<string, string>): Running {
  const child = spawn(process.execPath, ["--import", "tsx", script, ...args], {
    cwd: ROOT,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  return { child, out: () => out, err: () => err, exited };
}

async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, ms = 15_000): Promise<T> {
  for (const end = Date.now() + ms; ; ) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

async function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms)),
  );
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
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

describe("npm start (local/dev.ts)", () => {
  let state: string;
  let s3Port: number;
  let larkPort: number;
  let dev: Running;
  let s3: S3Client;
  const bucket = "inbox";

  before(async () => {
    state = await mkdtemp(join(tmpdir(), "s3-to-lark-dev-"));
    s3Port = await freePort();
    larkPort = await freePort();
    dev = run(
      "local/dev.ts",
      [],
      childEnv({ S3_PORT: String(s3Port), LARK_EMULATOR_PORT: String(larkPort), DEV_STATE_DIR: state }),
    );
    await waitFor(
      "the ready line",
      () => dev.out().includes("ready: watching s3://inbox") || (dev.child.exitCode !== null && fail()),
    );
    s3 = s3Client(`http://127.0.0.1:${s3Port}`);
    function fail(): never {
      throw new Error(`npm start exited early:\n${dev.out()}\n${dev.err()}`);
    }
  });
  after(async () => {
    s3?.destroy();
    if (dev && dev.child.exitCode === null && dev.child.signalCode === null) {
      dev.child.kill("SIGKILL");
      await dev.exited;
    }
    await rm(state, { recursive: true, force: true });
  });

  const token = (key: string) =>
    s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key })).then((h) => h.Metadata?.["lark-file-token"]);
  const tags = (key: string) =>
    s3
      .send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key }))
      .then((t) => Object.fromEntries((t.TagSet ?? []).map((x) => [x.Key!, x.Value!])));

  test("prints where everything runs and how to drop a file in", () => {
    const out = dev.out();
    const s3 = `http://127.0.0.1:${s3Port}`;
    assert.match(out, new RegExp(`S3 \\(s3rver\\)\\s+${s3}\\s+bucket inbox`));
    assert.match(out, new RegExp(`Lark emulator\\s+http://127.0.0.1:${larkPort}`));
    assert.ok(out.includes(`aws --endpoint-url ${s3} s3 cp ./file.pdf s3://inbox/`));
    assert.ok(out.includes(`aws --endpoint-url ${s3} s3api put-object-tagging --bucket inbox --key file.pdf`));
    assert.ok(
      out.includes(
        "npm run put -- ./file.pdf [--parent-type docx_file --parent-node doxcn…] [--name NAME] [--key KEY]",
      ),
    );
    const exports = out.split("\n").filter((l) => l.trim().startsWith("export "));
    assert.deepEqual(
      exports.map((l) => l.trim()),
      [
        `export AWS_ENDPOINT_URL_S3=${s3} AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1 BUCKET=inbox`,
      ],
    );
    assert.ok(out.includes(`curl http://127.0.0.1:${larkPort}/__emulator/files`));
    assert.match(out, /untagged files go to docx_file\/doxcnLocalDemo/);
    const info = JSON.parse(readFileSync(join(state, "env.json"), "utf8"));
    assert.equal(info.s3Endpoint, s3);
    assert.equal(info.emulator.baseUrl, `http://127.0.0.1:${larkPort}`);
  });

  test("dropped files reach the emulator through the real handler, with one readable line per outcome", async () => {
    // Untagged: the default parent.
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "drop/plain report.pdf", Body: Buffer.alloc(2000, 7) }));
    // Tagged with npm run put.
    const file = join(state, "tagged.pdf");
    await writeFile(file, Buffer.alloc(300, 1));
    const put = run(
      "local/put.ts",
      [
        file,
        "--key",
        "tagged.pdf",
        "--parent-type",
        "docx_file",
        "--parent-node",
        "doxcnTagged01",
        "--name",
        "Nice name.pdf",
      ],
      {
        ...childEnv({
          AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${s3Port}`,
          AWS_ACCESS_KEY_ID: "S3RVER",
          AWS_SECRET_ACCESS_KEY: "S3RVER",
          AWS_REGION: "us-east-1",
        }),
      },
    );
    assert.equal((await within(20_000, put.exited, "npm run put")).code, 0, put.err());
    assert.match(put.out(), /put s3:\/\/inbox\/tagged\.pdf {2}300 B/);
    // Empty: refused.
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "empty.txt", Body: "" }));
    // Tagged right after the put, as S3 clients without the Tagging header do: the tags still count.
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "bad.pdf", Body: "x" }));
    await s3.send(
      new PutObjectTaggingCommand({
        Bucket: bucket,
        Key: "bad.pdf",
        Tagging: {
          TagSet: [
            { Key: "lark-parent-type", Value: "wiki" },
            { Key: "lark-parent-node", Value: "n" },
          ],
        },
      }),
    );

    const plainToken = await waitFor("the untagged file's token", () => token("drop/plain report.pdf"));
    const taggedToken = await waitFor("the tagged file's token", () => token("tagged.pdf"));
    const emptyError = await waitFor("the empty file's error tag", () =>
      tags("empty.txt").then((t) => t["lark-upload-error"]),
    );
    const badError = await waitFor("the bad file's error tag", () =>
      tags("bad.pdf").then((t) => t["lark-upload-error"]),
    );
    assert.match(emptyError, /^empty-file: /);
    assert.match(badError, /^invalid-parent-type: wiki is not one of/);

    const files = (await (await fetch(`http://127.0.0.1:${larkPort}/__emulator/files`)).json()) as Record<
      string,
      unknown
    >[];
    assert.equal(files.length, 2);
    const byToken = new Map(files.map((f) => [f.fileToken, f]));
    assert.deepEqual(
      {
        name: byToken.get(plainToken)?.fileName,
        type: byToken.get(plainToken)?.parentType,
        node: byToken.get(plainToken)?.parentNode,
        size: byToken.get(plainToken)?.size,
      },
      { name: "plain report.pdf", type: "docx_file", node: "doxcnLocalDemo", size: 2000 },
    );
    assert.deepEqual(
      {
        name: byToken.get(taggedToken)?.fileName,
        node: byToken.get(taggedToken)?.parentNode,
        size: byToken.get(taggedToken)?.size,
      },
      { name: "Nice name.pdf", node: "doxcnTagged01", size: 300 },
    );

    // The terminal: one line per outcome, and the self-copy's event said for what it is.
    const lines = await waitFor("the self-copy lines", () => {
      const l = dev.out().split("\n");
      return l.filter((x) => /skipped .*own metadata write/.test(x)).length >= 2 ? l : undefined;
    });
    const time = String.raw`\d\d:\d\d:\d\d`;
    const one = (re: RegExp) => {
      const hits = lines.filter((l) => re.test(l));
      assert.equal(hits.length, 1, `one line matching ${re} in:\n${lines.join("\n")}`);
      return hits[0]!;
    };
    one(
      new RegExp(
        `^${time} {2}uploaded {2}drop/plain report\\.pdf {2}2\\.0 KiB {2}-> docx_file:doxcnLocalDemo {2}file_token ${plainToken} {2}[\\d.]+ m?s$`,
      ),
    );
    one(
      new RegExp(
        `^${time} {2}uploaded {2}tagged\\.pdf {2}300 B {2}-> docx_file:doxcnTagged01 {2}file_token ${taggedToken} {2}\\d+ ms$`,
      ),
    );
    one(new RegExp(`^${time} {2}rejected {2}empty\\.txt {2}0 B {2}empty-file: the object is empty`));
    one(new RegExp(`^${time} {2}rejected {2}bad\\.pdf {2}1 B {2}invalid-parent-type: wiki`));
    one(/skipped {3}drop\/plain report\.pdf .*already-uploaded {2}\(the event of the function's own metadata write\)/);
    assert.ok(!/"level"|"_aws"/.test(dev.out()), "no JSON log or metric lines in the terminal");

    const log = readFileSync(join(state, "function.log"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.ok(log.some((l) => l.message === "uploaded" && l.key === "tagged.pdf" && l.fileToken === taggedToken));
    assert.ok(
      log.some((l) => l._aws),
      "the metric lines went to the log",
    );
  });

  test("Ctrl-C closes everything and exits 0", async () => {
    dev.child.kill("SIGINT");
    const { code } = await within(8000, dev.exited, "stopping");
    assert.equal(code, 0, dev.err());
    assert.match(dev.out(), /SIGINT: stopping/);
    assert.equal(existsSync(join(state, "env.json")), false, "the stack's settings are gone with it");
    // The ports are free again.
    const s3Free = createServer();
    await new Promise<void>((resolve, reject) => s3Free.once("error", reject).listen(s3Port, "127.0.0.1", resolve));
    await new Promise((r) => s3Free.close(r));
  });
});

describe("npm start, the other ways", () => {
  let state: string;
  before(async () => (state = await mkdtemp(join(tmpdir(), "s3-to-lark-dev-"))));
  after(() => rm(state, { recursive: true, force: true }));

  test("a busy port is a clear error, not a stack trace", async () => {
    const holder: Server = createServer();
    await new Promise<void>((r) => holder.listen(0, "127.0.0.1", r));
    const busy = (holder.address() as { port: number }).port;
    try {
      const dev = run(
        "local/dev.ts",
        [],
        childEnv({ S3_PORT: String(busy), LARK_EMULATOR_PORT: String(await freePort()), DEV_STATE_DIR: state }),
      );
      const { code } = await within(15_000, dev.exited, "failing");
      assert.equal(code, 1);
      assert.match(dev.err(), new RegExp(`port ${busy} for the local S3 is already in use .*S3_PORT=<port> npm start`));
      assert.doesNotMatch(dev.err(), /\n\s+at /, "no stack trace");
    } finally {
      await new Promise((r) => holder.close(r));
    }
  });

  test("with LARK_APP_ID/LARK_APP_SECRET it talks to that Lark: no emulator, no invented parent; a failing invocation is retried twice, then given up", async () => {
    const s3Port = await freePort();
    const larkPort = await freePort();
    const dev = run(
      "local/dev.ts",
      [],
      childEnv({
        S3_PORT: String(s3Port),
        LARK_EMULATOR_PORT: String(larkPort),
        DEV_STATE_DIR: state,
        LARK_APP_ID: "cli_real",
        LARK_APP_SECRET: "s3cret",
        // Nothing listens there: every call fails fast, as an outage would.
        LARK_BASE_URL: `http://127.0.0.1:${await freePort()}`,
        LARK_MAX_ATTEMPTS: "1",
        DEV_RETRY_DELAY_MS: "100",
      }),
    );
    const s3 = s3Client(`http://127.0.0.1:${s3Port}`);
    try {
      await waitFor("the ready line", () => dev.out().includes("ready:") || dev.child.exitCode !== null);
      const out = dev.out();
      assert.match(out, /REAL Lark: the emulator is not started/);
      assert.match(out, /no default parent: an untagged file is refused/);
      assert.doesNotMatch(out, /__emulator/);
      assert.ok(
        !JSON.stringify(JSON.parse(readFileSync(join(state, "env.json"), "utf8"))).includes("s3cret"),
        "the secret is not written down",
      );
      const lark = await fetch(`http://127.0.0.1:${larkPort}/__emulator/files`).then(
        () => "up",
        () => "down",
      );
      assert.equal(lark, "down");

      await s3.send(
        new PutObjectCommand({
          Bucket: "inbox",
          Key: "doc.pdf",
          Body: "hello",
          Tagging: "lark-parent-type=docx_file&lark-parent-node=doxcnX",
        }),
      );
      await s3.send(
        new PutObjectTaggingCommand({
          Bucket: "inbox",
          Key: "doc.pdf",
          Tagging: {
            TagSet: [
              { Key: "lark-parent-type", Value: "docx_file" },
              { Key: "lark-parent-node", Value: "doxcnX" },
            ],
          },
        }),
      );
      await waitFor("the give-up line", () => dev.out().includes("gave up"), 20_000);
      const lines = dev.out().split("\n");
      assert.equal(lines.filter((l) => /FAILED {4}doc\.pdf {2}5 B {2}TransientError: /.test(l)).length, 3, dev.out());
      assert.equal(lines.filter((l) => /invocation failed \(attempt \d of 3\)/.test(l)).length, 3);
      assert.match(
        dev.out(),
        /gave up: on AWS this event would go to the on-failure destination\. Redrive: npm run backfill -- s3:\/\/inbox\//,
      );
      assert.deepEqual(
        await s3
          .send(new GetObjectTaggingCommand({ Bucket: "inbox", Key: "doc.pdf" }))
          .then((t) => t.TagSet?.map((x) => x.Key)),
        ["lark-parent-type", "lark-parent-node"],
        "a failure tags nothing",
      );
    } finally {
      s3.destroy();
      dev.child.kill("SIGINT");
      assert.equal((await within(8000, dev.exited, "stopping")).code, 0);
    }
  });
});

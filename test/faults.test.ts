/**
 * Surviving the real Lark: faults injected at the HTTP level by the emulator, against the
 * real handler and s3rver. Transient faults are retried and then handed to Lambda; permanent ones are
 * told on the object at once.
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, beforeEach, describe, test } from "node:test";
import type { Fault } from "../local/lark-emulator";
import { bytes, type Stack, startStack, TO_DOCX } from "./support/stack";

const sha256 = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");

let stack: Stack;
let n = 0;
before(async () => {
  stack = await startStack({ env: { LARK_MAX_ATTEMPTS: "3", LARK_TIMEOUT_MS: "400" } });
});
after(() => stack.close());
beforeEach(() => {
  stack.lark.reset();
  stack.logs.length = 0;
});

async function drop(body: string | Buffer = `file ${++n}`) {
  const key = `faults/object-${++n}.txt`;
  return { key, event: await stack.put(key, body, { tags: TO_DOCX, Metadata: { keep: "me" } }) };
}

async function assertUntouched(key: string) {
  const head = await stack.head(key);
  assert.deepEqual(head.Metadata, { keep: "me" }, "no token written");
  assert.deepEqual(await stack.tags(key), TO_DOCX, "no error tag");
}

const transient: [string, Fault][] = [
  ["Lark 1061045 can retry", { kind: "code", code: 1061045, httpStatus: 200, msg: "can retry" }],
  [
    "Lark 1061006 internal time out",
    { kind: "code", code: 1061006, httpStatus: 200, msg: "internal time out, can retry" },
  ],
  ["Lark 1061001 unknown error", { kind: "code", code: 1061001, httpStatus: 200, msg: "unknown error" }],
  ["Lark 1062051 client connect close", { kind: "code", code: 1062051, httpStatus: 400, msg: "client connect close" }],
  [
    "Lark 99991400 rate limited",
    {
      kind: "code",
      code: 99991400,
      httpStatus: 429,
      msg: "request trigger frequency limit",
      headers: { "x-ogw-ratelimit-limit": "5", "x-ogw-ratelimit-reset": "0.3" },
    },
  ],
  [
    "HTTP 500 with an HTML body",
    { kind: "http", status: 500, body: "<html><body>Internal Server Error</body></html>", contentType: "text/html" },
  ],
  [
    "HTTP 502 with an HTML body",
    { kind: "http", status: 502, body: "<html><body>Bad Gateway</body></html>", contentType: "text/html" },
  ],
  [
    "HTTP 503 with an HTML body",
    { kind: "http", status: 503, body: "<html><body>Service Unavailable</body></html>", contentType: "text/html" },
  ],
  ["a connection reset", { kind: "reset" }],
  ["a hung request", { kind: "hang" }],
];

describe("transient faults", () => {
  for (const [what, fault] of transient) {
    test(`${what}: retried, then the upload succeeds`, async () => {
      const { key, event } = await drop();
      stack.lark.injectFault({ fault, path: "upload_all", times: 1 });
      const started = Date.now();
      const result: any = await stack.handler(event);
      assert.equal(result.objects[0].outcome.kind, "uploaded");
      assert.equal(result.objects[0].outcome.calls, 2, "one failed call, one retry");
      assert.equal(stack.lark.files.length, 1);
      assert.equal((await stack.head(key)).Metadata?.["lark-file-token"], stack.lark.files[0]!.fileToken);
      if (fault.kind === "code" && fault.code === 99991400)
        assert.ok(Date.now() - started >= 300, "waited x-ogw-ratelimit-reset");
      assert.ok(stack.logs.some((l) => l.message === "retrying" && l.key === key));
    });

    test(`${what}, persisting: the invocation fails and the object is untouched`, async () => {
      const { key, event } = await drop();
      stack.lark.injectFault({ fault, path: "upload_all", times: 50 });
      await assert.rejects(stack.handler(event), /1 of 1 object\(s\) failed and will be retried/);
      assert.equal(stack.lark.stats().requests, 3, "LARK_MAX_ATTEMPTS calls");
      assert.equal(stack.lark.files.length, 0);
      await assertUntouched(key);
      stack.lark.clearFaults();
    });
  }

  test("an invocation about to time out stops retrying and fails cleanly before Lambda would kill it", async () => {
    const { key, event } = await drop();
    stack.lark.injectFault({ fault: { kind: "hang" }, path: "upload_all", times: 50 });
    const started = Date.now();
    const remaining = 1500;
    await assert.rejects(
      stack.handler(event, { awsRequestId: "r1", getRemainingTimeInMillis: () => remaining - (Date.now() - started) }),
    );
    assert.ok(
      Date.now() - started < remaining,
      `gave up after ${Date.now() - started} ms, inside the ${remaining} ms left`,
    );
    await assertUntouched(key);
    stack.lark.clearFaults();
  });

  for (const code of [99991663, 99991665, 99991671]) {
    test(`token rejected with ${code}: fetched again once, then the upload succeeds`, async () => {
      const { key, event } = await drop();
      const tokens = stack.lark.stats().tokenRequests;
      stack.lark.injectFault({
        fault: { kind: "code", code, httpStatus: 400, msg: "token invalid" },
        path: "upload_all",
      });
      const result: any = await stack.handler(event);
      assert.equal(result.objects[0].outcome.kind, "uploaded");
      assert.equal(stack.lark.stats().tokenRequests, tokens + 1);
      assert.ok((await stack.head(key)).Metadata?.["lark-file-token"]);
    });
  }

  test("an app without the scope (99991672) fails the invocation without blaming the object", async () => {
    const { key, event } = await drop();
    stack.lark.injectFault({
      fault: { kind: "code", code: 99991672, httpStatus: 400, msg: "app has no scope" },
      path: "upload_all",
    });
    await assert.rejects(stack.handler(event), /99991672/);
    assert.equal(stack.lark.stats().requests, 1, "not retried");
    await assertUntouched(key);
  });
});

describe("permanent Lark errors", () => {
  const permanent: [number, number, string][] = [
    [1061002, 400, "params error."],
    [1061004, 403, "forbidden."],
    [1061005, 401, "auth failed."],
    [1061008, 400, "invalid file name."],
    [1061043, 400, "file size beyond limit."],
    [1061044, 400, "parent node not exist."],
    [1061041, 400, "parent node has been deleted."],
    [1062009, 400, "the actual size is inconsistent with the parameter declaration size."],
    [1061101, 400, "file quota exceeded."],
    [1061061, 400, "user quota exceeded."],
    [1061109, 400, "file name cqc not passed."],
    [1061113, 400, "file cqc not passed."],
    [1062507, 400, "parent node out of sibling num."],
  ];
  for (const [code, httpStatus, msg] of permanent) {
    test(`${code} ${msg} is not retried and is tagged lark-${code}`, async () => {
      const { key, event } = await drop();
      stack.lark.injectFault({ fault: { kind: "code", code, httpStatus, msg }, path: "upload_all" });
      const result: any = await stack.handler(event);
      assert.equal(result.objects[0].outcome.kind, "rejected");
      assert.equal(stack.lark.stats().requests, 1);
      const tags = await stack.tags(key);
      assert.equal(tags["lark-upload-error"]!.split(":")[0], `lark-${code}`);
      assert.deepEqual({ ...tags, "lark-upload-error": undefined }, { ...TO_DOCX, "lark-upload-error": undefined });
      assert.equal((await stack.head(key)).Metadata?.["lark-file-token"], undefined);
    });
  }
});

describe("Lark refusing our checksum (1062008)", () => {
  test("the file goes again without a checksum, once, and lands; a warning and a metric say so", async () => {
    const { key, event } = await drop();
    stack.lark.injectFault({
      fault: { kind: "code", code: 1062008, httpStatus: 400, msg: "checksum param Invalid." },
      path: "upload_all",
    });
    stack.metrics.length = 0;
    const result: any = await stack.handler(event);
    assert.equal(result.objects[0].outcome.kind, "uploaded");
    assert.equal(result.objects[0].outcome.checksumRefused, true);
    assert.equal(stack.lark.stats().requests, 2, "the refused call and one without checksum");
    assert.equal(stack.lark.files.length, 1);
    assert.equal(stack.lark.files[0]!.checksum, undefined, "the second call carried no checksum");
    assert.equal((await stack.head(key)).Metadata?.["lark-file-token"], stack.lark.files[0]!.fileToken);
    assert.equal((await stack.tags(key))["lark-upload-error"], undefined, "no error tag for our checksum");
    assert.ok(stack.logs.some((l) => l.level === "warn" && /refused the checksum/.test(l.message)));
    assert.equal(stack.metrics.at(-1)!.ChecksumRefused, 1);
  });

  test("refused again without a checksum, the refusal is Lark's answer about the file", async () => {
    const { key, event } = await drop();
    stack.lark.injectFault({
      fault: { kind: "code", code: 1062008, httpStatus: 400, msg: "checksum param Invalid." },
      path: "upload_all",
      times: 2,
    });
    const result: any = await stack.handler(event);
    assert.equal(result.objects[0].outcome.kind, "rejected");
    assert.equal(stack.lark.stats().requests, 2, "never a third try");
    assert.match((await stack.tags(key))["lark-upload-error"]!, /^lark-1062008: /);
  });
});

describe("at-least-once, out-of-order delivery", () => {
  test("replayed, duplicated and reordered events, with a stale one after an overwrite: one upload per key, never old over new", async () => {
    const events = [];
    for (let i = 0; i < 6; i++) events.push((await drop(`v1 of ${i}`)).event);
    const key0 = events[0]!.Records[0]!.s3.object.key;
    // Overwrite object 0: its first event is now stale.
    const fresh = await stack.put(decodeURIComponent(key0), "v2 of 0", { tags: TO_DOCX, Metadata: { keep: "me" } });
    const deliveries = [fresh, ...events, ...events.slice(2), events[0]!, fresh].reverse();
    for (const e of deliveries) await stack.handler(e);
    assert.equal(stack.lark.files.length, 6, "each key once");
    assert.equal(new Set(stack.lark.files.map((f) => f.fileName)).size, 6);
    const zero = stack.lark.files.find((f) => f.fileName === decodeURIComponent(key0).split("/").pop());
    assert.equal(zero?.sha256, sha256("v2 of 0"), "the new content, not the old");
  });

  test("a burst of 200 objects over many invocations keeps Lark's 5/s and one-at-a-time limits, each uploaded exactly once", async () => {
    // Time-scaled: the emulator counts 5 per 100 ms and the function paces at 50/s; the floor is 4 s.
    const fast = await startStack({ timeScale: 0.1 });
    try {
      const keys: string[] = [];
      const batches: unknown[] = [];
      for (let b = 0; b < 20; b++) {
        const records = [];
        for (let i = 0; i < 10; i++) {
          const key = `burst/${b}-${i}.txt`;
          keys.push(key);
          records.push({
            messageId: key,
            eventSource: "aws:sqs",
            body: JSON.stringify(await fast.put(key, key, { tags: TO_DOCX })),
          });
        }
        batches.push({ Records: records });
      }
      // Two invocations in flight at once, as two batches could be in one warm process.
      const results: any[] = [];
      for (let b = 0; b < batches.length; b += 2)
        results.push(...(await Promise.all([fast.handler(batches[b]), fast.handler(batches[b + 1])])));
      assert.ok(results.every((r) => r.batchItemFailures.length === 0));
      const stats = fast.lark.stats();
      assert.equal(stats.rateViolations, 0);
      assert.equal(stats.concurrencyViolations, 0);
      assert.equal(stats.maxInFlight, 1);
      assert.equal(fast.lark.files.length, 200);
      assert.equal(new Set(fast.lark.files.map((f) => f.sha256)).size, 200, "no duplicates");
      for (const key of keys) assert.ok((await fast.head(key)).Metadata?.["lark-file-token"], key);
    } finally {
      await fast.close();
    }
  });
});

describe("chunked upload above 20 MiB (LARGE_FILES=chunked)", () => {
  let big: Stack;
  const size = 5 * 4 * 1024 * 1024 + 1234567; // 6 blocks, the last one short
  before(async () => {
    big = await startStack({
      env: { LARGE_FILES: "chunked", MAX_FILE_BYTES: String(32 * 1024 * 1024), LARK_MAX_ATTEMPTS: "3" },
    });
  });
  after(() => big.close());
  beforeEach(() => big.lark.reset());

  test("a file of several blocks whose size is not a multiple of 4 MiB", async () => {
    const body = bytes(size, 11);
    const result: any = await big.handler(await big.put("big/chunked.bin", body, { tags: TO_DOCX }));
    assert.equal(result.objects[0].outcome.route, "chunked");
    assert.equal(big.lark.files.length, 1);
    assert.equal(big.lark.files[0]!.route, "chunked");
    assert.equal(big.lark.files[0]!.size, size);
    assert.equal(big.lark.files[0]!.sha256, sha256(body));
    assert.deepEqual(
      big.lark.requests.map((r) => r.path.split("/").pop()),
      ["upload_prepare", ...Array(6).fill("upload_part"), "upload_finish"],
    );
    assert.equal((await big.head("big/chunked.bin")).Metadata?.["lark-file-token"], big.lark.files[0]!.fileToken);
  });

  test("a block failing transiently is retried alone", async () => {
    const body = bytes(size, 12);
    big.lark.injectFault({
      fault: { kind: "http", status: 502, body: "<html>bad gateway</html>", contentType: "text/html" },
      path: "upload_part",
    });
    await big.handler(await big.put("big/retry-part.bin", body, { tags: TO_DOCX }));
    assert.equal(big.lark.files[0]!.sha256, sha256(body));
    assert.equal(big.lark.requests.filter((r) => r.path.endsWith("upload_part")).length, 7);
    assert.equal(big.lark.requests.filter((r) => r.path.endsWith("upload_prepare")).length, 1);
  });

  test("an expired upload id (1061021) restarts the flow from upload_prepare", async () => {
    const body = bytes(size, 13);
    const event = await big.put("big/expired.bin", body, { tags: TO_DOCX });
    big.lark.injectFault({
      fault: { kind: "code", code: 1061021, httpStatus: 400, msg: "upload id expire." },
      path: "upload_part",
    });
    await big.handler(event);
    assert.equal(big.lark.files.length, 1);
    assert.equal(big.lark.files[0]!.sha256, sha256(body));
    assert.equal(big.lark.requests.filter((r) => r.path.endsWith("upload_prepare")).length, 2);
  });

  test("a part whose checksum Lark refuses goes again without one, and so do the parts after it", async () => {
    const body = bytes(size, 15);
    big.lark.injectFault({
      fault: { kind: "code", code: 1062008, httpStatus: 400, msg: "checksum param Invalid." },
      path: "upload_part",
    });
    const result: any = await big.handler(await big.put("big/checksum.bin", body, { tags: TO_DOCX }));
    assert.equal(result.objects[0].outcome.checksumRefused, true);
    assert.equal(big.lark.files[0]!.sha256, sha256(body));
    assert.equal(big.lark.requests.filter((r) => r.path.endsWith("upload_part")).length, 7);
  });

  test("above MAX_FILE_BYTES is still too-large, never downloaded", async () => {
    await big.handler(await big.put("big/over.bin", bytes(32 * 1024 * 1024 + 1, 14), { tags: TO_DOCX }));
    assert.equal(big.lark.stats().requests, 0);
    assert.match(
      (await big.tags("big/over.bin"))["lark-upload-error"]!,
      /^too-large: 33554433 bytes is above the limit of 33554432 bytes MAX_FILE_BYTES/,
    );
  });
});

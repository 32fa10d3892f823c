/** Settings, event parsing and the secret's sources: the contract at the function's edges. */

import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, test } from "node:test";
import { loadConfig } from "../lib/config";
import { ConfigurationError } from "../lib/errors";
import { parseEvent } from "../lib/event";
import { createHandler } from "../lib/handler";
import { createLogger } from "../lib/log";
import { createRuntime } from "../lib/runtime";
import { decodeS3Key, encodeS3Key } from "../lib/s3-keys";
import { secretReader } from "../lib/secret";

const BASE = { LARK_APP_ID: "cli_a", LARK_APP_SECRET: "s" };

describe("configuration", () => {
  test("defaults", () => {
    const c = loadConfig(BASE);
    assert.equal(c.larkBaseUrl, "https://open.larksuite.com");
    assert.equal(c.maxFileBytes, 20971520);
    assert.equal(c.largeFiles, "reject");
    assert.equal(c.uploadsPerSecond, 5);
    assert.equal(c.radosgwWorkarounds, false, "AWS keeps tags on a self-copy and honours the standard copy guard");
    const custom = loadConfig({ ...BASE, AWS_ENDPOINT_URL_S3: "http://127.0.0.1:1" });
    assert.equal(custom.radosgwWorkarounds, false, "a custom endpoint alone is not radosgw");
    assert.equal(loadConfig({ ...BASE, S3_RADOSGW_WORKAROUNDS: "true" }).radosgwWorkarounds, true);
    assert.deepEqual(c.appSecret, { kind: "value", value: "s" });
  });

  const bad: [string, Record<string, string>, RegExp][] = [
    ["no app id", { LARK_APP_SECRET: "s" }, /LARK_APP_ID is required/],
    [
      "no secret at all",
      { LARK_APP_ID: "a" },
      /exactly one of LARK_APP_SECRET, LARK_APP_SECRET_SSM_PARAMETER or LARK_APP_SECRET_SECRET_ID/,
    ],
    ["two secrets", { ...BASE, LARK_APP_SECRET_SSM_PARAMETER: "/p" }, /exactly one of/],
    [
      "a cap above 20 MiB without chunked uploads",
      { ...BASE, MAX_FILE_BYTES: "20971521" },
      /MAX_FILE_BYTES must be an integer from 1 to 20971520/,
    ],
    ["a cap that is not a number", { ...BASE, MAX_FILE_BYTES: "20MB" }, /MAX_FILE_BYTES must be an integer/],
    ["an unknown large-file mode", { ...BASE, LARGE_FILES: "split" }, /LARGE_FILES must be "reject" or "chunked"/],
    ["half a default parent", { ...BASE, LARK_DEFAULT_PARENT_TYPE: "docx_file" }, /must be set together/],
    [
      "a default parent type Lark does not know",
      { ...BASE, LARK_DEFAULT_PARENT_TYPE: "wiki", LARK_DEFAULT_PARENT_NODE: "n" },
      /LARK_DEFAULT_PARENT_TYPE must be one of/,
    ],
    [
      "a base URL with a path",
      { ...BASE, LARK_BASE_URL: "https://open.feishu.cn/open-apis" },
      /LARK_BASE_URL must be an origin/,
    ],
  ];
  for (const [what, env, message] of bad) {
    test(`refused: ${what}`, () => {
      assert.throws(
        () => loadConfig(env),
        (err: unknown) => err instanceof ConfigurationError && message.test(err.message),
      );
    });
  }

  test("the app secret goes in clear only to this machine", () => {
    assert.throws(
      () => loadConfig({ ...BASE, LARK_BASE_URL: "http://open.larksuite.com" }),
      /LARK_BASE_URL must use https/,
    );
    assert.equal(loadConfig({ ...BASE, LARK_BASE_URL: "http://127.0.0.1:9876" }).larkBaseUrl, "http://127.0.0.1:9876");
  });

  test("a configuration error is logged and counted before the invocation fails", async () => {
    const lines: any[] = [];
    const handler = createHandler({
      runtime: () => createRuntime(loadConfig({ LARK_APP_ID: "a" })),
      logger: createLogger({}, { write: (l) => lines.push(JSON.parse(l)) }),
      writeMetrics: (l) => lines.push(JSON.parse(l)),
    });
    const event = {
      Records: [
        {
          eventSource: "aws:s3",
          eventVersion: "2.1",
          eventName: "ObjectCreated:Put",
          s3: { bucket: { name: "b" }, object: { key: "k", size: 1, eTag: "e" } },
        },
      ],
    };
    await assert.rejects(handler(event), ConfigurationError);
    assert.equal(lines[0].message, "cannot start");
    assert.match(lines[0].error.message, /exactly one of LARK_APP_SECRET/);
    assert.equal(lines[1].ConfigurationErrors, 1);
  });

  test("chunked mode lifts the ceiling to MAX_FILE_BYTES", () => {
    assert.equal(
      loadConfig({ ...BASE, LARGE_FILES: "chunked", MAX_FILE_BYTES: "1073741824" }).maxFileBytes,
      1073741824,
    );
  });

  test("the secret never appears in a configuration error", () => {
    assert.throws(
      () => loadConfig({ LARK_APP_SECRET: "hunter2-very-secret", MAX_FILE_BYTES: "x" }),
      (err: Error) => !err.message.includes("hunter2"),
    );
  });
});

describe("event parsing", () => {
  test("AWS keys are form-decoded once; radosgw keys are taken raw", () => {
    const aws = parseEvent({
      Records: [
        {
          eventSource: "aws:s3",
          eventVersion: "2.1",
          eventName: "ObjectCreated:Put",
          s3: {
            bucket: { name: "b" },
            object: { key: "a+b%2Bc%25d%28e%29", size: 3, eTag: "abc", versionId: "null", sequencer: "01" },
          },
        },
      ],
    });
    assert.deepEqual(aws, {
      source: "s3",
      objects: [{ bucket: "b", key: "a b+c%d(e)", eTag: "abc", size: 3, eventName: "ObjectCreated:Put" }],
    });
    const ceph = parseEvent({
      Records: [
        {
          eventSource: "ceph:s3",
          eventVersion: "2.2",
          eventName: "ObjectCreated:Put",
          s3: { bucket: { name: "b" }, object: { key: "a+b %2B(1).txt", size: 3, eTag: "abc", versionId: "v1" } },
        },
      ],
    });
    assert.equal(ceph.source === "s3" && ceph.objects[0]!.key, "a+b %2B(1).txt");
    assert.equal(ceph.source === "s3" && ceph.objects[0]!.versionId, "v1");
  });

  test("encodeS3Key is the inverse of decodeS3Key for awkward keys", () => {
    for (const key of ["a b+c", "100%", "报告 (1).pdf", "x/y/z ~!*'().txt", "%2B"])
      assert.equal(decodeS3Key(encodeS3Key(key)), key);
    assert.equal(encodeS3Key("a b+c(1)/d"), "a+b%2Bc%281%29/d");
  });

  test("an SQS event whose body is a test event yields no objects", () => {
    const parsed = parseEvent({
      Records: [
        {
          eventSource: "aws:sqs",
          messageId: "m1",
          body: JSON.stringify({ Event: "s3:TestEvent", Service: "Amazon S3" }),
        },
      ],
    });
    assert.deepEqual(parsed, { source: "sqs", messages: [{ messageId: "m1", objects: [] }] });
  });
});

/** A minimal server for the AWS JSON protocol (SSM and Secrets Manager speak it), over real HTTP. */
async function awsJsonServer(answer: (target: string, body: any) => [number, unknown]) {
  const seen: { target: string; body: any }[] = [];
  const server = createServer((req, res) => {
    let data = "";
    req.on("data", (c) => (data += c));
    req.on("end", () => {
      const target = String(req.headers["x-amz-target"]);
      const body = JSON.parse(data || "{}");
      seen.push({ target, body });
      const [status, reply] = answer(target, body);
      res.writeHead(status, { "content-type": "application/x-amz-json-1.1" }).end(JSON.stringify(reply));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => new Promise((r) => server.close(r)),
  };
}

describe("the app secret's sources", () => {
  test("from an SSM SecureString, decrypted, read once per process", async () => {
    const ssm = await awsJsonServer(() => [
      200,
      { Parameter: { Name: "/s3-to-lark/secret", Type: "SecureString", Value: "from-ssm", Version: 1 } },
    ]);
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_SSM: ssm.url,
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "k",
      AWS_SECRET_ACCESS_KEY: "s",
    });
    try {
      const read = secretReader({ kind: "ssm", name: "/s3-to-lark/secret" });
      assert.equal(await read(), "from-ssm");
      assert.equal(await read(), "from-ssm");
      assert.equal(ssm.seen.length, 1);
      assert.equal(ssm.seen[0]!.target, "AmazonSSM.GetParameter");
      assert.deepEqual(ssm.seen[0]!.body, { Name: "/s3-to-lark/secret", WithDecryption: true });
    } finally {
      await ssm.close();
    }
  });

  test("from Secrets Manager; a missing secret is a configuration error that names it", async () => {
    const sm = await awsJsonServer((_t, body) =>
      body.SecretId === "lark"
        ? [200, { Name: "lark", SecretString: "from-sm" }]
        : [400, { __type: "ResourceNotFoundException", message: "no such secret" }],
    );
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_SECRETS_MANAGER: sm.url,
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "k",
      AWS_SECRET_ACCESS_KEY: "s",
    });
    try {
      assert.equal(await secretReader({ kind: "secretsmanager", id: "lark" })(), "from-sm");
      await assert.rejects(
        secretReader({ kind: "secretsmanager", id: "other" })(),
        (err: Error) =>
          err instanceof ConfigurationError && /secret other: ResourceNotFoundException/.test(err.message),
      );
    } finally {
      await sm.close();
    }
  });
});

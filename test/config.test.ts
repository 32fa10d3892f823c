/** The settings: defaults, every refusal with the variable it names, and what a bad start looks like. */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { loadConfig } from "../lib/config";
import { ConfigurationError } from "../lib/errors";
import { createHandler } from "../lib/handler";
import { createLogger } from "../lib/log";
import { createRuntime } from "../lib/runtime";

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
      "an upload rate above Lark's 5 a second",
      { ...BASE, LARK_UPLOADS_PER_SECOND: "6" },
      /LARK_UPLOADS_PER_SECOND must be an integer from 1 to 5/,
    ],
    ["a log level that does not exist", { ...BASE, LOG_LEVEL: "verbose" }, /LOG_LEVEL must be one of debug, info/],
    ["a switch that is not true or false", { ...BASE, S3_RADOSGW_WORKAROUNDS: "yes" }, /must be true or false/],
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

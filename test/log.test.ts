/** The log lines: errors with their cause chain, stacks and debug lines only at debug level, secrets masked. */

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ConfigurationError, TransientError } from "../lib/errors";
import { createLogger } from "../lib/log";
import { type Stack, startStack, TO_DOCX } from "./support/stack";

describe("the logger", () => {
  const capture = (level: "debug" | "info") => {
    const lines: any[] = [];
    return { lines, log: createLogger({ service: "t" }, { level, write: (l) => lines.push(JSON.parse(l)) }) };
  };
  const chained = () =>
    new ConfigurationError("cannot read the Lark app secret", {
      cause: new TransientError("S3 SlowDown", { cause: new Error("socket hang up"), larkCode: 1061045 }),
    });

  test("an error is written with its cause chain and codes; its stack only at debug", () => {
    const info = capture("info");
    info.log.error("failed", { error: chained() });
    const error = info.lines[0].error;
    assert.equal(error.name, "ConfigurationError");
    assert.equal(error.cause.name, "TransientError");
    assert.equal(error.cause.larkCode, 1061045);
    assert.equal(error.cause.cause.message, "socket hang up");
    assert.equal(error.stack, undefined);
    const debug = capture("debug");
    debug.log.error("failed", { error: chained() });
    assert.match(debug.lines[0].error.stack, /ConfigurationError: cannot read the Lark app secret\n\s+at /);
    assert.match(debug.lines[0].error.cause.stack, /TransientError/);
  });

  test("debug lines are written at debug level only; credentials are masked wherever they are", () => {
    const info = capture("info");
    info.log.debug("detail", { x: 1 });
    assert.equal(info.lines.length, 0);
    assert.equal(info.log.debugEnabled, false);
    const debug = capture("debug");
    debug.log.child({ request: { authorization: "Bearer t-abc" } }).debug("detail", { app_secret: "s", token: "t" });
    assert.deepEqual(debug.lines[0].request, { authorization: "[redacted]" });
    assert.equal(debug.lines[0].app_secret, "[redacted]");
    assert.equal(debug.lines[0].token, "[redacted]");
  });
});

describe("LOG_LEVEL=debug on a real invocation", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ logLevel: "debug" });
  });
  after(() => stack.close());

  test("says what was decided and what Lark answered, without the tenant token or the secret", async () => {
    await stack.handler(await stack.put("debug/a.txt", "hello", { tags: TO_DOCX }));
    const debug = stack.logs.filter((l) => l.level === "debug");
    assert.deepEqual(
      debug.map((l) => l.message),
      ["invoked", "decided", "Lark took the file"],
    );
    const decided = debug.find((l) => l.message === "decided")!;
    assert.equal(decided.decision, "upload");
    assert.equal(decided.target, "docx_file:doxcnTarget01");
    assert.equal(decided.key, "debug/a.txt");
    assert.equal(debug.find((l) => l.message === "Lark took the file")!.fileToken, stack.lark.files[0]!.fileToken);
    const all = JSON.stringify(stack.logs);
    assert.ok(!all.includes(stack.lark.appSecret), "the app secret is in no line");
    assert.ok(!/t-[A-Za-z0-9]{40}/.test(all), "no tenant token in any line");
  });
});

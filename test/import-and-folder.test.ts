/**
 * Drop a file, get a Lark document: `import:<folder>` makes a native document of it (docx, sheet or bitable by
 * its extension), `folder:<folder>` a Drive file; both shared with the configured members. End to end through
 * the real handler, s3rver and the Lark emulator; one document (or file) per object whatever fails.
 */

import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import { bytes, lambdaContext, type Stack, startStack } from "./support/stack";

const FOLDER = "fldcnImports01";
const SHARE_WITH = "openid:ou_4f2a9c1b7e,openchat:oc_8d3e5f0a21";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let stack: Stack;
before(async () => {
  stack = await startStack({
    env: { LARK_SHARE_WITH: SHARE_WITH, LARK_SHARE_PERM: "edit" },
    emulator: { importJobMs: 300 },
  });
});
after(() => stack.close());
beforeEach(() => {
  stack.lark.reset();
  stack.logs.length = 0;
  stack.metrics.length = 0;
  stack.lark.addFolder(FOLDER, { name: "Imports" });
});

let n = 0;
async function drop(target: string, name: string, body: Buffer | string, tags: Record<string, string> = {}) {
  const key = `imports/${++n}/${name}`;
  return { key, event: await stack.put(key, body, { tags: { "lark-target": target, ...tags } }) };
}
const items = (folder = FOLDER) => stack.lark.folders.get(folder)!.items;
const sources = () => stack.lark.files.filter((f) => f.parentType === "ccm_import_open");

describe("import: a native document in a folder", () => {
  test("report.md becomes one docx in that folder, shared as configured, its URL on the object", async () => {
    const { key, event } = await drop(`import:${FOLDER}`, "report.md", "# Q3\n\nAll good.\n");
    const result: any = await stack.handler(event);
    assert.equal(result.objects[0].outcome.kind, "uploaded");
    assert.equal(items().length, 1);
    const [doc] = items();
    assert.deepEqual([doc!.type, doc!.name], ["docx", "report"], "titled by the name without its extension");
    const head = await stack.head(key);
    assert.equal(head.Metadata?.["lark-file-token"], doc!.token);
    assert.equal(head.Metadata?.["lark-doc-type"], "docx");
    assert.equal(head.Metadata?.["lark-url"], doc!.url);
    assert.equal(head.Metadata?.["lark-target"], `import:${FOLDER}`);
    const source = sources()[0]!;
    assert.deepEqual(JSON.parse(source.extra!), { obj_type: "docx", file_extension: "md" });
    const members = stack.lark.permissions.get(doc!.token)!.members;
    assert.deepEqual(
      members.map((m) => [m.memberType, m.memberId, m.perm]),
      [
        ["openid", "ou_4f2a9c1b7e", "edit"],
        ["openchat", "oc_8d3e5f0a21", "edit"],
      ],
    );
    assert.deepEqual(await stack.tags(key), { "lark-target": `import:${FOLDER}` }, "no ticket left behind");
  });

  const groups: [string, string, string, Record<string, string>?][] = [
    ["notes.docx", "docx", "docx"],
    ["legacy.doc", "docx", "doc"],
    ["plain.TXT", "docx", "txt"],
    ["readme.markdown", "docx", "markdown"],
    ["page.html", "docx", "html"],
    ["numbers.xlsx", "sheet", "xlsx"],
    ["old.xls", "sheet", "xls"],
    ["rows.csv", "sheet", "csv"],
    ["rows.csv", "bitable", "csv", { "lark-import-as": "bitable" }],
    ["book.xlsx", "bitable", "xlsx", { "lark-import-as": "Bitable" }],
  ];
  for (const [name, type, extension, tags] of groups) {
    test(`${name}${tags ? " with lark-import-as" : ""} becomes a ${type}`, async () => {
      const { key, event } = await drop(`import:${FOLDER}`, name, `content of ${name}`, tags);
      await stack.handler(event);
      assert.deepEqual(
        items().map((i) => i.type),
        [type],
      );
      assert.deepEqual(JSON.parse(sources()[0]!.extra!), { obj_type: type, file_extension: extension });
      assert.equal((await stack.head(key)).Metadata?.["lark-doc-type"], type);
    });
  }

  test("import: alone means the app's root folder; lark-file-name titles the document", async () => {
    const { event } = await drop("import:", "q3.md", "# Q3", { "lark-file-name": "Quarterly report" });
    await stack.handler(event);
    const root = items(stack.lark.rootFolderToken);
    assert.deepEqual(
      root.map((i) => i.name),
      ["Quarterly report"],
    );
  });

  for (const [name, tags, reason] of [
    ["scan.pdf", {}, /^unsupported-import-type: Lark imports .* \.pdf is not one/],
    [
      "rows.csv",
      { "lark-import-as": "docx" },
      /^unsupported-import-type: Lark imports a \.csv file as sheet or bitable/,
    ],
    ["no-extension", {}, /^unsupported-import-type: .*a file without an extension/],
  ] as const) {
    test(`${name} ${JSON.stringify(tags)}: refused before any Lark call`, async () => {
      const { key, event } = await drop(`import:${FOLDER}`, name, "x", tags);
      await stack.handler(event);
      assert.match((await stack.tags(key))["lark-upload-error"]!, reason);
      assert.equal(stack.lark.stats().requests, 0);
    });
  }

  test("a job slower than the invocation: its ticket is parked, the retry polls it: one document", async () => {
    const slow = await startStack({ emulator: { importJobMs: 2500 } });
    try {
      slow.lark.addFolder(FOLDER);
      const key = "imports/slow/minutes.md";
      const event = await slow.put(key, "# minutes", { tags: { "lark-target": `import:${FOLDER}` } });
      await assert.rejects(slow.handler(event, lambdaContext(1500)), /still running/);
      const parked = (await slow.tags(key))["lark-import-ticket"];
      assert.match(parked ?? "", new RegExp(` import:${FOLDER}$`), "the ticket and its target are on the object");
      assert.equal(slow.lark.folders.get(FOLDER)!.items.length, 0);
      await sleep(1500);
      await slow.handler(event);
      assert.equal(slow.lark.folders.get(FOLDER)!.items.length, 1, "one document");
      assert.equal(slow.lark.files.filter((f) => f.parentType === "ccm_import_open").length, 1, "one source");
      assert.equal(slow.lark.imports.size, 1, "one import task");
      assert.deepEqual(await slow.tags(key), { "lark-target": `import:${FOLDER}` }, "the ticket is gone");
    } finally {
      await slow.close();
    }
  });

  test("a source whose 5 minutes passed before its task: uploaded again, imported once", async () => {
    const { event } = await drop(`import:${FOLDER}`, "late.md", "# late");
    stack.lark.injectFault({
      fault: { kind: "code", code: 1069913, httpStatus: 400 },
      path: "drive.importTask.create",
    });
    await stack.handler(event);
    assert.equal(sources().length, 2, "the expired source and its replacement");
    assert.equal(items().length, 1);
  });

  const permanent = [100, 104, 105, 110, 112, 113, 115, 116, 117, 118, 119, 120, 121, 7000, 7001, 7002] as const;
  for (const jobStatus of permanent) {
    test(`a job that ends ${jobStatus}: lark-import-${jobStatus} with Lark's message, no retry`, async () => {
      const { key, event } = await drop(`import:${FOLDER}`, "bad.md", "# bad");
      stack.lark.importOutcome({ jobStatus, jobErrorMsg: `reason ${jobStatus}` });
      const result: any = await stack.handler(event);
      assert.equal(result.objects[0].outcome.code, `lark-import-${jobStatus}`);
      assert.equal((await stack.tags(key))["lark-upload-error"], `lark-import-${jobStatus}: reason ${jobStatus}`);
      assert.equal(stack.lark.imports.size, 1);
    });
  }

  for (const jobStatus of [3, 101, 108, 114, 5000] as const) {
    test(`a job that ends ${jobStatus} (Lark's own trouble): nothing on the object, the retry imports again`, async () => {
      const { key, event } = await drop(`import:${FOLDER}`, "flaky.md", "# flaky");
      stack.lark.importOutcome({ jobStatus });
      await assert.rejects(stack.handler(event), /failed inside Lark/);
      assert.deepEqual(await stack.tags(key), { "lark-target": `import:${FOLDER}` }, "no error, no ticket");
      await stack.handler(event);
      assert.equal(items().length, 1);
      assert.equal(stack.lark.imports.size, 2);
    });
  }

  test("success with warnings (cells truncated): uploaded, and the warning is logged", async () => {
    const { event } = await drop(`import:${FOLDER}`, "big.csv", "a,b\n1,2\n");
    stack.lark.importOutcome({ jobStatus: 0, extra: ["2001"] });
    const result: any = await stack.handler(event);
    assert.equal(result.objects[0].outcome.kind, "uploaded");
    const warning = stack.logs.find((l) => l.level === "warn" && /left something out/.test(l.message));
    assert.deepEqual(warning?.importWarnings, [2001]);
  });

  test("a grant Lark refuses is logged and counted; the document stays", async () => {
    const { key, event } = await drop(`import:${FOLDER}`, "shared.md", "# shared");
    stack.lark.injectFault({
      fault: { kind: "code", code: 1063002, httpStatus: 403 },
      path: "drive.permissionMember.create",
    });
    const result: any = await stack.handler(event);
    assert.equal(result.objects[0].outcome.kind, "uploaded");
    assert.equal(result.objects[0].outcome.shareFailures.length, 1);
    assert.equal(stack.lark.permissions.get(items()[0]!.token)!.members.length, 1, "the other member is granted");
    assert.ok((await stack.head(key)).Metadata?.["lark-file-token"]);
    assert.equal(stack.metrics.at(-1)!.ShareFailures, 1);
  });

  test("a text file over 20 MiB is too large to import, even with chunked uploads", async () => {
    const big = await startStack({ env: { LARGE_FILES: "chunked", MAX_FILE_BYTES: String(64 * 1024 * 1024) } });
    try {
      big.lark.addFolder(FOLDER);
      const key = "imports/big/huge.md";
      await big.handler(
        await big.put(key, bytes(21 * 1024 * 1024, 4), { tags: { "lark-target": `import:${FOLDER}` } }),
      );
      assert.match((await big.tags(key))["lark-upload-error"]!, /^too-large: .* Lark imports from \.md as docx/);
      assert.equal(big.lark.stats().requests, 0);
    } finally {
      await big.close();
    }
  });
});

describe("folder: a Drive file in a folder", () => {
  test("any file becomes one Drive file there, shared as configured", async () => {
    const { key, event } = await drop(`folder:${FOLDER}`, "archive.zip", bytes(4096, 3));
    await stack.handler(event);
    assert.deepEqual(
      items().map((i) => [i.type, i.name]),
      [["file", "archive.zip"]],
    );
    const token = items()[0]!.token;
    assert.equal((await stack.head(key)).Metadata?.["lark-file-token"], token);
    const upload = stack.lark.files.at(-1)!;
    assert.deepEqual([upload.parentType, upload.parentNode, upload.extra], ["explorer", FOLDER, undefined]);
    assert.equal(stack.lark.permissions.get(token)!.members.length, 2);
  });

  test("25 MiB with chunked uploads: through Drive's chunked flow, one file", async () => {
    const big = await startStack({ env: { LARGE_FILES: "chunked", MAX_FILE_BYTES: String(64 * 1024 * 1024) } });
    try {
      big.lark.addFolder(FOLDER);
      const body = bytes(25 * 1024 * 1024, 8);
      const key = "folder/big.bin";
      await big.handler(await big.put(key, body, { tags: { "lark-target": `folder:${FOLDER}` } }));
      const [item] = big.lark.folders.get(FOLDER)!.items;
      assert.equal(big.lark.folders.get(FOLDER)!.items.length, 1);
      assert.equal((await big.head(key)).Metadata?.["lark-file-token"], item!.token);
      assert.ok(
        big.lark.requests.some((r) => r.path.endsWith("/files/upload_part")),
        "the chunked flow",
      );
      assert.equal(big.lark.files.at(-1)!.size, body.length);
    } finally {
      await big.close();
    }
  });

  test("a folder that does not exist: lark-1061044", async () => {
    const { key, event } = await drop("folder:fldcnNoSuch01", "x.txt", "x");
    await stack.handler(event);
    assert.match((await stack.tags(key))["lark-upload-error"]!, /^lark-1061044: /);
  });
});

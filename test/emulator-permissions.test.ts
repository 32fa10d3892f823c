// Proof that the emulator's permission members speak Lark's drive/v1 permissions/:token/members (the official SDK
// grants through it) and are strict: the query, the member's type and id shape, the perm, the token's kind, what
// the app may manage, an injected refusal and the rate limit.

import assert from "node:assert/strict";
import { describe, type TestContext, test } from "node:test";
import type { LarkEmulatorOptions } from "../local/lark-emulator";
import { assertLark, call, sdkClient, sdkFailure, startEmulator, tenantToken, upload } from "./support/emulator";

const FOLDER = "fldcnEmulatorSharedFolder01";
const READ_ONLY_FOLDER = "fldcnEmulatorReadOnlyFold01";
const DOC = "doxcnEmulatorPermissionDoc1";
const READ_ONLY_DOC = "doxcnEmulatorReadOnlyDoc01";
const BASE = "bascnEmulatorPermissionBas1";
const SHEET = "shtcnEmulatorPermissionSht1";
const ALICE = "ou_7dab8a3d3cdcc9da365777c7ad535d62";
const BOB = "bob@example.com";

async function withResources(t: TestContext, opts: LarkEmulatorOptions = {}) {
  const emu = await startEmulator(t, { ratePerWindow: 1000, ...opts });
  emu.addFolder(FOLDER);
  emu.addFolder(READ_ONLY_FOLDER, { editable: false });
  emu.addDocument(DOC);
  emu.addDocument(READ_ONLY_DOC, { editable: false });
  emu.addBase(BASE, { tables: [{ tableId: "tblInbox0000001", fields: [{ name: "Name", type: 1 }] }] });
  emu.addSpreadsheet(SHEET, { sheets: [{ sheetId: "a1b2c3" }] });
  const token = await tenantToken(emu);
  const file = await upload(emu, token, {
    api: "files",
    parentType: "explorer",
    parentNode: FOLDER,
    fileName: "a.pdf",
  });
  return { emu, token, fileToken: file.json.data.file_token as string };
}

const grant = (
  emu: Parameters<typeof call>[0],
  token: string,
  target: string,
  body: Record<string, unknown>,
  query: Record<string, string> = { type: "file", need_notification: "false" },
) => call(emu, "POST", `/open-apis/drive/v1/permissions/${target}/members`, { token, body, query });

const alice = { member_type: "openid", member_id: ALICE, perm: "full_access", type: "user" } as const;

describe("the official SDK shares what the app made", () => {
  test("two members on a Drive file: each answered as granted and kept; granting again replaces the perm", async (t) => {
    const { emu, fileToken } = await withResources(t);
    const client = sdkClient(emu);
    const add = (request: Parameters<typeof client.drive.v1.permissionMember.create>[0]) =>
      client.drive.v1.permissionMember.create(request);
    const params = { type: "file" as const, need_notification: false };
    const first = await add({ path: { token: fileToken }, params, data: alice });
    assert.equal(first.code, 0);
    assert.deepEqual(first.data!.member, alice);
    const second = await add({
      path: { token: fileToken },
      params,
      data: { member_type: "email", member_id: BOB, perm: "view" },
    });
    assert.deepEqual(second.data!.member, { member_type: "email", member_id: BOB, perm: "view" });
    await add({ path: { token: fileToken }, params, data: { member_type: "email", member_id: BOB, perm: "edit" } });
    assert.deepEqual(
      emu.permissions.get(fileToken)!.members.map((m) => [m.memberType, m.memberId, m.perm]),
      [
        ["openid", ALICE, "full_access"],
        ["email", BOB, "edit"],
      ],
    );
    assert.deepEqual(emu.state().permissions, [
      {
        token: fileToken,
        type: "file",
        members: [alice, { member_type: "email", member_id: BOB, perm: "edit" }],
      },
    ]);
  });

  test("every kind the app may manage: docx, bitable, sheet, folder (and the root), an imported sheet", async (t) => {
    const { emu, token } = await withResources(t, { importJobMs: 1 });
    for (const [target, type] of [
      [DOC, "docx"],
      [BASE, "bitable"],
      [SHEET, "sheet"],
      [FOLDER, "folder"],
      [emu.rootFolderToken, "folder"],
    ])
      assertLark(await grant(emu, token, target, alice, { type }), 200, 0);
    const source = await upload(emu, token, {
      parentType: "ccm_import_open",
      extra: JSON.stringify({ obj_type: "sheet", file_extension: "csv" }),
      fileName: "q3.csv",
    });
    const body = { file_extension: "csv", file_token: source.json.data.file_token, type: "sheet" };
    const created = await call(emu, "POST", "/open-apis/drive/v1/import_tasks", {
      token,
      body: { ...body, point: { mount_type: 1, mount_key: "" } },
    });
    while (emu.imports.get(created.json.data.ticket)?.ended === undefined) await new Promise((r) => setTimeout(r, 5));
    const imported = emu.imports.get(created.json.data.ticket)!.ended!.token;
    assertLark(await grant(emu, token, imported, alice, { type: "sheet" }), 200, 0);
    assert.equal(emu.permissions.size, 6);
  });

  test("a refused grant (an injected fault) is not kept; the next one is", async (t) => {
    const { emu, fileToken } = await withResources(t);
    emu.injectFault({ fault: { kind: "code", code: 1063002 }, path: "drive.permissionMember.create" });
    const client = sdkClient(emu);
    const request = { path: { token: fileToken }, params: { type: "file" as const }, data: alice };
    assert.deepEqual(await sdkFailure(client.drive.v1.permissionMember.create(request)), {
      status: 403,
      code: 1063002,
    });
    assert.equal(emu.permissions.get(fileToken), undefined);
    assert.equal((await client.drive.v1.permissionMember.create(request)).code, 0);
    assert.equal(emu.permissions.get(fileToken)!.members.length, 1);
  });
});

describe("grants are strict", () => {
  test("1063001: the query's type and need_notification, the body", async (t) => {
    const { emu, token, fileToken } = await withResources(t);
    for (const query of [
      {} as Record<string, string>,
      { type: "pdf" },
      { type: "file", need_notification: "true" },
      { type: "file", need_notification: "1" },
    ])
      assertLark(await grant(emu, token, fileToken, alice, query), 400, 1063001);
    const notJson = await call(emu, "POST", `/open-apis/drive/v1/permissions/${fileToken}/members`, {
      token,
      query: { type: "file" },
    });
    assertLark(notJson, 400, 1063001);
    assertLark(await grant(emu, token, fileToken, alice, { type: "file" }), 200, 0);
  });

  test("1063001: member_type, a member_id of another shape, perm, a kind that does not fit, perm_type off wiki", async (t) => {
    const { emu, token, fileToken } = await withResources(t);
    for (const body of [
      { ...alice, member_type: "phone" },
      { ...alice, member_id: BOB },
      { ...alice, member_id: "ou_" },
      { member_type: "email", member_id: "not-an-email", perm: "view" },
      { member_type: "openchat", member_id: ALICE, perm: "view" },
      { ...alice, perm: "owner" },
      { ...alice, type: "chat" },
      { ...alice, perm_type: "container" },
      { member_type: "wikispaceid", member_id: "7001", perm: "view" },
      { ...alice, member_id: 42 },
    ])
      assertLark(await grant(emu, token, fileToken, body), 400, 1063001);
    for (const body of [
      { member_type: "openchat", member_id: "oc_a0553eda9014c201e6969b478895c230", perm: "edit", type: "chat" },
      { member_type: "unionid", member_id: "on_94a1ee5551019f18cd73d9f111898cf2", perm: "view" },
      { member_type: "userid", member_id: "5d9bdxxx", perm: "view" },
      { member_type: "groupid", member_id: "g_ops", perm: "view", type: "group" },
      { member_type: "appid", member_id: "cli_a1b2c3", perm: "view" },
    ])
      assertLark(await grant(emu, token, fileToken, body), 200, 0);
  });

  test("a department is 1063003 (an app sees no organisation)", async (t) => {
    const { emu, token, fileToken } = await withResources(t);
    const department = {
      member_type: "opendepartmentid",
      member_id: "od-4e6ac4d14bcd5071a37a39de902c7141",
      perm: "view",
    };
    assertLark(await grant(emu, token, fileToken, department), 400, 1063003);
  });

  test("tokens: unknown or removed 1063005, another kind than type 1063001, not the app's to manage 1063002", async (t) => {
    const { emu, token, fileToken } = await withResources(t);
    assertLark(await grant(emu, token, "boxcnNeverUploaded0000000000", alice), 404, 1063005);
    const media = await upload(emu, token, { parentType: "moments", parentNode: "momentsNode" });
    assertLark(await grant(emu, token, media.json.data.file_token, alice), 404, 1063005);
    assertLark(await grant(emu, token, fileToken, alice, { type: "docx" }), 400, 1063001);
    assertLark(await grant(emu, token, DOC, alice, { type: "doc" }), 400, 1063001);
    assertLark(await grant(emu, token, READ_ONLY_DOC, alice, { type: "docx" }), 403, 1063002);
    assertLark(await grant(emu, token, READ_ONLY_FOLDER, alice, { type: "folder" }), 403, 1063002);
    emu.removeDocument(DOC);
    assertLark(await grant(emu, token, DOC, alice, { type: "docx" }), 404, 1063005);
    emu.removeFolder(FOLDER);
    assertLark(await grant(emu, token, FOLDER, alice, { type: "folder" }), 404, 1063005);
    assert.equal(emu.permissions.size, 0);
  });

  test("100 grants/min per app: the next is HTTP 429 + 99991400", async (t) => {
    const { emu, token, fileToken } = await withResources(t, { rates: { "drive.permission_member": 2 } });
    assertLark(await grant(emu, token, fileToken, alice), 200, 0);
    assertLark(await grant(emu, token, fileToken, alice), 200, 0);
    const limited = await grant(emu, token, fileToken, alice);
    assertLark(limited, 429, 99991400);
    assert.ok(Number(limited.headers["x-ogw-ratelimit-reset"]) >= 59);
  });
});

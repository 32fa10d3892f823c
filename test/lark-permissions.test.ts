// Sharing through the function's own Lark stack against the emulator over HTTP: members granted on a Drive file, a
// folder and a document, each with the kind Lark wants for its id type; Lark's refusals of a grant as the object
// would be tagged; transient faults retried; the per-app rule kept under a burst; and the share list a setting
// names.

import assert from "node:assert/strict";
import { describe, type TestContext, test } from "node:test";
import ADLER32 from "adler-32";
import { newCounter } from "../lib/lark/client";
import { DRIVE_FILES, LarkMedia } from "../lib/lark/media";
import { DRIVE_FOLDER } from "../lib/lark/parent-types";
import { LarkPermissions, type Member, parseShareList } from "../lib/lark/permissions";
import type { LarkEmulatorOptions } from "../local/lark-emulator";
import { rejection, startLark } from "./support/lark";

const FOLDER = "fldcnClientSharedFolder001";
const READ_ONLY = "fldcnClientReadOnlyFolder1";
const DOC = "doxcnClientSharedDoc000001";
const ANA: Member = { memberType: "openid", memberId: "ou_7dab8a3d3cdcc9da365777c7ad535d62" };
const TEAM: Member = { memberType: "openchat", memberId: "oc_a0553eda9014c201e6969b478895c230" };
const TIME_SCALE = 0.005; // Lark's minute lasts 300 ms

async function withFile(t: TestContext, opts: LarkEmulatorOptions = {}) {
  const rig = await startLark(t, { timeScale: TIME_SCALE, ...opts });
  rig.emu.addFolder(FOLDER);
  rig.emu.addFolder(READ_ONLY, { editable: false });
  rig.emu.addDocument(DOC, { title: "Shared" });
  const bytes = Buffer.from("%PDF-1.4");
  const drive = new LarkMedia(rig.client, rig.limits, DRIVE_FILES);
  const { fileToken } = await drive.uploadAll(
    { name: "report.pdf", parentType: DRIVE_FOLDER, parentNode: FOLDER, size: bytes.length },
    { parts: [bytes], size: bytes.length, adler32: ADLER32.buf(bytes) >>> 0 },
    rig.retry(),
  );
  return { ...rig, fileToken, permissions: new LarkPermissions(rig.client, rig.limits) };
}

describe("granting members", () => {
  test("a person and a chat on a Drive file: both kept, each with its perm and kind", async (t) => {
    const rig = await withFile(t);
    const counter = newCounter();
    await rig.permissions.addMember(rig.fileToken, "file", ANA, "full_access", rig.retry(), counter);
    await rig.permissions.addMember(rig.fileToken, "file", TEAM, "view", rig.retry(), counter);
    assert.equal(counter.calls, 2);
    assert.deepEqual(rig.emu.state().permissions, [
      {
        token: rig.fileToken,
        type: "file",
        members: [
          { member_type: "openid", member_id: ANA.memberId, perm: "full_access", type: "user" },
          { member_type: "openchat", member_id: TEAM.memberId, perm: "view", type: "chat" },
        ],
      },
    ]);
  });

  test("every id type an app can grant, with the kind Lark wants: user, group; on a folder and a document", async (t) => {
    const rig = await withFile(t);
    const members: Member[] = [
      { memberType: "email", memberId: "ana@example.com" },
      { memberType: "unionid", memberId: "on_94a1ee5551019f18cd73d9f111898cf2" },
      { memberType: "userid", memberId: "ana_lima" },
      { memberType: "groupid", memberId: "g_design" },
    ];
    for (const member of members) await rig.permissions.addMember(FOLDER, "folder", member, "edit", rig.retry());
    await rig.permissions.addMember(DOC, "docx", ANA, "view", rig.retry());
    assert.deepEqual(
      rig.emu.permissions.get(FOLDER)!.members.map((m) => [m.memberType, m.type, m.perm]),
      [
        ["email", "user", "edit"],
        ["unionid", "user", "edit"],
        ["userid", "user", "edit"],
        ["groupid", "group", "edit"],
      ],
    );
    assert.deepEqual(rig.emu.permissions.get(DOC), {
      type: "docx",
      members: [{ ...ANA, perm: "view", type: "user" }],
    });
  });
});

describe("Lark's refusals of a grant", () => {
  test("a bad member id, a wrong type, a department: 1063001, 1063001, 1063003; nothing kept", async (t) => {
    const rig = await withFile(t);
    const refused = async (token: string, type: "file" | "docx" | "folder", member: Member) =>
      (await rejection(rig.permissions.addMember(token, type, member, "view", rig.retry()))).larkCode;
    assert.equal(await refused(rig.fileToken, "file", { memberType: "openid", memberId: "ana" }), 1063001);
    assert.equal(await refused(rig.fileToken, "docx", ANA), 1063001, "a Drive file is not a docx");
    const department: Member = { memberType: "opendepartmentid", memberId: "od-64242a18099d3a31acd24d8fce8dbd0d" };
    assert.equal(await refused(rig.fileToken, "file", department), 1063003);
    assert.equal(rig.emu.permissions.size, 0);
  });

  test("a folder the app may not manage 1063002, a token that is gone 1063005, with the object's code", async (t) => {
    const rig = await withFile(t);
    const readOnly = await rejection(rig.permissions.addMember(READ_ONLY, "folder", ANA, "view", rig.retry()));
    assert.deepEqual([readOnly.larkCode, readOnly.code], [1063002, "lark-1063002"]);
    rig.emu.removeFolder(FOLDER);
    const gone = await rejection(rig.permissions.addMember(FOLDER, "folder", ANA, "view", rig.retry()));
    assert.equal(gone.larkCode, 1063005);
  });

  test("transient faults are retried: internal error, concurrency error, a rate refusal", async (t) => {
    const rig = await withFile(t);
    for (const code of [1066001, 1066002, 99991400])
      rig.emu.injectFault({ path: "drive.permissionMember.create", fault: { kind: "code", code } });
    const counter = newCounter();
    await rig.permissions.addMember(rig.fileToken, "file", ANA, "edit", rig.retry(), counter);
    assert.equal(counter.calls, 4);
    assert.equal(rig.emu.permissions.get(rig.fileToken)!.members.length, 1);
  });
});

describe("Lark's limits under a burst", () => {
  test("150 grants at once: 100 a minute for the app; no refusal", async (t) => {
    const rig = await withFile(t);
    const once = rig.retry({ maxAttempts: 1 });
    const started = Date.now();
    await Promise.all(
      Array.from({ length: 150 }, (_, i) =>
        rig.permissions.addMember(
          rig.fileToken,
          "file",
          { memberType: "email", memberId: `member${i}@example.com` },
          "view",
          once,
        ),
      ),
    );
    assert.ok(Date.now() - started >= 60_000 * TIME_SCALE, "the 101st waited for a window");
    assert.deepEqual(rig.emu.stats().limitViolations, {});
    assert.equal(rig.emu.permissions.get(rig.fileToken)!.members.length, 150);
  });
});

describe("parseShareList", () => {
  test("<member type>:<id> entries, commas between, spaces ignored", () => {
    assert.deepEqual(parseShareList(" openid:ou_1 , openchat:oc_2,email:ana@example.com "), {
      members: [
        { memberType: "openid", memberId: "ou_1" },
        { memberType: "openchat", memberId: "oc_2" },
        { memberType: "email", memberId: "ana@example.com" },
      ],
      problems: [],
    });
    assert.deepEqual(parseShareList("unionid:on_3,userid:ana_lima,groupid:g_design").members, [
      { memberType: "unionid", memberId: "on_3" },
      { memberType: "userid", memberId: "ana_lima" },
      { memberType: "groupid", memberId: "g_design" },
    ]);
  });

  test("nothing shares with no one; empty entries are skipped; a member named twice is kept once", () => {
    assert.deepEqual(parseShareList(""), { members: [], problems: [] });
    assert.deepEqual(parseShareList(" , "), { members: [], problems: [] });
    assert.deepEqual(parseShareList("openid:ou_1,,openid:ou_1, openid : ou_1,openchat:ou_1"), {
      members: [
        { memberType: "openid", memberId: "ou_1" },
        { memberType: "openchat", memberId: "ou_1" },
      ],
      problems: [],
    });
  });

  test("problems: no type, an unknown type, no id, a department (an app cannot share with one)", () => {
    const { members, problems } = parseShareList(
      "ou_1,OpenID:ou_2,phone:+351911111111,email:,opendepartmentid:od-1,openid:ou_3",
    );
    assert.deepEqual(members, [{ memberType: "openid", memberId: "ou_3" }]);
    assert.deepEqual(problems, [
      '"ou_1" is not <member type>:<id>',
      '"OpenID" in "OpenID:ou_2" is not one of email, openid, unionid, userid, openchat, groupid',
      '"phone" in "phone:+351911111111" is not one of email, openid, unionid, userid, openchat, groupid',
      '"email:" has no id',
      '"opendepartmentid:od-1": Lark does not let an app share with a department',
    ]);
  });
});

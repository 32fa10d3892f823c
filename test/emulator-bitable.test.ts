// Proof that the emulator's bitable family speaks Lark's bitable/v1 records and fields (the official SDK writes
// and reads records through it) and is strict: attachments only from media uploaded into the same base, field
// names and value shapes, write conflicts on one table, client_token replay, permissions and the rate limit.

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, type TestContext, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { LarkEmulatorOptions } from "../local/lark-emulator";
import {
  assertLark,
  call,
  sdkClient,
  sdkFailure,
  startEmulator,
  tenantToken,
  upload,
  uploaded,
} from "./support/emulator";

const BASE = "bascnEmulatorBase000000001";
const OTHER_BASE = "bascnEmulatorBase000000002";
const TABLE = "tblInbox0000001";
const SECOND_TABLE = "tblArchive00001";

const FIELDS = [
  { name: "Name", type: 1 as const },
  { name: "Size", type: 2 as const },
  { name: "Files", type: 17 as const },
  { name: "Done", type: 7 as const },
];

async function withBases(t: TestContext, opts: LarkEmulatorOptions = {}) {
  const emu = await startEmulator(t, { ratePerWindow: 1000, ...opts });
  emu.addBase(BASE, {
    tables: [
      { tableId: TABLE, fields: FIELDS },
      { tableId: SECOND_TABLE, fields: FIELDS },
    ],
  });
  emu.addBase(OTHER_BASE, { tables: [{ tableId: TABLE, fields: FIELDS }] });
  return { emu, token: await tenantToken(emu) };
}

const records = (appToken = BASE, tableId = TABLE) =>
  `/open-apis/bitable/v1/apps/${appToken}/tables/${tableId}/records`;

describe("the official SDK writes records with attachments", () => {
  test("fields list, upload into the base, create with an attachment, get, update, list", async (t) => {
    const { emu } = await withBases(t);
    const client = sdkClient(emu);
    const path = { app_token: BASE, table_id: TABLE };

    const fields = await client.bitable.v1.appTableField.list({ path });
    assert.equal(fields.code, 0);
    assert.deepEqual(
      fields.data!.items!.map((f) => [f.field_name, f.type, f.ui_type, f.is_primary]),
      [
        ["Name", 1, "Text", true],
        ["Size", 2, "Number", false],
        ["Files", 17, "Attachment", false],
        ["Done", 7, "Checkbox", false],
      ],
    );
    assert.match(fields.data!.items![0].field_id!, /^fld[A-Za-z0-9]{10}$/);
    assert.equal(fields.data!.total, 4);

    const media = await client.drive.media.uploadAll({
      data: {
        file_name: "scan.pdf",
        parent_type: "bitable_file",
        parent_node: BASE,
        size: 4,
        file: Buffer.from("%PDF"),
      },
    });
    const fileToken = media!.file_token!;

    const created = await client.bitable.v1.appTableRecord.create({
      path,
      params: { client_token: randomUUID() },
      data: { fields: { Name: "scan", Size: 4, Files: [{ file_token: fileToken }] } },
    });
    assert.equal(created.code, 0);
    const record = created.data!.record!;
    assert.match(record.record_id!, /^rec[A-Za-z0-9]{10}$/);
    const [cell] = record.fields.Files as any[];
    assert.equal(cell.file_token, fileToken);
    assert.equal(cell.name, "scan.pdf");
    assert.equal(cell.size, 4);
    assert.equal(cell.type, "application/pdf");
    assert.match(cell.url, new RegExp(`^${emu.url}/open-apis/drive/v1/medias/${fileToken}/download\\?extra=`));
    assert.match(cell.tmp_url, new RegExp(`batch_get_tmp_download_url\\?file_tokens=${fileToken}&extra=`));
    assert.deepEqual(JSON.parse(decodeURIComponent(cell.url.split("extra=")[1])).bitablePerm.tableId, TABLE);

    const got = await client.bitable.v1.appTableRecord.get({ path: { ...path, record_id: record.record_id! } });
    assert.deepEqual(got.data!.record!.fields, record.fields);

    const updated = await client.bitable.v1.appTableRecord.update({
      path: { ...path, record_id: record.record_id! },
      data: { fields: { Name: "scan (signed)", Done: true } },
    });
    assert.equal(updated.data!.record!.fields.Name, "scan (signed)");
    assert.equal(updated.data!.record!.fields.Done, true);
    assert.deepEqual(updated.data!.record!.fields.Files, record.fields.Files, "fields not given are kept");

    const listed = await client.bitable.v1.appTableRecord.list({ path, params: { page_size: 10 } });
    assert.equal(listed.data!.total, 1);
    assert.equal(listed.data!.has_more, false);
    assert.equal(listed.data!.items![0].record_id, record.record_id);
    assert.equal(emu.bases.get(BASE)!.tables.get(TABLE)!.records.size, 1);
    const [shown] = emu.state().bases;
    assert.deepEqual(shown.tables[0].records, listed.data!.items);
  });

  test("update: null clears a cell; an unknown record is 1254043", async (t) => {
    const { emu, token } = await withBases(t);
    const created = await call(emu, "POST", records(), { token, body: { fields: { Name: "a", Size: 1 } } });
    const id = created.json.data.record.record_id;
    const cleared = await call(emu, "PUT", `${records()}/${id}`, { token, body: { fields: { Size: null } } });
    assertLark(cleared, 200, 0);
    assert.deepEqual(cleared.json.data.record.fields, { Name: "a" });
    assertLark(await call(emu, "PUT", `${records()}/recNoSuchRecord`, { token, body: { fields: {} } }), 200, 1254043);
    assertLark(await call(emu, "GET", `${records()}/recNoSuchRecord`, { token }), 200, 1254043);
  });

  test("delete: the SDK removes a record; it is gone, a second delete is 1254043, read-only bases 1254302", async (t) => {
    const { emu, token } = await withBases(t);
    const client = sdkClient(emu);
    const path = { app_token: BASE, table_id: TABLE };
    const created = await client.bitable.v1.appTableRecord.create({ path, data: { fields: { Name: "gone soon" } } });
    const record_id = created.data!.record!.record_id!;
    const deleted = await client.bitable.v1.appTableRecord.delete({ path: { ...path, record_id } });
    assert.equal(deleted.code, 0);
    assert.deepEqual(deleted.data, { deleted: true, record_id });
    assert.equal(emu.bases.get(BASE)!.tables.get(TABLE)!.records.size, 0);
    assertLark(await call(emu, "GET", `${records()}/${record_id}`, { token }), 200, 1254043);
    assertLark(await call(emu, "DELETE", `${records()}/${record_id}`, { token }), 200, 1254043);
    const kept = await call(emu, "POST", records(), { token, body: { fields: { Name: "kept" } } });
    emu.bases.get(BASE)!.editable = false;
    const readOnly = await call(emu, "DELETE", `${records()}/${kept.json.data.record.record_id}`, { token });
    assertLark(readOnly, 403, 1254302);
    assertLark(await call(emu, "DELETE", `${records("bascnNoSuchBase")}/${record_id}`, { token }), 200, 1254040);
  });
});

describe("records are strict", () => {
  test("attachments must be media uploaded into this very base: 1254303", async (t) => {
    const { emu, token } = await withBases(t);
    const create = (file_token: string) =>
      call(emu, "POST", records(), { token, body: { fields: { Files: [{ file_token }] } } });
    const otherBase = await uploaded(emu, token, { parentType: "bitable_image", parentNode: OTHER_BASE });
    assertLark(await create(otherBase), 200, 1254303);
    const docxUpload = await uploaded(emu, token, { parentType: "doc_file", parentNode: BASE });
    assertLark(await create(docxUpload), 200, 1254303);
    assertLark(await create("boxcnNeverUploaded0000000000"), 200, 1254303);
    const mine = await uploaded(emu, token, { parentType: "bitable_image", parentNode: BASE });
    assertLark(await create(mine), 200, 0);
    assert.equal(emu.bases.get(BASE)!.tables.get(TABLE)!.records.size, 1);
  });

  test("field names and value shapes: 1254045, 1254015, 1254069, the type's ConvFail code", async (t) => {
    const { emu, token } = await withBases(t);
    const create = (fields: unknown) => call(emu, "POST", records(), { token, body: { fields } });
    assertLark(await create({ Nme: "typo" }), 200, 1254045);
    assertLark(await create({ Files: "boxcn" }), 400, 1254015);
    assertLark(await create({ Files: [{ token: "boxcn" }] }), 200, 1254069);
    assertLark(await create({ Size: "12" }), 200, 1254061);
    assertLark(await create({ Name: 12 }), 200, 1254060);
    assertLark(await create({ Done: "yes" }), 200, 1254065);
    assertLark(await create("not an object"), 200, 1254001);
    const notJson = await call(emu, "POST", records(), { token });
    assertLark(notJson, 200, 1254000);
    assert.equal(emu.bases.get(BASE)!.tables.get(TABLE)!.records.size, 0);
  });

  test("bases, tables and permissions: 1254040, 1254041, 1254302 (HTTP 403); reads stay open", async (t) => {
    const { emu, token } = await withBases(t);
    const body = { fields: { Name: "x" } };
    assertLark(await call(emu, "POST", records("bascnNoSuchBase"), { token, body }), 200, 1254040);
    assertLark(await call(emu, "POST", records(BASE, "tblNoSuchTable"), { token, body }), 200, 1254041);
    emu.bases.get(BASE)!.editable = false;
    assertLark(await call(emu, "POST", records(), { token, body }), 403, 1254302);
    assertLark(await call(emu, "GET", records(), { token }), 200, 0);
    emu.removeBase(OTHER_BASE);
    assertLark(await call(emu, "GET", records(OTHER_BASE), { token }), 200, 1254040);
  });

  test("uploads into a base: unknown 1061044, read-only 1061004, removed 1061041", async (t) => {
    const { emu, token } = await withBases(t);
    assertLark(await upload(emu, token, { parentType: "bitable_file", parentNode: "bascnNoSuchBase" }), 400, 1061044);
    emu.bases.get(BASE)!.editable = false;
    assertLark(await upload(emu, token, { parentType: "bitable_file", parentNode: BASE }), 403, 1061004);
    emu.removeBase(OTHER_BASE);
    assertLark(await upload(emu, token, { parentType: "bitable_image", parentNode: OTHER_BASE }), 400, 1061041);
  });

  test("client_token: a uuid v4; a repeat returns the same record; another request under it is 1255006", async (t) => {
    const { emu, token } = await withBases(t);
    const client_token = randomUUID();
    const body = { fields: { Name: "once" } };
    const first = await call(emu, "POST", records(), { token, body, query: { client_token } });
    assertLark(first, 200, 0);
    const again = await call(emu, "POST", records(), { token, body, query: { client_token } });
    assert.deepEqual(again.json, first.json);
    assert.equal(emu.bases.get(BASE)!.tables.get(TABLE)!.records.size, 1);
    const changed = { fields: { Name: "twice" } };
    assertLark(await call(emu, "POST", records(), { token, body: changed, query: { client_token } }), 400, 1255006);
    for (const bad of ["not-a-uuid", "0d9e4c3a-5a38-1c8b-9a0f-5b8f8f9b1c2d"]) {
      assertLark(await call(emu, "POST", records(), { token, body, query: { client_token: bad } }), 400, 1254037);
    }
  });
});

describe("bitable concurrency, limits and faults", () => {
  test("two writes to one table at once: one succeeds, the other is 1254291; other tables are not blocked", async (t) => {
    const { emu } = await withBases(t, { bitableWriteMs: 150 });
    const client = sdkClient(emu);
    await client.bitable.v1.appTableField.list({ path: { app_token: BASE, table_id: TABLE } }); // token fetched
    const write = (table_id: string, Name: string) =>
      client.bitable.v1.appTableRecord.create({ path: { app_token: BASE, table_id }, data: { fields: { Name } } });
    const same = await Promise.all([write(TABLE, "a"), write(TABLE, "b")]);
    assert.deepEqual(same.map((r) => r.code).sort(), [0, 1254291]);
    assert.equal(same.find((r) => r.code === 1254291)!.msg, "Write conflict");
    const apart = await Promise.all([write(TABLE, "c"), write(SECOND_TABLE, "d")]);
    assert.deepEqual(
      apart.map((r) => r.code),
      [0, 0],
    );
    assert.equal(emu.bases.get(BASE)!.tables.get(TABLE)!.records.size, 2);
    assert.deepEqual(emu.stats().limitViolations, { "bitable.table_writes": 1 });
  });

  test("a delete takes the table's write lock too: a create beside it is 1254291", async (t) => {
    const { emu, token } = await withBases(t, { bitableWriteMs: 150 });
    const created = await call(emu, "POST", records(), { token, body: { fields: { Name: "a" } } });
    const remove = call(emu, "DELETE", `${records()}/${created.json.data.record.record_id}`, { token });
    await sleep(30); // the delete holds the table
    assertLark(await call(emu, "POST", records(), { token, body: { fields: { Name: "b" } } }), 200, 1254291);
    assertLark(await remove, 200, 0);
  });

  test("50 requests/s per app per endpoint: the 51st is HTTP 429 + 99991400", async (t) => {
    const { emu, token } = await withBases(t);
    const answers = [];
    for (let i = 0; i < 51; i++) answers.push(await call(emu, "GET", records(), { token }));
    for (const a of answers.slice(0, 50)) assertLark(a, 200, 0);
    assertLark(answers[50], 429, 99991400);
    assert.equal(answers[50].headers["x-ogw-ratelimit-limit"], "50");
    assert.deepEqual(emu.stats().limitViolations, { "bitable.app": 1 });
    assertLark(await call(emu, "GET", records().replace("records", "fields"), { token }), 200, 0);
  });

  test("1254607 data not ready and 1255040 timeout are injected by endpoint name", async (t) => {
    const { emu, token } = await withBases(t);
    emu.injectFault({ fault: { kind: "code", code: 1254607 }, path: "bitable.appTableRecord.create" });
    emu.injectFault({ fault: { kind: "code", code: 1255040 }, path: "bitable.appTableRecord.create" });
    const body = { fields: { Name: "x" } };
    assertLark(await call(emu, "POST", records(), { token, body }), 400, 1254607);
    assertLark(await call(emu, "POST", records(), { token, body }), 504, 1255040);
    assertLark(await call(emu, "POST", records(), { token, body }), 200, 0);
    emu.injectFault({ fault: { kind: "code", code: 1254607 }, path: "bitable.appTableRecord.create" });
    const client = sdkClient(emu);
    const sdkSeen = client.bitable.v1.appTableRecord.create({ path: { app_token: BASE, table_id: TABLE }, data: body });
    assert.deepEqual(await sdkFailure(sdkSeen), { status: 400, code: 1254607 });
  });
});

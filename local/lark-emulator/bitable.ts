// bitable/v1 (Base): the records and fields of a table, and attachment cells holding media uploaded into the
// base (parent_type bitable_image / bitable_file, parent_node = the app_token; a token is only valid in the base
// it was uploaded to: anything else is 1254303).
//
// Limits: 50 requests/s per app per endpoint (HTTP 429 + 99991400). Writes to one table (create, update, delete)
// never overlap: a write arriving while another write to that table is being processed gets 1254291 "Write
// conflict" (HTTP 200), and every write takes `writeMs` to process, so a client that sends two at once sees it.
//
// Chosen where Lark's documentation is silent:
// - Modelled field types: Text 1, Number 2, SingleSelect 3, MultiSelect 4, DateTime 5 (ms), Checkbox 7,
//   Phone 13, Url 15 ({text, link}), Attachment 17. A value of the wrong shape gets its type's *ConvFail code
//   (HTTP 200); an attachment value that is not an array is 1254015 (HTTP 400); an item without a file_token
//   1254069. Options of select fields are free text. `null` clears a cell on update.
// - Attachment cells come back, in every answer, as Lark shows them on reads:
//   [{file_token, name, size, type (MIME from the file name), url, tmp_url}], the URLs on the emulator's origin.
// - client_token (create and update): a uuid v4, else 1254037. A repeat with the same token and the same request
//   gets the first answer again and changes nothing; with a different request it is 1255006.
// - Bad page_size / page_token: 1254010. Fields list: `property` is null.
// - Non-editable bases are readable; their writes are 1254302 (HTTP 403). A removed base is 1254040.
// - 1254607 "data not ready" and 1255040 timeout are not produced on their own: inject them as faults.
// - Uploads (once a base exists): bitable_image / bitable_file need a known app_token as parent_node, else
//   1061044; a removed base is 1061041, a non-editable one 1061004.

import { setTimeout as sleep } from "node:timers/promises";
import { drain, isRecord, readJson } from "./bodies";
import type { Family, FamilyContext } from "./family";
import type { UploadTarget } from "./files";
import { randomAlnum } from "./ids";
import type { RateRule } from "./limits";
import { mimeOf } from "./mime";
import { type Ctx, LarkError, type Params, pageOf, type Route, replyData } from "./server";

export type BitableEndpoint =
  | "bitable.appTableRecord.create"
  | "bitable.appTableRecord.update"
  | "bitable.appTableRecord.delete"
  | "bitable.appTableRecord.get"
  | "bitable.appTableRecord.list"
  | "bitable.appTableField.list";

const APP_CALLS = { name: "bitable.app", limit: 50, perMs: 1000, status: 429 } as const satisfies RateRule;
export type BitableRateRule = typeof APP_CALLS.name;
const TABLE_WRITES = "bitable.table_writes";

export type FieldType = 1 | 2 | 3 | 4 | 5 | 7 | 13 | 15 | 17;
const ATTACHMENT = 17;
const BITABLE_UPLOADS = new Set(["bitable_image", "bitable_file"]);

export interface Attachment {
  file_token: string;
  name: string;
  size: number;
  type: string;
  url: string;
  tmp_url: string;
}
export type CellValue = string | number | boolean | string[] | { text?: string; link: string } | Attachment[];

export interface BitableField {
  fieldId: string;
  name: string;
  type: FieldType;
  /** The first field of a table. */
  isPrimary: boolean;
}
export interface BitableRecord {
  recordId: string;
  /** By field name, as the API speaks; empty cells are absent. */
  fields: Record<string, CellValue>;
}
export interface BitableTable {
  tableId: string;
  name: string;
  fields: BitableField[];
  records: Map<string, BitableRecord>;
}
export interface Base {
  appToken: string;
  /** Whether the app may write (false: read only, as with advanced permissions that leave it out). */
  editable: boolean;
  deleted: boolean;
  /** Bumped by every write; Lark puts it in attachment URLs. */
  revision: number;
  tables: Map<string, BitableTable>;
}
export interface BaseFixture {
  tables: { tableId: string; name?: string; fields: { name: string; type: FieldType }[] }[];
  /** Default true. */
  editable?: boolean;
}

/** A base as GET /__emulator/state shows it: fields and records as Lark answers them. */
export type BaseView = ReturnType<typeof baseView>;

export interface Bitable extends Family {
  snapshot(): BaseView[];
  bases: ReadonlyMap<string, Base>;
  addBase(appToken: string, fixture: BaseFixture): Base;
  /** The base is deleted: its calls are 1254040, uploads into it 1061041. */
  removeBase(appToken: string): void;
}

const isString = (v: unknown): v is string => typeof v === "string";

/** How each modelled type judges a written value, and the code when it does not fit. */
const KINDS: Record<FieldType, { uiType: string; convFail: number; fits: (v: unknown) => boolean }> = {
  1: { uiType: "Text", convFail: 1254060, fits: isString },
  2: { uiType: "Number", convFail: 1254061, fits: (v) => typeof v === "number" && Number.isFinite(v) },
  3: { uiType: "SingleSelect", convFail: 1254062, fits: isString },
  4: { uiType: "MultiSelect", convFail: 1254063, fits: (v) => Array.isArray(v) && v.every(isString) },
  5: { uiType: "DateTime", convFail: 1254064, fits: Number.isInteger },
  7: { uiType: "Checkbox", convFail: 1254065, fits: (v) => typeof v === "boolean" },
  13: { uiType: "Phone", convFail: 1254072, fits: isString },
  15: {
    uiType: "Url",
    convFail: 1254068,
    fits: (v) => isRecord(v) && isString(v.link) && (v.text === undefined || isString(v.text)),
  },
  17: { uiType: "Attachment", convFail: 1254069, fits: Array.isArray },
};

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

type Change = (table: BitableTable, cells: Map<string, CellValue | null>, params: Params) => BitableRecord;

export function createBitable(family: FamilyContext, opts: { writeMs: number }): Bitable {
  const bases = new Map<string, Base>();
  const answers = new Map<string, { request: string; data: Record<string, unknown> }>(); // client_token ->

  function tableOf(params: Params): { base: Base; table: BitableTable } {
    const base = bases.get(params.app_token);
    if (!base || base.deleted) throw new LarkError(1254040);
    const table = base.tables.get(params.table_id);
    if (!table) throw new LarkError(1254041);
    return { base, table };
  }

  function attachmentsOf(value: unknown, base: Base, table: BitableTable): Attachment[] {
    if (!Array.isArray(value)) throw new LarkError(1254015);
    return value.map((item) => {
      if (!isRecord(item) || !isString(item.file_token) || item.file_token === "") throw new LarkError(1254069);
      const file = family.files.get(item.file_token);
      const inBase = file?.parentNode === base.appToken && BITABLE_UPLOADS.has(file.parentType);
      if (!inBase) throw new LarkError(1254303);
      const extra = encodeURIComponent(JSON.stringify({ bitablePerm: { tableId: table.tableId, rev: base.revision } }));
      const media = `${family.origin()}/open-apis/drive/v1/medias`;
      return {
        file_token: file.fileToken,
        name: file.fileName,
        size: file.size,
        type: mimeOf(file.fileName),
        url: `${media}/${file.fileToken}/download?extra=${extra}`,
        tmp_url: `${media}/batch_get_tmp_download_url?file_tokens=${file.fileToken}&extra=${extra}`,
      };
    });
  }

  /** Every written cell judged before anything changes; null clears the cell. */
  function cellsOf(fields: Record<string, unknown>, base: Base, table: BitableTable): Map<string, CellValue | null> {
    const cells = new Map<string, CellValue | null>();
    for (const [name, value] of Object.entries(fields)) {
      const field = table.fields.find((f) => f.name === name);
      if (!field) throw new LarkError(1254045);
      if (value === null) cells.set(name, null);
      else if (field.type === ATTACHMENT) cells.set(name, attachmentsOf(value, base, table));
      else if (KINDS[field.type].fits(value)) cells.set(name, structuredClone(value) as CellValue);
      else throw new LarkError(KINDS[field.type].convFail);
    }
    return cells;
  }

  /** The table a write changes, after the `writeMs` every write takes (the table is busy meanwhile). */
  async function writableTable(params: Params): Promise<{ base: Base; table: BitableTable }> {
    await sleep(opts.writeMs);
    const { base, table } = tableOf(params);
    if (!base.editable) throw new LarkError(1254302);
    return { base, table };
  }

  const write = (change: Change) => async (ctx: Ctx, params: Params) => {
    const body = await readJson(ctx.req);
    const clientToken = ctx.query.get("client_token") || undefined;
    if (clientToken !== undefined && !UUID_V4.test(clientToken)) throw new LarkError(1254037);
    const { base, table } = await writableTable(params);
    const request = JSON.stringify([ctx.method, ctx.path, body ?? null]);
    const first = clientToken ? answers.get(clientToken) : undefined;
    if (first) {
      if (first.request !== request) throw new LarkError(1255006);
      return replyData(ctx, first.data);
    }
    if (!body) throw new LarkError(1254000);
    if (!isRecord(body.fields)) throw new LarkError(1254001);
    const record = change(table, cellsOf(body.fields, base, table), params);
    base.revision++;
    const data = { record: recordJson(record) };
    if (clientToken) answers.set(clientToken, { request, data });
    replyData(ctx, data);
  };

  const fill = (record: BitableRecord, cells: Map<string, CellValue | null>) => {
    for (const [name, value] of cells) {
      if (value === null) delete record.fields[name];
      else record.fields[name] = value;
    }
    return record;
  };

  const createRecord = write((table, cells) => {
    const record = fill({ recordId: `rec${randomAlnum(10)}`, fields: {} }, cells);
    table.records.set(record.recordId, record);
    return record;
  });

  const recordOf = (table: BitableTable, recordId: string) => {
    const record = table.records.get(recordId);
    if (!record) throw new LarkError(1254043);
    return record;
  };

  const updateRecord = write((table, cells, params) => fill(recordOf(table, params.record_id), cells));

  async function deleteRecord(ctx: Ctx, params: Params) {
    await drain(ctx.req);
    const { base, table } = await writableTable(params);
    table.records.delete(recordOf(table, params.record_id).recordId);
    base.revision++;
    replyData(ctx, { deleted: true, record_id: params.record_id });
  }

  const read =
    (answer: (ctx: Ctx, table: BitableTable, params: Params) => Record<string, unknown>) =>
    async (ctx: Ctx, params: Params) => {
      await drain(ctx.req);
      replyData(ctx, answer(ctx, tableOf(params).table, params));
    };
  const paging = (maxSize: number) => ({ defaultSize: 20, maxSize, invalidSize: 1254010, invalidToken: 1254010 });

  const getRecord = read((_ctx, table, params) => ({ record: recordJson(recordOf(table, params.record_id)) }));
  const listRecords = read((ctx, table) => {
    const all = [...table.records.values()].map(recordJson);
    return { ...pageOf(ctx, all, paging(500)), total: all.length };
  });
  const listFields = read((ctx, table) => ({
    ...pageOf(ctx, table.fields.map(fieldJson), paging(100)),
    total: table.fields.length,
  }));

  const { limits } = family;
  const route = (method: Route["method"], path: string, endpoint: BitableEndpoint, handle: Route["handle"]): Route => ({
    method,
    path: `/open-apis/bitable/v1/apps/:app_token/tables/:table_id/${path}`,
    endpoint,
    limits: (params) => [
      limits.rate(APP_CALLS, endpoint),
      ...(method === "GET" ? [] : [limits.oneAtATime(TABLE_WRITES, `${params.app_token}/${params.table_id}`, 1254291)]),
    ],
    handle,
  });

  const uploadTarget: UploadTarget = {
    modelled: () => bases.size > 0,
    refuse: (node) => {
      const base = bases.get(node);
      if (!base) return 1061044;
      if (base.deleted) return 1061041;
      return base.editable ? undefined : 1061004;
    },
  };

  return {
    routes: [
      route("POST", "records", "bitable.appTableRecord.create", createRecord),
      route("PUT", "records/:record_id", "bitable.appTableRecord.update", updateRecord),
      route("DELETE", "records/:record_id", "bitable.appTableRecord.delete", deleteRecord),
      route("GET", "records/:record_id", "bitable.appTableRecord.get", getRecord),
      route("GET", "records", "bitable.appTableRecord.list", listRecords),
      route("GET", "fields", "bitable.appTableField.list", listFields),
    ],
    uploadTargets: { bitable_image: uploadTarget, bitable_file: uploadTarget },
    bases,
    addBase(appToken, { tables, editable = true }) {
      if (bases.get(appToken)?.deleted === false) throw new Error(`base ${appToken} already exists`);
      const base: Base = { appToken, editable, deleted: false, revision: 1, tables: new Map() };
      for (const { tableId, name = tableId, fields } of tables) {
        if (new Set(fields.map((f) => f.name)).size !== fields.length) throw new Error(`duplicate field in ${tableId}`);
        base.tables.set(tableId, {
          tableId,
          name,
          fields: fields.map((f, i) => ({ fieldId: `fld${randomAlnum(10)}`, ...f, isPrimary: i === 0 })),
          records: new Map(),
        });
      }
      bases.set(appToken, base);
      return base;
    },
    removeBase(appToken) {
      const base = bases.get(appToken);
      if (!base) throw new Error(`no base ${appToken}`);
      base.deleted = true;
    },
    reset() {
      bases.clear();
      answers.clear();
    },
    snapshot: () => [...bases.values()].map(baseView),
  };
}

function baseView({ tables, ...base }: Base) {
  return {
    ...base,
    tables: [...tables.values()].map((table) => ({
      tableId: table.tableId,
      name: table.name,
      fields: table.fields.map(fieldJson),
      records: [...table.records.values()].map(recordJson),
    })),
  };
}

function recordJson(record: BitableRecord): Record<string, unknown> {
  return { record_id: record.recordId, id: record.recordId, fields: structuredClone(record.fields) };
}

function fieldJson(field: BitableField): Record<string, unknown> {
  return {
    field_id: field.fieldId,
    field_name: field.name,
    type: field.type,
    property: null,
    is_primary: field.isPrimary,
    ui_type: KINDS[field.type].uiType,
  };
}

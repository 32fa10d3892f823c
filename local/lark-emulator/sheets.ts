// sheets/v3: the sheets of a spreadsheet and floating images, which show media uploaded into the spreadsheet
// (parent_type sheet_image, parent_node = the spreadsheet token) over a sheet, anchored at one cell.
//
// Limits: 100 requests/min per app per endpoint (HTTP 429 + 99991400); at most 4000 distinct image tokens per
// spreadsheet (1310247), configurable so a test can reach it.
//
// Chosen where Lark's documentation is silent:
// - Checks on create, in order: spreadsheet (1310214, removed 1310249), permission (1310213), sheet id
//   (malformed 1310211, unknown 1310215), body not JSON (1310229), range (1310202: one cell of this sheet, inside
//   its grid), token (1310245: uploaded as sheet_image into this spreadsheet), float_image_id (1310243 when not
//   10 characters [0-9a-zA-Z], 1310244 when the sheet has it already), width / height / offsets (1310246), count.
// - Without width / height an image is 100×100 px (Lark uses the image's real size, which the emulator does not
//   decode). Every cell is 100 px wide and 20 px high, the bounds of offset_x / offset_y.
// - An unknown float_image_id on get / delete is 1310243. Non-editable spreadsheets are readable; creating or
//   deleting there is 1310213.
// - Uploads (once a spreadsheet exists): sheet_image and sheet_file need a known spreadsheet token as
//   parent_node, else 1061044; a removed spreadsheet is 1061041, a non-editable one 1061004.

import { drain, readJson } from "./bodies";
import type { Family, FamilyContext } from "./family";
import type { UploadTarget } from "./files";
import { randomAlnum } from "./ids";
import type { RateRule } from "./limits";
import { type Ctx, LarkError, type Params, type Route, replyData } from "./server";

export type SheetsEndpoint =
  | "sheets.spreadsheetSheet.query"
  | "sheets.spreadsheetSheetFloatImage.create"
  | "sheets.spreadsheetSheetFloatImage.get"
  | "sheets.spreadsheetSheetFloatImage.query"
  | "sheets.spreadsheetSheetFloatImage.delete";

const APP_CALLS = { name: "sheets.app", limit: 100, perMs: 60_000, status: 429 } as const satisfies RateRule;
export type SheetsRateRule = typeof APP_CALLS.name;

const CELL_WIDTH = 100;
const CELL_HEIGHT = 20;
const DEFAULT_IMAGE_SIZE = 100;
const MIN_IMAGE_SIZE = 20;
const FLOAT_IMAGE_ID = /^[0-9a-zA-Z]{10}$/;
const SHEET_ID = /^[0-9a-zA-Z]{1,32}$/;

export interface FloatImage {
  floatImageId: string;
  token: string;
  /** One cell, as sent: `<sheetId>!C3:C3`. */
  range: string;
  width: number;
  height: number;
  offsetX: number;
  offsetY: number;
}
export interface Sheet {
  sheetId: string;
  title: string;
  index: number;
  rows: number;
  cols: number;
  floatImages: Map<string, FloatImage>;
}
export interface Spreadsheet {
  token: string;
  /** Whether the app may write (false: read only). */
  editable: boolean;
  deleted: boolean;
  sheets: Map<string, Sheet>;
}
export interface SpreadsheetFixture {
  /** rows default 200, cols 20 (a new Lark sheet); title "Sheet<n>". */
  sheets: { sheetId: string; title?: string; rows?: number; cols?: number }[];
  /** Default true. */
  editable?: boolean;
}

/** A spreadsheet as GET /__emulator/state shows it: sheets and floating images as Lark answers them. */
export type SpreadsheetView = ReturnType<typeof spreadsheetView>;

export interface Sheets extends Family {
  snapshot(): SpreadsheetView[];
  spreadsheets: ReadonlyMap<string, Spreadsheet>;
  addSpreadsheet(token: string, fixture: SpreadsheetFixture): Spreadsheet;
  /** The spreadsheet is deleted: its calls are 1310249, uploads into it 1061041. */
  removeSpreadsheet(token: string): void;
}

export function createSheets(family: FamilyContext, opts: { imageLimit: number }): Sheets {
  const spreadsheets = new Map<string, Spreadsheet>();

  function spreadsheetOf(params: Params, write: boolean): Spreadsheet {
    const spreadsheet = spreadsheets.get(params.spreadsheet_token);
    if (!spreadsheet) throw new LarkError(1310214);
    if (spreadsheet.deleted) throw new LarkError(1310249);
    if (write && !spreadsheet.editable) throw new LarkError(1310213);
    return spreadsheet;
  }

  function sheetOf(spreadsheet: Spreadsheet, sheetId: string): Sheet {
    if (!SHEET_ID.test(sheetId)) throw new LarkError(1310211);
    const sheet = spreadsheet.sheets.get(sheetId);
    if (!sheet) throw new LarkError(1310215);
    return sheet;
  }

  function imageOf(sheet: Sheet, floatImageId: string): FloatImage {
    const image = sheet.floatImages.get(floatImageId);
    if (!image) throw new LarkError(1310243);
    return image;
  }

  /** A range naming one cell of `sheet`, inside its grid. */
  function checkRange(range: unknown, sheet: Sheet): string {
    const match = typeof range === "string" ? /^([^!]+)!([A-Z]+)([1-9]\d*):([A-Z]+)([1-9]\d*)$/.exec(range) : null;
    const oneCell = match && match[1] === sheet.sheetId && match[2] === match[4] && match[3] === match[5];
    if (!oneCell || columnNumber(match[2]) > sheet.cols || Number(match[3]) > sheet.rows) throw new LarkError(1310202);
    return range as string;
  }

  function checkToken(token: unknown, spreadsheet: Spreadsheet): string {
    const file = typeof token === "string" ? family.files.get(token) : undefined;
    if (file?.parentType !== "sheet_image" || file.parentNode !== spreadsheet.token) throw new LarkError(1310245);
    return file.fileToken;
  }

  function newImageId(sheet: Sheet, requested: unknown): string {
    if (requested === undefined) {
      let id: string;
      do id = randomAlnum(10);
      while (sheet.floatImages.has(id));
      return id;
    }
    if (typeof requested !== "string" || !FLOAT_IMAGE_ID.test(requested)) throw new LarkError(1310243);
    if (sheet.floatImages.has(requested)) throw new LarkError(1310244);
    return requested;
  }

  /** width / height ≥ 20 px; 0 ≤ offset < the cell's size. */
  function measure(value: unknown, fallback: number, valid: (n: number) => boolean): number {
    if (value === undefined) return fallback;
    if (typeof value !== "number" || !Number.isFinite(value) || !valid(value)) throw new LarkError(1310246);
    return value;
  }

  function distinctTokens(spreadsheet: Spreadsheet): Set<string> {
    const tokens = new Set<string>();
    for (const sheet of spreadsheet.sheets.values())
      for (const image of sheet.floatImages.values()) tokens.add(image.token);
    return tokens;
  }

  async function createImage(ctx: Ctx, params: Params) {
    const body = await readJson(ctx.req);
    const spreadsheet = spreadsheetOf(params, true);
    const sheet = sheetOf(spreadsheet, params.sheet_id);
    if (!body) throw new LarkError(1310229);
    const range = checkRange(body.range, sheet);
    const token = checkToken(body.float_image_token, spreadsheet);
    const floatImageId = newImageId(sheet, body.float_image_id);
    const size = (n: number) => n >= MIN_IMAGE_SIZE;
    const image: FloatImage = {
      floatImageId,
      token,
      range,
      width: measure(body.width, DEFAULT_IMAGE_SIZE, size),
      height: measure(body.height, DEFAULT_IMAGE_SIZE, size),
      offsetX: measure(body.offset_x, 0, (n) => n >= 0 && n < CELL_WIDTH),
      offsetY: measure(body.offset_y, 0, (n) => n >= 0 && n < CELL_HEIGHT),
    };
    const tokens = distinctTokens(spreadsheet);
    if (!tokens.has(token) && tokens.size >= opts.imageLimit) throw new LarkError(1310247);
    sheet.floatImages.set(floatImageId, image);
    replyData(ctx, { float_image: imageJson(image) });
  }

  async function deleteImage(ctx: Ctx, params: Params) {
    await drain(ctx.req);
    const sheet = sheetOf(spreadsheetOf(params, true), params.sheet_id);
    sheet.floatImages.delete(imageOf(sheet, params.float_image_id).floatImageId);
    replyData(ctx, {});
  }

  const read =
    (answer: (spreadsheet: Spreadsheet, params: Params) => Record<string, unknown>) =>
    async (ctx: Ctx, params: Params) => {
      await drain(ctx.req);
      replyData(ctx, answer(spreadsheetOf(params, false), params));
    };
  const querySheets = read((spreadsheet) => ({ sheets: [...spreadsheet.sheets.values()].map(sheetJson) }));
  const getImage = read((spreadsheet, params) => ({
    float_image: imageJson(imageOf(sheetOf(spreadsheet, params.sheet_id), params.float_image_id)),
  }));
  const queryImages = read((spreadsheet, params) => ({
    items: [...sheetOf(spreadsheet, params.sheet_id).floatImages.values()].map(imageJson),
  }));

  const { limits } = family;
  const route = (method: Route["method"], path: string, endpoint: SheetsEndpoint, handle: Route["handle"]): Route => ({
    method,
    path: `/open-apis/sheets/v3/spreadsheets/:spreadsheet_token/${path}`,
    endpoint,
    limits: () => [limits.rate(APP_CALLS, endpoint)],
    handle,
  });
  const images = "sheets/:sheet_id/float_images";

  const uploadTarget: UploadTarget = {
    modelled: () => spreadsheets.size > 0,
    refuse: (node) => {
      const spreadsheet = spreadsheets.get(node);
      if (!spreadsheet) return 1061044;
      if (spreadsheet.deleted) return 1061041;
      return spreadsheet.editable ? undefined : 1061004;
    },
  };

  return {
    routes: [
      route("GET", "sheets/query", "sheets.spreadsheetSheet.query", querySheets),
      route("POST", images, "sheets.spreadsheetSheetFloatImage.create", createImage),
      route("GET", `${images}/query`, "sheets.spreadsheetSheetFloatImage.query", queryImages),
      route("GET", `${images}/:float_image_id`, "sheets.spreadsheetSheetFloatImage.get", getImage),
      route("DELETE", `${images}/:float_image_id`, "sheets.spreadsheetSheetFloatImage.delete", deleteImage),
    ],
    uploadTargets: { sheet_image: uploadTarget, sheet_file: uploadTarget },
    spreadsheets,
    addSpreadsheet(token, { sheets, editable = true }) {
      if (spreadsheets.get(token)?.deleted === false) throw new Error(`spreadsheet ${token} already exists`);
      const spreadsheet: Spreadsheet = { token, editable, deleted: false, sheets: new Map() };
      for (const [index, { sheetId, title, rows = 200, cols = 20 }] of sheets.entries()) {
        if (!SHEET_ID.test(sheetId)) throw new Error(`sheet id ${sheetId} is not [0-9a-zA-Z]{1,32}`);
        const sheet: Sheet = {
          sheetId,
          title: title ?? `Sheet${index + 1}`,
          index,
          rows,
          cols,
          floatImages: new Map(),
        };
        spreadsheet.sheets.set(sheetId, sheet);
      }
      spreadsheets.set(token, spreadsheet);
      return spreadsheet;
    },
    removeSpreadsheet(token) {
      const spreadsheet = spreadsheets.get(token);
      if (!spreadsheet) throw new Error(`no spreadsheet ${token}`);
      spreadsheet.deleted = true;
    },
    reset: () => spreadsheets.clear(),
    snapshot: () => [...spreadsheets.values()].map(spreadsheetView),
  };
}

function spreadsheetView({ sheets, ...spreadsheet }: Spreadsheet) {
  return {
    ...spreadsheet,
    sheets: [...sheets.values()].map((sheet) => ({
      ...sheetJson(sheet),
      float_images: [...sheet.floatImages.values()].map(imageJson),
    })),
  };
}

/** A, B … Z, AA …: 1-based. */
function columnNumber(letters: string): number {
  return [...letters].reduce((n, c) => n * 26 + (c.charCodeAt(0) - 64), 0);
}

function sheetJson(sheet: Sheet): Record<string, unknown> {
  return {
    sheet_id: sheet.sheetId,
    title: sheet.title,
    index: sheet.index,
    hidden: false,
    grid_properties: { frozen_row_count: 0, frozen_column_count: 0, row_count: sheet.rows, column_count: sheet.cols },
    resource_type: "sheet",
  };
}

function imageJson(image: FloatImage): Record<string, unknown> {
  return {
    float_image_id: image.floatImageId,
    float_image_token: image.token,
    range: image.range,
    width: image.width,
    height: image.height,
    offset_x: image.offsetX,
    offset_y: image.offsetY,
  };
}

// A strict emulator of the Lark (Feishu) Open API endpoints this project uses, one module per API family:
// auth (tenant_access_token), media (uploads), docx, bitable, sheets, Drive folders and files, import tasks,
// permission members. It speaks real HTTP so that the real
// client (and the official SDK) can be tested against it, and it rejects what Lark's documentation says Lark
// rejects, with the same codes and HTTP statuses. Each family's header says what it chose where Lark's
// documentation is silent.
//
// Every API request goes through the same admission, in this order: injected fault (a delay postpones all that
// follows), auth (the bearer tenant_access_token), the route's limits, then the family's handler (which reads and
// judges the body).
//
// Adding a family: a module exporting `create<Family>(context: FamilyContext): Family` (routes with their
// endpoint names and limits, upload targets for the media parent types it owns, reset, snapshot), its endpoint
// names in `Endpoint` (faults.ts), its codes in codes.ts, its rate rule names in `RateRuleName` below, and one
// line each in startLarkEmulator and the LarkEmulator object for its fixtures.
//
// Standalone: node --import tsx local/lark-emulator/index.ts  (PORT and VIEW_PORT, by default npm start's ports;
// LARK_APP_ID, LARK_APP_SECRET)

import http from "node:http";
import { pathToFileURL } from "node:url";
import { DEFAULT_LARK_EMULATOR_PORT, DEFAULT_LARK_EMULATOR_VIEW_PORT } from "../shared/state";
import { createAuth } from "./auth";
import { type Base, type BaseFixture, type BaseView, type BitableRateRule, createBitable } from "./bitable";
import { drain } from "./bodies";
import { createDocx, type DocumentFixture, type DocumentView, type DocxDocument, type DocxRateRule } from "./docx";
import { createDriveFiles } from "./drive-files";
import {
  createFolders,
  type DriveFolder,
  type FolderFixture,
  type FoldersRateRule,
  type FolderView,
  ROOT_FOLDER_TOKEN,
} from "./drive-folders";
import {
  createImports,
  type ImportJob,
  type ImportOutcomeRule,
  type ImportRateRule,
  type ImportView,
} from "./drive-import";
import type { FamilyContext } from "./family";
import { applyFault, arriveLate, FaultQueue, type FaultRule } from "./faults";
import { FileStore, type ReceivedFile } from "./files";
import { Limits, type RateLimit } from "./limits";
import { createMedia } from "./media";
import {
  createPermissions,
  type PermissionMember,
  type PermissionsRateRule,
  type PermissionTarget,
  type PermissionView,
} from "./permissions";
import { type Ctx, contextOf, LarkError, type Params, type Route, Router, reply, sendJson } from "./server";
import {
  createSheets,
  type SheetsRateRule,
  type Spreadsheet,
  type SpreadsheetFixture,
  type SpreadsheetView,
} from "./sheets";
import { UPLOAD_RATE_RULE, UPLOAD_SLOT_RULE, uploadAdmission } from "./uploads";
import { type EmulatorView, startEmulatorView } from "./view";

export type {
  Attachment,
  Base,
  BaseFixture,
  BaseView,
  BitableField,
  BitableRecord,
  BitableTable,
  CellValue,
  FieldType,
} from "./bitable";
export type { DocumentFixture, DocumentView, DocxBlock, DocxDocument } from "./docx";
export type { DriveFolder, DriveItem, DriveItemType, FolderFixture, FolderView } from "./drive-folders";
export type {
  ImportFailureStatus,
  ImportJob,
  ImportOutcome,
  ImportOutcomeRule,
  ImportType,
  ImportView,
  ImportWarning,
} from "./drive-import";
export type { Endpoint, Fault, FaultRule } from "./faults";
export type { ReceivedFile } from "./files";
export type { MemberType, Perm, PermissionMember, PermissionTarget, PermissionView } from "./permissions";
export type { FloatImage, Sheet, Spreadsheet, SpreadsheetFixture, SpreadsheetView } from "./sheets";
export { adler32Decimal, BLOCK_SIZE, MAX_UPLOAD_ALL_SIZE } from "./uploads";
export { type EmulatorView, startEmulatorView } from "./view";

export type RateRuleName =
  | DocxRateRule
  | BitableRateRule
  | SheetsRateRule
  | FoldersRateRule
  | ImportRateRule
  | PermissionsRateRule;

export interface LarkEmulatorOptions {
  port?: number;
  host?: string;
  appId?: string;
  appSecret?: string;
  tokenTtlSeconds?: number;
  /** Multiplies every rate window (1: Lark's real time), so tests can run the limits fast. */
  timeScale?: number;
  /** Media upload requests admitted per window (Lark: 5 per second). */
  ratePerWindow?: number;
  /** Requests per window of the other families' rate rules, replacing Lark's numbers (room for a test). */
  rates?: Partial<Record<RateRuleName, number>>;
  /** When given, media uploads to any other parent node get 1061044 (parent types of a modelled family aside). */
  knownParentNodes?: string[];
  keepBytes?: boolean;
  /** How long a bitable write keeps its table busy (default 20 ms). */
  bitableWriteMs?: number;
  /** Distinct image tokens one spreadsheet may hold (default 4000, Lark's). */
  sheetImageLimit?: number;
  /** Items one folder level may hold (default 1500, Lark's). */
  folderItemLimit?: number;
  /** How long an import job runs before its outcome (default 2000 ms, scaled by timeScale). */
  importJobMs?: number;
  /** The tenant's web origin in document and file URLs (default https://emulator.larksuite.com). */
  tenantUrl?: string;
  /** Also serve the read-only web view (view.ts) on this port of 127.0.0.1 (0: any free port). */
  viewPort?: number;
  log?: (line: string) => void;
}
export interface UploadRequestRecord {
  path: string;
  startedAt: number;
  endedAt: number;
  httpStatus: number;
  code: number;
}
export interface EmulatorStats {
  uploads: number;
  tokenRequests: number;
  rateViolations: number;
  concurrencyViolations: number;
  maxInFlight: number;
  requests: number;
  /** Requests refused by a limit since the last reset, by rule (RateRuleName, "media", "media.one_at_a_time",
   * "bitable.table_writes"…): `{}` when no limit of any family was hit. */
  limitViolations: Record<string, number>;
}
/** GET /__emulator/state: everything the emulator holds, as JSON, without file bytes. */
export interface EmulatorState {
  files: Omit<ReceivedFile, "bytes">[];
  documents: DocumentView[];
  bases: BaseView[];
  spreadsheets: SpreadsheetView[];
  folders: FolderView[];
  imports: ImportView[];
  permissions: PermissionView[];
}
export interface LarkEmulator {
  url: string;
  appId: string;
  appSecret: string;
  files: ReceivedFile[];
  requests: UploadRequestRecord[];
  stats(): EmulatorStats;
  injectFault(rule: FaultRule): void;
  clearFaults(): void;
  expireTokens(): void;
  deleteParentNode(node: string): void;
  /** Every open chunked upload (media and Drive file) answers 1061021 from now on. */
  expireUploadIds(): void;
  /** Forget files, records, faults, rate windows, counters and every fixture; issued tokens stay valid. */
  reset(): void;
  close(): Promise<void>;
  documents: ReadonlyMap<string, DocxDocument>;
  addDocument(documentId: string, fixture?: DocumentFixture): DocxDocument;
  removeDocument(documentId: string): void;
  bases: ReadonlyMap<string, Base>;
  addBase(appToken: string, fixture: BaseFixture): Base;
  removeBase(appToken: string): void;
  spreadsheets: ReadonlyMap<string, Spreadsheet>;
  addSpreadsheet(token: string, fixture: SpreadsheetFixture): Spreadsheet;
  removeSpreadsheet(token: string): void;
  /** The app's root folder, which an empty folder token means. */
  rootFolderToken: string;
  folders: ReadonlyMap<string, DriveFolder>;
  /** A folder shared with the app (editable by default). */
  addFolder(token: string, fixture?: FolderFixture): DriveFolder;
  removeFolder(token: string): void;
  /** Import jobs by ticket. */
  imports: ReadonlyMap<string, ImportJob>;
  /** How the next import task(s) created end (default: success). */
  importOutcome(rule: ImportOutcomeRule): void;
  /** Every ccm_import_open upload received so far is past its 5-minute window (1069913). */
  expireImportUploads(): void;
  /** Members granted by token. */
  permissions: ReadonlyMap<string, { type: PermissionTarget; members: PermissionMember[] }>;
  state(): EmulatorState;
  /** The web view, when viewPort was given; close() closes it too. */
  view?: EmulatorView;
}

export async function startLarkEmulator(opts: LarkEmulatorOptions = {}): Promise<LarkEmulator> {
  const appId = opts.appId ?? "cli_emulator";
  const appSecret = opts.appSecret ?? "emulator-secret";
  const limits = new Limits(opts.timeScale ?? 1, opts.rates);
  const faults = new FaultQueue();
  const auth = createAuth({ appId, appSecret, ttlMs: (opts.tokenTtlSeconds ?? 7200) * 1000 });
  let url = "";
  const context: FamilyContext = {
    limits,
    files: new FileStore(),
    origin: () => url,
    tenantUrl: opts.tenantUrl ?? "https://emulator.larksuite.com",
    timeScale: opts.timeScale ?? 1,
  };
  const keepBytes = opts.keepBytes ?? false;
  const docx = createDocx(context);
  const bitable = createBitable(context, { writeMs: opts.bitableWriteMs ?? 20 });
  const sheets = createSheets(context, { imageLimit: opts.sheetImageLimit ?? 4000 });
  const folders = createFolders(context, { itemLimit: opts.folderItemLimit ?? 1500 });
  const imports = createImports(context, folders, docx, { jobMs: opts.importJobMs ?? 2000 });
  const permissions = createPermissions(context, {
    folders,
    documents: docx.documents,
    bases: bitable.bases,
    spreadsheets: sheets.spreadsheets,
  });
  const placements = [docx, bitable, sheets, imports];
  const admission = uploadAdmission(limits, opts.ratePerWindow ?? 5);
  const media = createMedia(context, {
    admission,
    keepBytes,
    knownParentNodes: opts.knownParentNodes,
    targets: Object.fromEntries(placements.flatMap((family) => Object.entries(family.uploadTargets ?? {}))),
  });
  const driveFiles = createDriveFiles(context, folders, { keepBytes, admission });
  const families = [media, ...placements, folders, permissions];

  const api = new Router<Route>();
  api.add(auth.route, ...families.flatMap((family) => family.routes), ...driveFiles.routes);

  const requests: UploadRequestRecord[] = [];
  let openRecorded = 0; // every open request to a recorded endpoint, admitted or not
  let maxInFlight = 0;

  const files = context.files.list;
  const stats = (): EmulatorStats => ({
    uploads: files.length,
    requests: requests.length,
    tokenRequests: auth.requests(),
    rateViolations: limits.refusals(UPLOAD_RATE_RULE),
    concurrencyViolations: limits.refusals(UPLOAD_SLOT_RULE),
    maxInFlight,
    limitViolations: limits.refusalsByRule(),
  });

  const state = (): EmulatorState => ({
    files: media.snapshot(),
    documents: docx.snapshot(),
    bases: bitable.snapshot(),
    spreadsheets: sheets.snapshot(),
    folders: folders.snapshot(),
    imports: imports.snapshot(),
    permissions: permissions.snapshot(),
  });
  const inspection: Record<string, () => unknown> = {
    "/__emulator/files": media.snapshot,
    "/__emulator/stats": stats,
    "/__emulator/state": state,
  };

  async function serve(ctx: Ctx, route: Route, params: Params) {
    const routeLimits = route.limits?.(params) ?? [];
    const fault = faults.take(route.endpoint);
    if (fault?.kind === "delay") {
      if (!(await arriveLate(ctx, fault.ms))) return; // the client gave up before the request reached Lark
    } else if (fault) {
      const rate = routeLimits.find((l): l is RateLimit => l.kind === "rate");
      return applyFault(ctx, fault, () => (rate ? limits.headers(rate) : {}));
    }
    const authError = route.anonymous ? undefined : auth.check(ctx.req.headers.authorization);
    if (authError !== undefined) {
      await drain(ctx.req);
      return reply(ctx, authError);
    }
    const refusal = limits.admit(routeLimits, ctx.res);
    if (refusal) {
      await drain(ctx.req);
      return reply(ctx, refusal.code, {}, refusal.headers, refusal.status);
    }
    try {
      await route.handle(ctx, params);
    } catch (error) {
      if (!(error instanceof LarkError)) throw error;
      await drain(ctx.req);
      reply(ctx, error.code);
    }
  }

  async function dispatch(ctx: Ctx, found: { route: Route; params: Params } | undefined) {
    if (found) return serve(ctx, found.route, found.params);
    await drain(ctx.req);
    const inspect = ctx.method === "GET" ? inspection[ctx.path] : undefined;
    if (inspect) return sendJson(ctx, inspect());
    reply(ctx, 404, { msg: "404 page not found" }, undefined, 404);
  }

  function track(ctx: Ctx, route: Route | undefined) {
    const startedAt = Date.now();
    const record = route?.recorded ? { path: ctx.path, startedAt, endedAt: 0, httpStatus: 0, code: -1 } : undefined;
    if (record) {
      requests.push(record);
      maxInFlight = Math.max(maxInFlight, ++openRecorded);
    }
    ctx.res.once("close", () => {
      const endedAt = Date.now();
      if (record) {
        openRecorded--;
        Object.assign(record, { endedAt, httpStatus: ctx.status, code: ctx.code });
      }
      const outcome = ctx.status ? `${ctx.status} code=${ctx.code}` : "no answer (reset/hang/abort)";
      opts.log?.(
        `${new Date(startedAt).toISOString()} ${ctx.method} ${ctx.path} -> ${outcome} ${endedAt - startedAt}ms`,
      );
    });
  }

  const server = http.createServer((req, res) => {
    const ctx = contextOf(req, res);
    const found = api.match(ctx.method, ctx.path);
    track(ctx, found?.route);
    dispatch(ctx, found).catch(() => {
      // A client that went away mid-request needs no answer; anything else is our bug: say so.
      if (!res.headersSent && !res.destroyed) reply(ctx, 1061001, {}, undefined, 500);
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, opts.host ?? "127.0.0.1", () => resolve());
  });
  const address = server.address() as { address: string; port: number; family: string };
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  url = `http://${host}:${address.port}`;
  const view =
    opts.viewPort === undefined ? undefined : await startEmulatorView({ files, state }, { port: opts.viewPort });

  return {
    url,
    appId,
    appSecret,
    files,
    requests,
    stats,
    injectFault: (rule) => faults.inject(rule),
    clearFaults: () => faults.clear(),
    expireTokens: () => auth.expire(),
    deleteParentNode: (node) => media.deleteParentNode(node),
    expireUploadIds: () => {
      media.expireUploadIds();
      driveFiles.expireUploadIds();
    },
    reset: () => {
      for (const family of families) family.reset();
      requests.length = 0;
      faults.clear();
      limits.reset();
      auth.resetCount();
      maxInFlight = 0;
    },
    close: async () => {
      await Promise.all([
        view?.close(),
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections(); // also ends hung requests and idle keep-alive sockets
        }),
      ]);
    },
    documents: docx.documents,
    addDocument: (documentId, fixture) => docx.addDocument(documentId, fixture),
    removeDocument: (documentId) => docx.removeDocument(documentId),
    bases: bitable.bases,
    addBase: (appToken, fixture) => bitable.addBase(appToken, fixture),
    removeBase: (appToken) => bitable.removeBase(appToken),
    spreadsheets: sheets.spreadsheets,
    addSpreadsheet: (token, fixture) => sheets.addSpreadsheet(token, fixture),
    removeSpreadsheet: (token) => sheets.removeSpreadsheet(token),
    rootFolderToken: ROOT_FOLDER_TOKEN,
    folders: folders.folders,
    addFolder: (token, fixture) => folders.addFolder(token, fixture),
    removeFolder: (token) => folders.removeFolder(token),
    imports: imports.jobs,
    importOutcome: (rule) => imports.importOutcome(rule),
    expireImportUploads: () => imports.expireImportUploads(),
    permissions: permissions.members,
    state,
    view,
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const emulator = await startLarkEmulator({
    port: Number(process.env.PORT ?? DEFAULT_LARK_EMULATOR_PORT),
    viewPort: Number(process.env.VIEW_PORT ?? DEFAULT_LARK_EMULATOR_VIEW_PORT),
    appId: process.env.LARK_APP_ID || undefined,
    appSecret: process.env.LARK_APP_SECRET || undefined,
    log: (line) => console.log(line),
  });
  console.log(`Lark emulator listening on ${emulator.url}`);
  console.log(`  LARK_APP_ID=${emulator.appId}`);
  console.log(`  LARK_APP_SECRET=${emulator.appSecret}`);
  console.log(`  received files: ${emulator.url}/__emulator/files   stats: ${emulator.url}/__emulator/stats`);
  console.log(`  everything it holds: ${emulator.url}/__emulator/state`);
  console.log(`  see it in a browser: ${emulator.view?.url}`);
  const stop = () => void emulator.close().then(() => process.exit(0));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

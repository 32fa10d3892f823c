// drive/v1 import tasks: a file uploaded for import becomes a new docx, sheet or bitable in a Drive folder.
// POST import_tasks creates a job and answers its ticket; GET import_tasks/:ticket reports it: job_status 1
// (initialising) for the first half of `jobMs`, 2 (processing) for the second, then the outcome: 0 with the new
// document's token and url, or a failure status with its job_error_msg.
//
// The source is a media upload with parent_type ccm_import_open (parent_node not needed: absent, empty or any
// value, ignored; extra the JSON string {"obj_type":"docx|sheet|bitable","file_extension":"<ext>"}, else 1061002),
// importable for 5 minutes after it was received (scaled by timeScale), or a Drive file (files/upload_all), which
// stays importable.
//
// Checks on create, in order: the body (1069904: not JSON, a field missing or of the wrong type, mount_type other
// than 1, an extension or a type Lark does not import), the file token (1069914 not shaped like one, or an upload
// that is not an import source; 1069907 unknown), the window (1069913), the extension (1069910: not the upload's),
// the type (1069911: not importable from that extension, or not the upload's obj_type), the size (1069909, the
// official CLI's limits per format: docx/doc 600 MB; txt, md, mark, markdown, html, xls 20 MB; xlsx 800 MB; csv
// 20 MB as a sheet, 100 MB as a bitable), the folder (mount_key "" is the app's root; 1069912 unknown, 1069908
// removed or read-only). Rates: create 100/min per app (HTTP 429 + 1069923); get 1000/min and 50/s (429 +
// 99991400).
//
// Chosen where Lark's documentation is silent:
// - An unknown ticket is 1069904. A source may be imported more than once within its window.
// - The job ends with 105 (too many folder nodes) when the folder is full then, 117 when it was removed meanwhile;
//   otherwise with the next outcome injected with importOutcome (success by default).
// - The new document: token doxcn… / shtcn… / bascn…, url <tenantUrl>/docx|sheets|base/<token>, title file_name,
//   else the source's name without its extension; it is listed in the folder, and a docx is also a document of
//   the docx family (empty but for its title).

import { performance } from "node:perf_hooks";
import { drain, isRecord, readJson } from "./bodies";
import type { Docx } from "./docx";
import type { Folders } from "./drive-folders";
import type { Family, FamilyContext } from "./family";
import type { ReceivedFile, UploadTarget } from "./files";
import { randomAlnum, randomDecimal } from "./ids";
import type { RateRule } from "./limits";
import { extensionOf, withoutExtension } from "./mime";
import { type Ctx, LarkError, type Params, type Route, replyData } from "./server";
import { PARAMS_ERROR } from "./uploads";

export type ImportEndpoint = "drive.importTask.create" | "drive.importTask.get";

const CREATES = {
  name: "drive.import_create",
  limit: 100,
  perMs: 60_000,
  status: 429,
  code: 1069923,
} as const satisfies RateRule;
const GETS_PER_MINUTE = {
  name: "drive.import_get_minute",
  limit: 1000,
  perMs: 60_000,
  status: 429,
} as const satisfies RateRule;
const GETS_PER_SECOND = {
  name: "drive.import_get_second",
  limit: 50,
  perMs: 1000,
  status: 429,
} as const satisfies RateRule;
export type ImportRateRule = (typeof CREATES | typeof GETS_PER_MINUTE | typeof GETS_PER_SECOND)["name"];

export type ImportType = "docx" | "sheet" | "bitable";

/** Which types each extension imports into, and up to what size (bytes). */
const MB = 1024 * 1024;
const IMPORTS: Record<string, Partial<Record<ImportType, number>>> = {
  docx: { docx: 600 * MB },
  doc: { docx: 600 * MB },
  txt: { docx: 20 * MB },
  md: { docx: 20 * MB },
  mark: { docx: 20 * MB },
  markdown: { docx: 20 * MB },
  html: { docx: 20 * MB },
  xlsx: { sheet: 800 * MB, bitable: 800 * MB },
  xls: { sheet: 20 * MB },
  csv: { sheet: 20 * MB, bitable: 100 * MB },
};
const TYPES = new Set<string>(["docx", "sheet", "bitable"]);
const TOKEN_PREFIXES: Record<ImportType, string> = { docx: "doxcn", sheet: "shtcn", bitable: "bascn" };
const IMPORT_WINDOW_MS = 5 * 60 * 1000;
const INVALID = 1069904;

/** Lark's failure statuses (job_status) and what job_error_msg says by default. */
const FAILURES = {
  3: "internal error",
  100: "import file is encrypted",
  101: "internal error",
  102: "internal error",
  103: "internal error",
  104: "tenant storage insufficient",
  105: "too many folder nodes",
  106: "internal error",
  108: "processing timed out",
  109: "internal error",
  110: "no permission",
  112: "format not supported",
  113: "office format not supported",
  114: "internal error",
  115: "import file too large",
  116: "no permission on the folder",
  117: "folder deleted",
  118: "import file extension does not match the task",
  119: "folder does not exist",
  120: "import file type does not match the task",
  121: "import file expired",
  122: "copying in progress",
  5000: "internal error",
  7000: "docx block count over the limit",
  7001: "docx block depth over the limit",
  7002: "docx block size over the limit",
} as const;
export type ImportFailureStatus = keyof typeof FAILURES;

/** The warnings Lark lists in `extra` of a successful import (truncated sheets, dropped images…). */
export type ImportWarning =
  | "2000"
  | "2001"
  | "2002"
  | "2003"
  | "2004"
  | "2005"
  | "3000"
  | "3001"
  | "3003"
  | "3004"
  | "3005"
  | "3006";

/** How an import job ends. */
export type ImportOutcome =
  | { jobStatus: ImportFailureStatus; jobErrorMsg?: string }
  | { jobStatus: 0; extra?: ImportWarning[] };

/** The next `times` (default 1) import tasks created end so. */
export type ImportOutcomeRule = ImportOutcome & { times?: number };

export interface ImportJob {
  ticket: string;
  type: ImportType;
  fileToken: string;
  title: string;
  folderToken: string;
  /** performance.now() at creation. */
  createdAt: number;
  outcome: ImportOutcome;
  /** Set when the job ended: its job_status, and for a success the new document. */
  ended?: { jobStatus: number; jobErrorMsg: string; extra: string[]; token: string; url: string };
}

/** An import job as GET /__emulator/state shows it: as GET import_tasks/:ticket answers, with its source. */
export type ImportView = ReturnType<typeof resultJson> & { file_token: string; folder_token: string; title: string };

export interface Imports extends Family {
  snapshot(): ImportView[];
  jobs: ReadonlyMap<string, ImportJob>;
  importOutcome(rule: ImportOutcomeRule): void;
  /** Every import source received so far is past its 5-minute window. */
  expireImportUploads(): void;
}

interface Source {
  extension: string;
  /** The obj_type a media upload declared; a Drive file declares none. */
  objType?: string;
  file: ReceivedFile;
}

/** The parsed `extra` of an upload for import, when it is the JSON Lark asks for. */
function importExtra(extra: string | undefined): { objType: string; extension: string } | undefined {
  const value: unknown = extra === undefined ? undefined : JSON.parse(extra);
  if (!isRecord(value) || !TYPES.has(value.obj_type as string)) return undefined;
  const extension = value.file_extension;
  return typeof extension === "string" && extension !== ""
    ? { objType: value.obj_type as string, extension }
    : undefined;
}

export function createImports(family: FamilyContext, folders: Folders, docx: Docx, opts: { jobMs: number }): Imports {
  const jobs = new Map<string, ImportJob>();
  const timers = new Set<NodeJS.Timeout>();
  const expired = new Set<string>();
  let outcomes: { outcome: ImportOutcome; left: number }[] = [];
  const jobMs = () => opts.jobMs * family.timeScale;

  const uploadTarget: UploadTarget = {
    modelled: () => true,
    nodeOptional: true,
    refuse: (_node, upload) => (importExtra(upload.extra) ? undefined : PARAMS_ERROR),
  };

  function sourceOf(token: unknown): Source {
    if (typeof token !== "string" || !/^[A-Za-z0-9]{10,64}$/.test(token)) throw new LarkError(1069914);
    const file = family.files.get(token);
    if (!file) throw new LarkError(1069907);
    if (file.parentType === "explorer") return { extension: extensionOf(file.fileName), file };
    if (file.parentType !== "ccm_import_open") throw new LarkError(1069914);
    const stale = Date.now() - file.receivedAt > IMPORT_WINDOW_MS * family.timeScale;
    if (stale || expired.has(token)) throw new LarkError(1069913);
    const extra = importExtra(file.extra)!;
    return { extension: extra.extension, objType: extra.objType, file };
  }

  function nextOutcome(): ImportOutcome {
    const next = outcomes[0];
    if (!next) return { jobStatus: 0 };
    if (--next.left <= 0) outcomes.shift();
    return next.outcome;
  }

  function end(job: ImportJob) {
    const failure = (jobStatus: ImportFailureStatus, jobErrorMsg: string = FAILURES[jobStatus]) => ({
      jobStatus,
      jobErrorMsg,
      extra: [],
      token: "",
      url: "",
    });
    const folder = folders.stateOf(job.folderToken);
    if (job.outcome.jobStatus !== 0) job.ended = failure(job.outcome.jobStatus, job.outcome.jobErrorMsg);
    else if (folder === "removed") job.ended = failure(117);
    else if (folder === "full") job.ended = failure(105);
    else {
      const token = `${TOKEN_PREFIXES[job.type]}${randomAlnum(22)}`;
      const { url } = folders.place(job.folderToken, { token, name: job.title, type: job.type });
      if (job.type === "docx") docx.addDocument(token, { title: job.title });
      job.ended = { jobStatus: 0, jobErrorMsg: "success", extra: [...(job.outcome.extra ?? [])], token, url };
    }
  }

  async function create(ctx: Ctx) {
    const body = await readJson(ctx.req);
    if (!body) throw new LarkError(INVALID);
    const { file_extension: extension, file_token: fileToken, type, file_name: fileName, point } = body;
    const texts = [extension, fileToken, type].every((v) => typeof v === "string");
    const name = fileName === undefined || typeof fileName === "string";
    if (!texts || !name || !isRecord(point) || typeof point.mount_key !== "string" || point.mount_type !== 1)
      throw new LarkError(INVALID);
    const sizes = IMPORTS[extension as string];
    if (!sizes || !TYPES.has(type as string)) throw new LarkError(INVALID);
    const source = sourceOf(fileToken);
    if (source.extension !== extension) throw new LarkError(1069910);
    const maxSize = sizes[type as ImportType];
    if (maxSize === undefined || (source.objType !== undefined && source.objType !== type))
      throw new LarkError(1069911);
    if (source.file.size > maxSize) throw new LarkError(1069909);
    const folderToken = folders.resolve(point.mount_key);
    const folder = folders.stateOf(folderToken);
    if (folder === "unknown") throw new LarkError(1069912);
    if (folder === "removed" || folder === "read-only") throw new LarkError(1069908);
    const job: ImportJob = {
      ticket: randomDecimal(19),
      type: type as ImportType,
      fileToken: source.file.fileToken,
      title: (fileName as string | undefined) || withoutExtension(source.file.fileName),
      folderToken,
      createdAt: performance.now(),
      outcome: nextOutcome(),
    };
    jobs.set(job.ticket, job);
    const timer = setTimeout(() => {
      timers.delete(timer);
      end(job);
    }, jobMs());
    timer.unref(); // a job still running does not keep a closed emulator's process alive
    timers.add(timer);
    replyData(ctx, { ticket: job.ticket });
  }

  /** A running job's status: 1 (initialising) for the first half of jobMs, then 2 (processing). */
  const pending = (job: ImportJob) => (performance.now() - job.createdAt < jobMs() / 2 ? 1 : 2);

  async function get(ctx: Ctx, params: Params) {
    await drain(ctx.req);
    const job = jobs.get(params.ticket);
    if (!job) throw new LarkError(INVALID);
    replyData(ctx, { result: resultJson(job, pending(job)) });
  }

  const { limits } = family;
  const routes: Route[] = [
    {
      method: "POST",
      path: "/open-apis/drive/v1/import_tasks",
      endpoint: "drive.importTask.create",
      limits: () => [limits.rate(CREATES, "app")],
      handle: create,
    },
    {
      method: "GET",
      path: "/open-apis/drive/v1/import_tasks/:ticket",
      endpoint: "drive.importTask.get",
      limits: () => [limits.rate(GETS_PER_MINUTE, "app"), limits.rate(GETS_PER_SECOND, "app")],
      handle: get,
    },
  ];

  return {
    routes,
    uploadTargets: { ccm_import_open: uploadTarget },
    jobs,
    importOutcome: ({ times = 1, ...outcome }) => void outcomes.push({ outcome, left: times }),
    expireImportUploads() {
      for (const file of family.files.list) if (file.parentType === "ccm_import_open") expired.add(file.fileToken);
    },
    reset() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      jobs.clear();
      expired.clear();
      outcomes = [];
    },
    snapshot: () =>
      [...jobs.values()].map((job) => ({
        ...resultJson(job, pending(job)),
        file_token: job.fileToken,
        folder_token: job.folderToken,
        title: job.title,
      })),
  };
}

/** The job as Lark reports it; `pending` is the status while it runs (1 initialising, 2 processing). */
function resultJson(job: ImportJob, pending: 1 | 2) {
  const ended = job.ended;
  return {
    ticket: job.ticket,
    type: job.type,
    job_status: ended?.jobStatus ?? pending,
    job_error_msg: ended?.jobErrorMsg ?? "",
    token: ended?.token ?? "",
    url: ended?.url ?? "",
    extra: ended?.extra ?? [],
  };
}

/**
 * drive/v1 import tasks: a file becomes a native document (docx, sheet or bitable) in a Drive folder. The source is
 * uploaded through the medias API as `importSource` describes it, an import task is created from its file token
 * within 5 minutes, and the task is read until its job ends. Creating is paced by its per-app rule, reading by its
 * two. Lark's import reference: "create import task", "query import task result".
 */
import { TransientError } from "../errors";
import type { RetryOptions } from "../retry";
import { type CallCounter, jsonRequest, type LarkClient } from "./client";
import type { LarkRequest } from "./http";
import type { LarkLimits } from "./limits";
import type { LarkFile } from "./media";
import type { Pacing } from "./pacer";

const IMPORT_TASKS = "/open-apis/drive/v1/import_tasks";

export type ImportType = "docx" | "sheet" | "bitable";

const MB = 1024 * 1024;
/**
 * The extensions Lark imports, the types each becomes, and up to what size (bytes). The pairs are Lark's import
 * overview; the sizes its official client's ("the current product-side import constraints per format"), the
 * reference saying only that over 20 MB is 1069909.
 */
const IMPORTS = {
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
} as const satisfies Record<string, Partial<Record<ImportType, number>>>;

/** A file extension Lark imports, lowercase and without its dot. */
export type ImportExtension = keyof typeof IMPORTS;

/** The extension of `fileName` as Lark wants it (lowercase, no dot), when Lark imports such files. */
export function importExtensionOf(fileName: string): ImportExtension | undefined {
  const dot = fileName.lastIndexOf(".");
  const extension = dot < 0 ? "" : fileName.slice(dot + 1).toLowerCase();
  return Object.hasOwn(IMPORTS, extension) ? (extension as ImportExtension) : undefined;
}

/** Every extension Lark imports. */
export const IMPORT_EXTENSIONS = Object.keys(IMPORTS) as ImportExtension[];

/** The types Lark makes of this extension, its default first. */
export function importTypes(extension: ImportExtension): ImportType[] {
  return Object.keys(IMPORTS[extension]) as ImportType[];
}

/** The largest file of this extension Lark imports as `type`; undefined when it does not import it as that type. */
export function importMaxBytes(extension: ImportExtension, type: ImportType): number | undefined {
  return (IMPORTS[extension] as Partial<Record<ImportType, number>>)[type];
}

/**
 * The upload of an import's source: media of parent type ccm_import_open, with no parent node (Lark: "no need to
 * fill") and the target in `extra`. Lark deletes it once imported, and it is importable for 5 minutes.
 */
export function importSource(file: { name: string; size: number; extension: ImportExtension; type: ImportType }) {
  return {
    name: file.name,
    parentType: "ccm_import_open",
    parentNode: "",
    size: file.size,
    extra: JSON.stringify({ obj_type: file.type, file_extension: file.extension }),
  } satisfies LarkFile;
}

export interface ImportTask {
  /** The source's file token (importSource, uploaded less than 5 minutes ago). */
  fileToken: string;
  /** As the source's upload declared it: Lark refuses another (1069910). */
  extension: ImportExtension;
  type: ImportType;
  /** The new document's title; Lark's default is the source's name without its extension. */
  title?: string;
  /** Where the document goes; "" is the app's root folder. */
  folderToken: string;
}

export type ImportResult =
  | { status: "pending" }
  | { status: "done"; token: string; url: string; type: ImportType; warnings: number[] }
  /** `transient`: Lark's own fault (internal error, timeout, a copy in progress), worth importing again later. */
  | { status: "failed"; jobStatus: number; message: string; transient: boolean };

/** job_status while the job runs: 1 initialising, 2 processing. */
const RUNNING = new Set([1, 2]);
const SUCCESS = 0;
/**
 * The failed statuses that are Lark's: internal errors (3, 101, 102, 103, 106, 109, 114, 5000), processing timed out
 * (108), a copy of the document in progress (122). Every other one (encrypted, too large, unsupported, no
 * permission, folder gone or full, storage, too many blocks…) needs the user, and so does a status Lark has not
 * documented: the object shows its message rather than being imported again and again.
 */
const TRANSIENT_JOB_STATUSES = new Set([3, 101, 102, 103, 106, 108, 109, 114, 122, 5000]);
/** Lark mounts imports in a Drive folder; it knows no other mount_type. */
const DRIVE_MOUNT = 1;

export class LarkImports {
  constructor(
    private readonly client: LarkClient,
    private readonly limits: LarkLimits,
  ) {}

  /** Creates the import task; answers its ticket. */
  async createTask(task: ImportTask, retry: RetryOptions, counter?: CallCounter): Promise<string> {
    const request = jsonRequest("POST", IMPORT_TASKS, {
      body: {
        file_extension: task.extension,
        file_token: task.fileToken,
        type: task.type,
        file_name: task.title || undefined, // no title: Lark's default, not an empty one
        point: { mount_type: DRIVE_MOUNT, mount_key: task.folderToken },
      },
    });
    const body = await this.call(request, [this.limits.importCreate()], retry, counter);
    const ticket = body.data?.ticket;
    if (typeof ticket !== "string" || !ticket) {
      throw new TransientError(`create import task: Lark answered success without a ticket`);
    }
    return ticket;
  }

  /** Where the task is: still running, done (the new document), or failed. */
  async result(ticket: string, retry: RetryOptions, counter?: CallCounter): Promise<ImportResult> {
    const request = jsonRequest("GET", `${IMPORT_TASKS}/${encodeURIComponent(ticket)}`);
    const body = await this.call(request, this.limits.importRead(), retry, counter);
    return resultOf(body.data?.result as ResultJson | undefined);
  }

  private call(request: LarkRequest, pacers: readonly Pacing[], retry: RetryOptions, counter?: CallCounter) {
    return this.client.call(request.path, () => request, { pacers, retry, counter });
  }
}

interface ResultJson {
  job_status?: unknown;
  job_error_msg?: unknown;
  token?: unknown;
  url?: unknown;
  type?: unknown;
  extra?: unknown;
}

function resultOf(result: ResultJson | undefined): ImportResult {
  const { job_status: jobStatus, token, url, type } = result ?? {};
  if (!Number.isInteger(jobStatus)) {
    throw new TransientError(`import task: Lark answered success without a job_status: ${JSON.stringify(result)}`);
  }
  const status = jobStatus as number;
  // Lark may report success before the document's token exists: its own client keeps waiting then.
  if (RUNNING.has(status) || (status === SUCCESS && !token)) return { status: "pending" };
  if (status !== SUCCESS) {
    const message = typeof result?.job_error_msg === "string" ? result.job_error_msg : "";
    return { status: "failed", jobStatus: status, message, transient: TRANSIENT_JOB_STATUSES.has(status) };
  }
  if (typeof token !== "string" || typeof url !== "string" || !url || !isImportType(type)) {
    throw new TransientError(`import task: Lark answered a success without the document: ${JSON.stringify(result)}`);
  }
  return { status: "done", token, url, type, warnings: warningsOf(result?.extra) };
}

const isImportType = (value: unknown): value is ImportType =>
  value === "docx" || value === "sheet" || value === "bitable";

/** `extra` lists what a successful import left out (truncated columns, dropped images…) as codes in strings. */
function warningsOf(extra: unknown): number[] {
  if (!Array.isArray(extra)) return [];
  return extra.map(Number).filter(Number.isInteger);
}

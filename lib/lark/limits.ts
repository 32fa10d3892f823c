/**
 * Every rate and concurrency rule of Lark's that the function must keep, declared once, with the pacer
 * that keeps each. One LarkLimits per process: every call under a rule, from any invocation, shares its pacer.
 *
 * - Media and Drive file uploads (upload_all, upload_prepare / upload_part / upload_finish of the medias and the
 *   files APIs): 5 calls a second per app, and no two at once (Lark's upload_all references: "不支持并发调用，且调用
 *   频率上限为 5 QPS"); one rule for both APIs, which Lark states alike, and writes into a folder never overlap.
 * - docx writes (create block children, update a block, batch delete children): 3 requests a second per app for
 *   each of them (HTTP 400 + 99991400), and 3 edits a second per document across all of them (HTTP 429 +
 *   99991400) (Lark's create / update / batch-delete block references, "单篇文档并发编辑上限为每秒 3 次"). We also
 *   make a document's edits one at a time: they change one tree, and Lark says no more than that they are limited.
 * - docx reads (get a document, get a block): 5 requests a second per app for each (Lark's get-block reference).
 * - Base (bitable) record writes (create, update, delete a record): 50 requests a second per app for each (Lark's
 *   record references), kept as one budget for the three, the stricter reading; and no two writes at once in one
 *   table (1254291 "同一个数据表不支持并发调用写接口").
 * - Sheets floating images (create, get): 100 requests a minute per app (Lark's create-float-image reference);
 *   one budget for both, the stricter reading.
 * - Import tasks: creating one, 100 requests a minute per app (HTTP 429 + 1069923); reading one, 1000 a minute and
 *   50 a second per app (Lark's create / get import task references).
 * - Permission members: granting one, 100 requests a minute per app (Lark's add-collaborator reference).
 *
 * A call under several rules holds a slot of each (see LarkClient.call). Callers list them narrowest first (the
 * document or table, then the app), so a call waiting on a busy document holds no app-wide slot meanwhile; as
 * nothing waits while holding an app-wide slot, no two calls can wait on each other.
 */
import { Pacer, PacerPerKey, type Pacing } from "./pacer";

const SECOND = 1000;
const MINUTE = 60 * SECOND;
export const MEDIA_UPLOADS_PER_SECOND = 5;

/** The docx endpoints that edit a document. */
export type DocxWrite = "createChildren" | "patchBlock" | "batchDelete";
/** The docx endpoints that read one. */
export type DocxRead = "getDocument" | "getBlock";

export interface LimitsOptions {
  /** Upload calls per second, up to Lark's 5: lower it to leave room for other callers of the same app. */
  uploadsPerSecond?: number;
  /**
   * Shrinks every window by this factor, for an emulator that runs Lark's limits at the same scale (tests
   * and the benchmark). Never set in production: the configuration has no setting for it.
   */
  timeScale?: number;
}

export class LarkLimits {
  readonly media: Pacer;
  private readonly docxWrites: Record<DocxWrite, Pacer>;
  private readonly docxReads: Record<DocxRead, Pacer>;
  private readonly documentEdits: PacerPerKey;
  private readonly recordWrites: Pacer;
  private readonly tableWrites: PacerPerKey;
  private readonly floatImageCalls: Pacer;
  private readonly importCreates: Pacer;
  private readonly importReads: readonly Pacer[];
  private readonly memberGrants: Pacer;

  constructor(opts: LimitsOptions = {}) {
    const scale = opts.timeScale ?? 1;
    const rate = (perWindow: number, windowMs: number) => ({
      perWindow,
      windowMs: windowMs * scale,
      oneAtATime: false,
    });
    this.media = new Pacer(mediaPace(opts.uploadsPerSecond ?? MEDIA_UPLOADS_PER_SECOND, scale));
    const docxWrite = () => new Pacer(rate(3, SECOND));
    this.docxWrites = { createChildren: docxWrite(), patchBlock: docxWrite(), batchDelete: docxWrite() };
    this.docxReads = { getDocument: new Pacer(rate(5, SECOND)), getBlock: new Pacer(rate(5, SECOND)) };
    this.documentEdits = new PacerPerKey({ ...rate(3, SECOND), oneAtATime: true });
    this.recordWrites = new Pacer(rate(50, SECOND));
    this.tableWrites = new PacerPerKey({ perWindow: Infinity, windowMs: 0, oneAtATime: true });
    this.floatImageCalls = new Pacer(rate(100, MINUTE));
    this.importCreates = new Pacer(rate(100, MINUTE));
    this.importReads = [new Pacer(rate(1000, MINUTE)), new Pacer(rate(50, SECOND))];
    this.memberGrants = new Pacer(rate(100, MINUTE));
  }

  /** The per-app rule of a docx endpoint that edits. */
  docxWrite(endpoint: DocxWrite): Pacing {
    return this.docxWrites[endpoint];
  }

  /** The per-document rule every edit of `documentId` falls under, whatever the endpoint. */
  documentEdit(documentId: string): Pacing {
    return this.documentEdits.for(documentId);
  }

  docxRead(endpoint: DocxRead): Pacing {
    return this.docxReads[endpoint];
  }

  /** The per-app rule of record writes. */
  recordWrite(): Pacing {
    return this.recordWrites;
  }

  /** The rule that keeps a table's writes one at a time. */
  tableWrite(appToken: string, tableId: string): Pacing {
    return this.tableWrites.for(`${appToken}/${tableId}`);
  }

  floatImages(): Pacing {
    return this.floatImageCalls;
  }

  importCreate(): Pacing {
    return this.importCreates;
  }

  /**
   * The two rules of reading an import task, the minute's first: a call waiting on the second's window holds one
   * of the minute's slots, which it is about to use anyway.
   */
  importRead(): readonly Pacing[] {
    return this.importReads;
  }

  permissionGrant(): Pacing {
    return this.memberGrants;
  }
}

/** The media rule at a given rate and time scale: a lower rate keeps the window and shrinks the burst. */
export function mediaPace(uploadsPerSecond: number, timeScale = 1): { perWindow: number; windowMs: number } {
  return { perWindow: Math.min(MEDIA_UPLOADS_PER_SECOND, uploadsPerSecond), windowMs: SECOND * timeScale };
}

/**
 * Making an uploaded file visible where its target says, one module per kind of target. Each flow is a few
 * idempotent Lark steps around the upload, written so that a retry after a crash between any two of them ends
 * with one block, one record, one floating image, one document or one Drive file, holding the token written back.
 */
import { META_FILE_TOKEN, META_TARGET, type Placement } from "../contract";
import type { ImageSize } from "../image-info";
import type { LarkBitable } from "../lark/bitable";
import type { CallCounter } from "../lark/client";
import type { LarkDocx } from "../lark/docx";
import type { LarkImports } from "../lark/imports";
import type { DriveFile, LarkFile } from "../lark/media";
import type { LarkPermissions, Member, Perm } from "../lark/permissions";
import type { LarkSheets } from "../lark/sheets";
import type { RetryOptions } from "../retry";
import { mediaFile, type Target } from "../target";
import { placeInBase } from "./base";
import { placeInDocument } from "./docx";
import { placeInFolder } from "./folder";
import { importDocument } from "./import";
import { placeInSheet } from "./sheet";

/** The Lark APIs a placement uses beyond the upload itself. */
export interface PlacementApis {
  docx: LarkDocx;
  bitable: LarkBitable;
  sheets: LarkSheets;
  imports: LarkImports;
  permissions: LarkPermissions;
}

export interface Uploaded {
  fileToken: string;
  /** The image's own size, read from its header, when the caller asked for it and the header says it. */
  imageSize?: ImageSize;
}

/** One object's placement at one target: what a flow needs besides the Lark APIs. */
export interface PlacementJob<T extends Target = Target> {
  target: T;
  /**
   * Names this placement of this content: the same object version placed at the same target gives the same
   * seed, so a retry sends the same idempotency keys and finds what an earlier attempt made.
   */
  seed: string;
  retry: RetryOptions;
  counter: CallCounter;
  /** Uploads the object's bytes as `file` (each call reads them again): media, or a Drive file with `api: "files"`. */
  upload(file: LarkFile | DriveFile, opts?: { imageSize?: boolean }): Promise<Uploaded>;
  /** Who gets access to what the app creates (imported documents, Drive files). */
  sharing: { members: Member[]; perm: Perm };
  onShareFailure(failure: { member: string; error: Error }): void;
  /** An import job started by an earlier attempt, to be polled instead of importing again. */
  ticket?: string;
  /** Keeps an import job's ticket on the object for the next attempt; dropTicket forgets it. */
  parkTicket(ticket: string): Promise<void>;
  dropTicket(): Promise<void>;
  onImportWarnings(codes: number[]): void;
}

export async function place(apis: PlacementApis, job: PlacementJob): Promise<Placement> {
  const { target } = job;
  switch (target.kind) {
    case "media": {
      const { fileToken } = await job.upload(mediaFile(target));
      return { [META_FILE_TOKEN]: fileToken, [META_TARGET]: target.target };
    }
    case "docx":
      return placeInDocument(apis.docx, { ...job, target });
    case "base":
      return placeInBase(apis.bitable, { ...job, target });
    case "sheet":
      return placeInSheet(apis.sheets, { ...job, target });
    case "import":
      return importDocument(apis, { ...job, target });
    case "folder":
      return placeInFolder(apis, { ...job, target });
  }
}

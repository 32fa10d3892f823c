// The files media and Drive uploads received, findable by token: the placement families check where a token was
// uploaded to before they let it into a block, a record or a sheet.

import type { CheckedMeta } from "./uploads";

export interface ReceivedFile {
  fileToken: string;
  fileName: string;
  parentType: string;
  parentNode: string;
  /** `extra.drive_route_token`: the document (or base, spreadsheet) the upload says it is for. */
  driveRouteToken?: string;
  size: number;
  checksum?: string;
  extra?: string;
  sha256: string;
  adler32: string;
  route: "upload_all" | "chunked";
  receivedAt: number;
  bytes?: Buffer;
}

export class FileStore {
  /** In arrival order; the same array for the emulator's lifetime. */
  readonly list: ReceivedFile[] = [];
  private readonly byToken = new Map<string, ReceivedFile>();

  add(file: ReceivedFile): void {
    this.list.push(file);
    this.byToken.set(file.fileToken, file);
  }

  get(token: string): ReceivedFile | undefined {
    return this.byToken.get(token);
  }

  clear(): void {
    this.list.length = 0;
    this.byToken.clear();
  }
}

/** A media upload's parent, as the family that owns its parent type judges it. */
export interface UploadTarget {
  /** False while the family holds no fixture: its parent types then take any node, as before it was modelled. */
  modelled(): boolean;
  /** The media code refusing an upload into `node` ("" when none was given), or undefined when it is taken. */
  refuse(node: string, upload: CheckedMeta): number | undefined;
  /** The parent node may be absent or empty (ccm_import_open). */
  nodeOptional?: boolean;
}

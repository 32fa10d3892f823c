// What an API family module gets from the emulator and gives back to it.

import type { FileStore, UploadTarget } from "./files";
import type { Limits } from "./limits";
import type { Route } from "./server";

export interface FamilyContext {
  limits: Limits;
  files: FileStore;
  /** The emulator's base URL, for URLs Lark puts in its answers. */
  origin(): string;
  /** The tenant's web origin (https://<tenant>.larksuite.com), for the URLs of documents and files. */
  tenantUrl: string;
  /** Multiplies every duration the emulator models (rate windows, import jobs, the import window). */
  timeScale: number;
}

export interface Family {
  routes: Route[];
  /** Media parent types whose parent nodes this family owns (docx_image → a block of one of its documents…). */
  uploadTargets?: Record<string, UploadTarget>;
  /** Forget every fixture and everything the API did to them. */
  reset(): void;
  /** The family's state as JSON for GET /__emulator/state (no bytes). */
  snapshot(): unknown;
}

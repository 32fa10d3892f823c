// drive/v1/files uploads: upload_all and the chunked upload_prepare | upload_part | upload_finish (the flow of
// uploads.ts, sharing its admission with the media uploads) into a Drive folder: parent_type "explorer",
// parent_node a folder token. The file becomes an item of the folder and a received file (emulator.files).
//
// Chosen where Lark's documentation is silent:
// - parent_type: only "explorer" (the SDK also lists "wiki", not modelled: 1061002). parent_node is required; ""
//   means the app's root folder, as the official CLI uses it.
// - Folders: unknown 1061044, removed 1061041, read-only 1061004, full 1062507 (drive-folders.ts).
// - This API has no `extra`: a part of that name is ignored.

import type { FolderState, Folders } from "./drive-folders";
import type { FamilyContext } from "./family";
import type { Limit } from "./limits";
import { newFileToken } from "./media";
import type { Route } from "./server";
import { createUploadFlow, PARAMS_ERROR, type UploadStep, uploadRoutes } from "./uploads";

export type DriveFilesEndpoint =
  | "drive.file.uploadAll"
  | "drive.file.uploadPrepare"
  | "drive.file.uploadPart"
  | "drive.file.uploadFinish";

const ENDPOINTS: Record<UploadStep, DriveFilesEndpoint> = {
  upload_all: "drive.file.uploadAll",
  upload_prepare: "drive.file.uploadPrepare",
  upload_part: "drive.file.uploadPart",
  upload_finish: "drive.file.uploadFinish",
};

const REFUSALS: Record<Exclude<FolderState, "writable">, number> = {
  unknown: 1061044,
  removed: 1061041,
  "read-only": 1061004,
  full: 1062507,
};

/** No state of its own: received files are the media family's (FileStore), items the folders'. */
export interface DriveFiles {
  routes: Route[];
  expireUploadIds(): void;
}

export function createDriveFiles(
  family: FamilyContext,
  folders: Folders,
  opts: { keepBytes: boolean; admission: () => Limit[] },
): DriveFiles {
  const flow = createUploadFlow(
    {
      hasExtra: false,
      parentError: (parentType, parentNode) =>
        parentType !== "explorer" || parentNode === undefined ? PARAMS_ERROR : undefined,
      nodeError(meta) {
        const state = folders.stateOf(folders.resolve(meta.parentNode));
        return state === "writable" ? undefined : REFUSALS[state];
      },
      record(file) {
        const fileToken = newFileToken();
        const parentNode = folders.resolve(file.parentNode);
        family.files.add({ ...file, parentNode, fileToken, receivedAt: Date.now() });
        folders.place(parentNode, { token: fileToken, name: file.fileName, type: "file" });
        return fileToken;
      },
    },
    { keepBytes: opts.keepBytes },
  );

  return {
    routes: uploadRoutes("files", flow, (step) => ENDPOINTS[step], opts.admission),
    expireUploadIds: flow.expireUploadIds,
  };
}

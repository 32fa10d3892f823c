// drive/v1/medias: upload_all and the chunked upload_prepare | upload_part | upload_finish (the flow of uploads.ts)
// into the parent types of Lark's upload_all reference.
//
// Chosen where Lark's documentation is silent:
// - Parent nodes: a node deleted with deleteParentNode is 1061041. A parent type a family owns (its upload
//   targets) is judged by that family once it holds a fixture, as its header says. Every other node is
//   accepted, unless knownParentNodes is given and does not list it (1061044).
// - A parent node is required (1061002 when absent or empty) unless the family owning the type says it is not
//   (ccm_import_open: "no need to fill").
// - extra.drive_route_token is recorded, not judged here: binding the token (replace_image…) checks it.

import type { Family, FamilyContext } from "./family";
import type { ReceivedFile, UploadTarget } from "./files";
import { randomAlnum } from "./ids";
import type { Limit } from "./limits";
import { type CheckedMeta, createUploadFlow, PARAMS_ERROR, type UploadStep, uploadRoutes } from "./uploads";

export type MediaEndpoint = UploadStep;

const PARENT_TYPES = new Set([
  "doc_image",
  "docx_image",
  "sheet_image",
  "doc_file",
  "docx_file",
  "sheet_file",
  "vc_virtual_background",
  "bitable_image",
  "bitable_file",
  "moments",
  "ccm_import_open",
]);

export const newFileToken = () => `boxcn${randomAlnum(22)}`; // shaped like Lark's drive tokens

/** `drive_route_token` of an upload's `extra` (already known to be a JSON object when present). */
function driveRouteOf(extra: string | undefined): string | undefined {
  const token = extra === undefined ? undefined : JSON.parse(extra).drive_route_token;
  return typeof token === "string" ? token : undefined;
}

export interface MediaOptions {
  keepBytes: boolean;
  knownParentNodes?: string[];
  /** The families' own parent types: their nodes are judged by the family, not by `knownParentNodes`. */
  targets: Record<string, UploadTarget>;
  /** The limits shared with the Drive file uploads. */
  admission: () => Limit[];
}

export interface Media extends Family {
  snapshot(): Omit<ReceivedFile, "bytes">[];
  deleteParentNode(node: string): void;
  expireUploadIds(): void;
}

export function createMedia(family: FamilyContext, opts: MediaOptions): Media {
  const known = opts.knownParentNodes ? new Set(opts.knownParentNodes) : undefined;
  const deletedNodes = new Set<string>();

  function parentError(parentType: string, parentNode: string | undefined): number | undefined {
    if (!PARENT_TYPES.has(parentType)) return PARAMS_ERROR;
    const nodeless = parentNode === undefined || parentNode === "";
    return nodeless && !opts.targets[parentType]?.nodeOptional ? PARAMS_ERROR : undefined;
  }

  function nodeError(meta: CheckedMeta): number | undefined {
    if (deletedNodes.has(meta.parentNode)) return 1061041;
    const target = opts.targets[meta.parentType];
    if (target?.modelled()) return target.refuse(meta.parentNode, meta);
    if (known && !known.has(meta.parentNode)) return 1061044;
    return undefined;
  }

  const flow = createUploadFlow(
    {
      hasExtra: true,
      parentError,
      nodeError,
      record(file) {
        const fileToken = newFileToken();
        family.files.add({ ...file, fileToken, driveRouteToken: driveRouteOf(file.extra), receivedAt: Date.now() });
        return fileToken;
      },
    },
    { keepBytes: opts.keepBytes },
  );

  return {
    routes: uploadRoutes("medias", flow, (step) => step, opts.admission),
    deleteParentNode: (node) => void deletedNodes.add(node),
    expireUploadIds: flow.expireUploadIds,
    // Upload ids, deleted nodes and tokens outlive a reset: a client mid-flow keeps going.
    reset: () => family.files.clear(),
    snapshot: () => family.files.list.map(({ bytes: _bytes, ...rest }) => rest),
  };
}

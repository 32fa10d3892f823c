/**
 * What the user sees on an S3 object, in one place: the tags the function reads and writes, the user
 * metadata it writes back, the stable codes of its refusals and the reasons it skips an object. The
 * README's tables, the local tools and the tests name things through these constants.
 */
import { createHash } from "node:crypto";

/**
 * Where the file becomes visible in Lark: `docx:<document_id>`, `base:<app_token>/<table_id>`,
 * `sheet:<spreadsheet_token>/<sheet_id>/<cell>`, `import:<folder_token>` (or `import:` for the app's root
 * folder) or `folder:<folder_token>`. Takes precedence over lark-parent-type / lark-parent-node.
 */
export const TAG_TARGET = "lark-target";
/** For a `base:` target: the attachment field's name (default: LARK_BASE_ATTACHMENT_FIELD, else "Attachment"). */
export const TAG_BASE_FIELD = "lark-base-field";
/** For an `import:` target: the kind of document to make (`docx`, `sheet`, `bitable`), when Lark allows several. */
export const TAG_IMPORT_AS = "lark-import-as";
/** Where the file goes in Lark: upload_all's `parent_type`. */
export const TAG_PARENT_TYPE = "lark-parent-type";
/** Where the file goes in Lark: upload_all's `parent_node`. */
export const TAG_PARENT_NODE = "lark-parent-node";
/** The file's name in Lark (default: the key's last segment). */
export const TAG_FILE_NAME = "lark-file-name";
/** Sent as upload_all's `extra` = {"drive_route_token": …} (media inside a document). */
export const TAG_ROUTE_TOKEN = "lark-drive-route-token";
/** Written by the function when it refuses the object: `<code>: <reason>`. */
export const TAG_ERROR = "lark-upload-error";
/**
 * Written by the function only when Lark took the file but the metadata write failed: the metadata still to
 * be written, as `key=value` pairs separated by spaces. The retry writes it without uploading again, and
 * removes the tag.
 */
export const TAG_PENDING_METADATA = "lark-pending-metadata";
/**
 * Written by the function while a Lark import job it started is still running when the invocation must stop:
 * the retry (or a backfill) polls that job instead of importing again. Removed once the document is written back.
 */
export const TAG_IMPORT_TICKET = "lark-import-ticket";

/** User metadata: Lark's file_token. */
export const META_FILE_TOKEN = "lark-file-token";
/**
 * User metadata: where the file was placed, `<parent_type>:<parent_node>`. Tags that later name another
 * destination make it a new destination: the file is uploaded there too.
 */
export const META_TARGET = "lark-target";
/** User metadata, docx targets: the block that holds the file (the Image block, or the File block). */
export const META_BLOCK_ID = "lark-block-id";
/** User metadata, base targets: the record whose attachment field holds the file. */
export const META_RECORD_ID = "lark-record-id";
/** User metadata, sheet targets: the floating image that shows the file. */
export const META_FLOAT_IMAGE_ID = "lark-float-image-id";
/** User metadata, import targets: the kind of document Lark made (`docx`, `sheet`, `bitable`). */
export const META_DOC_TYPE = "lark-doc-type";
/** User metadata, import targets: the new document's URL. */
export const META_URL = "lark-url";
/**
 * User metadata: which object the token was written for (a hash of bucket and key). A copy of an uploaded
 * object to another key keeps the metadata, but it is a new file for Lark and goes where its own tags say.
 */
export const META_FILE_ORIGIN = "lark-file-origin";

/** The tags the function writes for itself; everything else on an object is the user's. */
const OWN_TAGS = [TAG_ERROR, TAG_PENDING_METADATA, TAG_IMPORT_TICKET];
/** The metadata the function writes; a new placement replaces all of it. */
const OWN_METADATA = [
  META_FILE_TOKEN,
  META_FILE_ORIGIN,
  META_TARGET,
  META_BLOCK_ID,
  META_RECORD_ID,
  META_FLOAT_IMAGE_ID,
  META_DOC_TYPE,
  META_URL,
];

/** S3 allows 10 tags per object. */
export const MAX_TAGS = 10;
/** S3 limits user metadata to 2 KB (keys and values, UTF-8). */
export const MAX_METADATA_BYTES = 2048;
/** S3 tag values: up to 256 characters from letters, digits, spaces and `_ . : / = + - @`. */
const MAX_TAG_VALUE_CHARS = 256;

export type Tags = Record<string, string>;

/** Stable codes at the start of a `lark-upload-error` tag value. */
export type RejectionCode =
  | "too-large"
  | "empty-file"
  | "missing-parent"
  | "invalid-parent-type"
  | "invalid-file-name"
  | "archived-object"
  | "metadata-too-large"
  | "invalid-target"
  | "not-an-image"
  | "unsupported-import-type"
  | "too-many-tags"
  | `lark-${number}`
  | `lark-import-${number}`;

/** Why an object needed nothing done. */
export type SkipReason =
  | "already-uploaded"
  | "stale-event"
  | "gone"
  | "folder-marker"
  | "overwritten-during-upload"
  | "error-tagged"
  /** The event is not about a new file (a deletion, an ACL, a lifecycle change…): nothing to do. */
  | "not-a-new-file";

/** What the function writes back for a file it placed: its token and where it went (the origin aside). */
export interface Placement {
  [META_FILE_TOKEN]: string;
  [META_TARGET]?: string;
  [key: string]: string | undefined;
}

/** The tags minus the ones this function writes for itself (an error, a token waiting for its copy). */
export function userTags(tags: Tags): Tags {
  return Object.fromEntries(Object.entries(tags).filter(([key]) => !OWN_TAGS.includes(key)));
}

/** The user metadata minus what this function wrote there. */
export function userMetadata(metadata: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(metadata).filter(([key]) => !OWN_METADATA.includes(key)));
}

/** The `lark-upload-error` value: the code, then the reason reduced to what a tag value allows. */
export function errorTagValue(refusal: { code: RejectionCode; reason: string }): string {
  const reason = refusal.reason
    .replace(/[^\p{L}\p{N}\p{Zs}_.:/=+\-@]/gu, " ")
    .replace(/\s+/g, " ")
    .trim();
  return `${refusal.code}: ${reason}`.slice(0, MAX_TAG_VALUE_CHARS).trim();
}

export function originOf(at: { bucket: string; key: string }): string {
  return createHash("sha256").update(`${at.bucket}/${at.key}`).digest("hex").slice(0, 32);
}

/** The metadata the function adds; ASCII, as S3 metadata must be. */
export function placementMetadata(at: { bucket: string; key: string }, placement: Placement): Record<string, string> {
  const written = Object.entries(placement).filter((pair): pair is [string, string] => pair[1] !== undefined);
  return { ...Object.fromEntries(written), [META_FILE_ORIGIN]: originOf(at) };
}

/** The `lark-pending-metadata` value for a placement: its values are Lark ids, which tag values allow. */
export function pendingValue(placement: Placement): string {
  return Object.entries(placement)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${key}=${value}`)
    .join(" ");
}

/** The `lark-import-ticket` value: the job's ticket, and the target it imports into. */
export function ticketValue(ticket: string, target: string): string {
  return `${ticket} ${target}`;
}

/** The ticket a `lark-import-ticket` tag holds for this target; undefined for another target's job. */
export function ticketFor(value: string | undefined, target: string): string | undefined {
  const [ticket, parkedFor] = (value ?? "").split(" ");
  return ticket && parkedFor === target ? ticket : undefined;
}

/** The placement a `lark-pending-metadata` tag holds; undefined when it holds no token. */
export function placementOf(pending: string | undefined): Placement | undefined {
  if (!pending) return undefined;
  const pairs = pending.split(" ").map((pair) => [pair.slice(0, pair.indexOf("=")), pair.slice(pair.indexOf("=") + 1)]);
  const placement = Object.fromEntries(pairs.filter(([key]) => key)) as Partial<Placement>;
  return placement[META_FILE_TOKEN] ? (placement as Placement) : undefined;
}

/** Bytes S3 counts against the 2 KB user-metadata limit. */
export function metadataBytes(metadata: Record<string, string>): number {
  return Object.entries(metadata).reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0);
}

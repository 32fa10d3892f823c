/** The `parent_type` values the upload_all reference lists; anything else is refused before upload. */
export const PARENT_TYPES = [
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
] as const;

export type ParentType = (typeof PARENT_TYPES)[number];

export function isParentType(value: string): value is ParentType {
  return (PARENT_TYPES as readonly string[]).includes(value);
}

/**
 * The parent type of a Drive file (files/upload_all): a folder, parent_node being its token. Apart from the media
 * ones: a Drive file is uploaded through its own API, never chosen as a media parent type.
 */
export const DRIVE_FOLDER = "explorer";
export type DriveParentType = typeof DRIVE_FOLDER;

/** upload_all's ceiling (the `size` field's documented maximum). */
export const UPLOAD_ALL_MAX_BYTES = 20 * 1024 * 1024;

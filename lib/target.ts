/**
 * Where a file goes in Lark and under which name, from the object's tags or the configured defaults.
 * Precedence: tag `lark-target`, then tags `lark-parent-type` / `lark-parent-node`, then LARK_DEFAULT_TARGET,
 * then LARK_DEFAULT_PARENT_*. Everything Lark would refuse about the destination is refused here, before any
 * download or Lark call.
 */
import {
  TAG_BASE_FIELD,
  TAG_FILE_NAME,
  TAG_IMPORT_AS,
  TAG_PARENT_NODE,
  TAG_PARENT_TYPE,
  TAG_ROUTE_TOKEN,
  TAG_TARGET,
  type Tags,
} from "./contract";
import { RejectionError } from "./errors";
import { type ImageFormat, imageFormat } from "./image-info";
import {
  IMPORT_EXTENSIONS,
  type ImportExtension,
  type ImportType,
  importExtensionOf,
  importTypes,
} from "./lark/imports";
import type { LarkFile } from "./lark/media";
import { isParentType, PARENT_TYPES, type ParentType } from "./lark/parent-types";

const MAX_NAME_CHARS = 250;

/** Where a target points, parsed from its `lark-target` form; no file in it yet. */
export type Destination =
  /** upload_all's own parent: the file is uploaded there and nothing else (lark-parent-type / -node). */
  | { kind: "media"; parentType: ParentType; parentNode: string }
  | { kind: "docx"; documentId: string }
  | { kind: "base"; appToken: string; tableId: string }
  | { kind: "sheet"; spreadsheetToken: string; sheetId: string; cell: string }
  /** A native document made by Lark's import, in this folder ("" is the app's root folder). */
  | { kind: "import"; folderToken: string }
  /** A Drive file in this folder. */
  | { kind: "folder"; folderToken: string };

/** Where a file goes, resolved for one object. */
export type Target = Destination & {
  /** The file's name in Lark. */
  name: string;
  size: number;
  /** `docx:<id>`, `base:<app>/<table>`, `sheet:<token>/<sheet>/<cell>`, or `<parent_type>:<parent_node>`: written back in `lark-target`. */
  target: string;
  /** Whether the object's own tags said so (else a configured default did). */
  tagged: boolean;
  /** The image format when the file is one of the images Lark shows as images. */
  image?: ImageFormat;
  /** For a `base:` target: the attachment field's name. */
  field?: string;
  /** For a media target: sent as upload_all's `extra`. */
  extra?: string;
  /** For an `import:` target: what Lark makes of the file, from which extension, under which title. */
  import?: { type: ImportType; extension: ImportExtension; title: string };
};

export interface TargetDefaults {
  target?: Destination;
  parent?: { type: ParentType; node: string };
  baseField: string;
}

/** Whether the object's tags name a destination at all (else a default applies). */
export function namesDestination(tags: Tags): boolean {
  return Boolean(tags[TAG_TARGET]?.trim() || tags[TAG_PARENT_TYPE]?.trim() || tags[TAG_PARENT_NODE]?.trim());
}

const ID = "[A-Za-z0-9_-]+";
const FORMS: [RegExp, (m: RegExpExecArray) => Destination][] = [
  [new RegExp(`^docx:(${ID})$`), (m) => ({ kind: "docx", documentId: m[1]! })],
  [new RegExp(`^base:(${ID})/(${ID})$`), (m) => ({ kind: "base", appToken: m[1]!, tableId: m[2]! })],
  [
    new RegExp(`^sheet:(${ID})/(${ID})/([A-Za-z]{1,3}[1-9][0-9]{0,6})$`),
    (m) => ({ kind: "sheet", spreadsheetToken: m[1]!, sheetId: m[2]!, cell: m[3]!.toUpperCase() }),
  ],
  [new RegExp(`^import:(${ID})?$`), (m) => ({ kind: "import", folderToken: m[1] ?? "" })],
  [new RegExp(`^folder:(${ID})$`), (m) => ({ kind: "folder", folderToken: m[1]! })],
];

/** A `lark-target` value (or LARK_DEFAULT_TARGET) parsed; RejectionError `invalid-target` when it does not parse. */
export function parseDestination(value: string): Destination {
  const trimmed = value.trim();
  for (const [form, build] of FORMS) {
    const m = form.exec(trimmed);
    if (m) return build(m);
  }
  throw new RejectionError(
    `"${trimmed}" is not docx:<document_id> or base:<app_token>/<table_id> or sheet:<spreadsheet_token>/<sheet_id>/<cell> or import:<folder_token> or folder:<folder_token>`,
    { code: "invalid-target" },
  );
}

/** How a destination is written back in `lark-target`. */
export function destinationText(d: Destination): string {
  switch (d.kind) {
    case "media":
      return `${d.parentType}:${d.parentNode}`;
    case "docx":
      return `docx:${d.documentId}`;
    case "base":
      return `base:${d.appToken}/${d.tableId}`;
    case "sheet":
      return `sheet:${d.spreadsheetToken}/${d.sheetId}/${d.cell}`;
    case "import":
      return `import:${d.folderToken}`;
    case "folder":
      return `folder:${d.folderToken}`;
  }
}

export interface TargetInput {
  key: string;
  size: number;
  contentType?: string;
  tags: Tags;
  defaults: TargetDefaults;
}

export function resolveTarget({ key, size, contentType, tags, defaults }: TargetInput): Target {
  const tagged = namesDestination(tags);
  const destination = tagged ? taggedDestination(tags) : defaultDestination(defaults);
  const name = fileName(tags[TAG_FILE_NAME] ?? key.slice(key.lastIndexOf("/") + 1));
  const image = imageFormat(contentType, name);
  const target: Target = { ...destination, name, size, target: destinationText(destination), tagged, image };
  switch (destination.kind) {
    case "media": {
      const route = tags[TAG_ROUTE_TOKEN]?.trim();
      if (route) target.extra = JSON.stringify({ drive_route_token: route });
      break;
    }
    case "base":
      target.field = tags[TAG_BASE_FIELD]?.trim() || defaults.baseField;
      break;
    case "sheet":
      if (!image) {
        throw new RejectionError(
          `a sheet shows images only (PNG, JPEG, GIF, WebP, BMP by Content-Type or extension); ${name} is not one`,
          { code: "not-an-image" },
        );
      }
      break;
    case "import":
      target.import = importOf(key, name, tags[TAG_FILE_NAME], tags[TAG_IMPORT_AS]);
      break;
  }
  return target;
}

/**
 * What Lark's import makes of the file: the type follows the extension (the key's, else the given name's),
 * or the `lark-import-as` tag among the types Lark allows for it. The title is the name as given, or the key's
 * name without its extension.
 */
function importOf(key: string, name: string, givenName: string | undefined, importAs: string | undefined) {
  const keyName = key.slice(key.lastIndexOf("/") + 1);
  const named = extensionOf(keyName) ?? extensionOf(name);
  const extension = importExtensionOf(keyName) ?? importExtensionOf(name);
  if (!extension) {
    throw new RejectionError(
      `Lark imports ${IMPORT_EXTENSIONS.join(" ")} files; ${named ? `.${named}` : "a file without an extension"} is not one`,
      { code: "unsupported-import-type" },
    );
  }
  const allowed = importTypes(extension);
  const wanted = importAs?.trim().toLowerCase();
  const type = wanted ? allowed.find((t) => t === wanted) : allowed[0];
  if (!type) {
    throw new RejectionError(`Lark imports a .${extension} file as ${allowed.join(" or ")}; not as ${wanted}`, {
      code: "unsupported-import-type",
    });
  }
  const title = givenName ?? (extensionOf(keyName) ? keyName.slice(0, keyName.lastIndexOf(".")) : keyName);
  return { type, extension, title: title || keyName };
}

function extensionOf(name: string): string | undefined {
  const dot = name.lastIndexOf(".");
  return dot > 0 && dot < name.length - 1 ? name.slice(dot + 1) : undefined;
}

/** The file as upload_all sees it, for a media target. */
export function mediaFile(target: Target & { kind: "media" }): LarkFile {
  return {
    name: target.name,
    parentType: target.parentType,
    parentNode: target.parentNode,
    size: target.size,
    ...(target.extra ? { extra: target.extra } : {}),
  };
}

function taggedDestination(tags: Tags): Destination {
  const value = tags[TAG_TARGET]?.trim();
  if (value) return parseDestination(value);
  const parentType = tags[TAG_PARENT_TYPE]?.trim();
  const parentNode = tags[TAG_PARENT_NODE]?.trim();
  if (!parentType || !parentNode) {
    const missing = parentType ? TAG_PARENT_NODE : TAG_PARENT_TYPE;
    throw new RejectionError(
      `tag ${missing} is missing: ${TAG_PARENT_TYPE} and ${TAG_PARENT_NODE} go together (the default applies only when neither is set)`,
      { code: "missing-parent" },
    );
  }
  return mediaDestination(parentType, parentNode);
}

function defaultDestination(defaults: TargetDefaults): Destination {
  if (defaults.target) return defaults.target;
  if (defaults.parent) return mediaDestination(defaults.parent.type, defaults.parent.node);
  throw new RejectionError(
    `neither a ${TAG_TARGET} tag nor ${TAG_PARENT_TYPE} and ${TAG_PARENT_NODE} tags are set and no default destination is configured`,
    { code: "missing-parent" },
  );
}

function mediaDestination(parentType: string, parentNode: string): Destination {
  if (!isParentType(parentType)) {
    throw new RejectionError(`${parentType} is not one of ${PARENT_TYPES.join(" ")}`, { code: "invalid-parent-type" });
  }
  return { kind: "media", parentType, parentNode };
}

/**
 * Lark shows names exactly as given, so a name is sent as it is (raw UTF-8) or refused: control characters
 * (a CR or LF in a key) cannot travel in a multipart field and would change the name silently.
 */
function fileName(name: string): string {
  const control = /[\u0000-\u001f\u007f-\u009f]/.exec(name);
  if (control) {
    const code = `U+${control[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}`;
    throw new RejectionError(`the file name holds the control character ${code}; set the lark-file-name tag`, {
      code: "invalid-file-name",
    });
  }
  const chars = [...name].length;
  if (!name.trim()) {
    throw new RejectionError("the file name is empty; set the lark-file-name tag", { code: "invalid-file-name" });
  }
  if (chars > MAX_NAME_CHARS) {
    throw new RejectionError(
      `the file name has ${chars} characters, Lark allows ${MAX_NAME_CHARS}; set the lark-file-name tag`,
      { code: "invalid-file-name" },
    );
  }
  return name;
}

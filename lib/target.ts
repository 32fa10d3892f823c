/**
 * Where a file goes in Lark and under which name, from the object's tags (or the configured default
 * parent). Everything Lark would refuse about the destination is refused here, before any download.
 */
import { TAG_FILE_NAME, TAG_PARENT_NODE, TAG_PARENT_TYPE, TAG_ROUTE_TOKEN, type Tags } from "./contract";
import { RejectionError } from "./errors";
import type { LarkFile } from "./lark/media";
import { isParentType, PARENT_TYPES, type ParentType } from "./lark/parent-types";

const MAX_NAME_CHARS = 250;

/** Where a file goes, and whether the object's own tags said so (or the configured default did). */
export interface Target {
  file: LarkFile;
  /** `<parent_type>:<parent_node>`, as written back in `lark-target`. */
  target: string;
  tagged: boolean;
}

/** Whether the object's tags name a destination at all (else the default applies). */
export function namesDestination(tags: Tags): boolean {
  return Boolean(tags[TAG_PARENT_TYPE]?.trim() || tags[TAG_PARENT_NODE]?.trim());
}

export function resolveTarget(
  key: string,
  size: number,
  tags: Tags,
  defaultParent?: { type: ParentType; node: string },
): Target {
  const taggedType = tags[TAG_PARENT_TYPE]?.trim();
  const taggedNode = tags[TAG_PARENT_NODE]?.trim();
  const tagged = namesDestination(tags);
  const parentType = tagged ? taggedType : defaultParent?.type;
  const parentNode = tagged ? taggedNode : defaultParent?.node;
  if (!parentType || !parentNode) {
    const reason = tagged
      ? `tag ${taggedType ? TAG_PARENT_NODE : TAG_PARENT_TYPE} is missing: ${TAG_PARENT_TYPE} and ${TAG_PARENT_NODE} go together (the default parent applies only when neither is set)`
      : `tags ${TAG_PARENT_TYPE} and ${TAG_PARENT_NODE} missing and no default parent is configured`;
    throw new RejectionError(reason, { code: "missing-parent" });
  }
  if (!isParentType(parentType)) {
    throw new RejectionError(`${parentType} is not one of ${PARENT_TYPES.join(" ")}`, { code: "invalid-parent-type" });
  }
  const name = fileName(tags[TAG_FILE_NAME] ?? key.slice(key.lastIndexOf("/") + 1));
  const route = tags[TAG_ROUTE_TOKEN]?.trim();
  const file: LarkFile = {
    name,
    parentType,
    parentNode,
    size,
    ...(route ? { extra: JSON.stringify({ drive_route_token: route }) } : {}),
  };
  return { file, target: `${parentType}:${parentNode}`, tagged };
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

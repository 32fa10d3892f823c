/**
 * Where a file goes in Lark and under which name, from the object's tags (or the configured default
 * parent). Everything Lark would refuse about the destination is refused here, before any download.
 */
import { TAG_FILE_NAME, TAG_PARENT_NODE, TAG_PARENT_TYPE, TAG_ROUTE_TOKEN, type Tags } from "./contract";
import { RejectionError } from "./errors";
import type { LarkFile } from "./lark/media";
import { isParentType, PARENT_TYPES, type ParentType } from "./lark/parent-types";

const MAX_NAME_CHARS = 250;

export function resolveTarget(
  key: string,
  size: number,
  tags: Tags,
  defaultParent?: { type: ParentType; node: string },
): LarkFile {
  const taggedType = tags[TAG_PARENT_TYPE]?.trim();
  const taggedNode = tags[TAG_PARENT_NODE]?.trim();
  const parentType = taggedType || (taggedNode ? undefined : defaultParent?.type);
  const parentNode = taggedNode || (taggedType ? undefined : defaultParent?.node);
  if (!parentType || !parentNode) {
    const missing =
      !parentType && !parentNode
        ? `${TAG_PARENT_TYPE} and ${TAG_PARENT_NODE}`
        : !parentType
          ? TAG_PARENT_TYPE
          : TAG_PARENT_NODE;
    throw new RejectionError(`tag ${missing} missing and no default parent is configured`, { code: "missing-parent" });
  }
  if (!isParentType(parentType)) {
    throw new RejectionError(`${parentType} is not one of ${PARENT_TYPES.join(" ")}`, { code: "invalid-parent-type" });
  }
  const name = fileName(tags[TAG_FILE_NAME] ?? key.slice(key.lastIndexOf("/") + 1));
  const route = tags[TAG_ROUTE_TOKEN]?.trim();
  return {
    name,
    parentType,
    parentNode,
    size,
    ...(route ? { extra: JSON.stringify({ drive_route_token: route }) } : {}),
  };
}

/** Lark shows names as given, so only control characters go; the rest is sent raw as UTF-8. */
function fileName(raw: string): string {
  const name = raw.replace(/[\u0000-\u001f\u007f]/g, "").trim();
  const chars = [...name].length;
  if (chars === 0)
    throw new RejectionError("the file name is empty; set the lark-file-name tag", { code: "invalid-file-name" });
  if (chars > MAX_NAME_CHARS) {
    throw new RejectionError(
      `the file name has ${chars} characters, Lark allows ${MAX_NAME_CHARS}; set the lark-file-name tag`,
      { code: "invalid-file-name" },
    );
  }
  return name;
}

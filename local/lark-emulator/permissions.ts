// drive/v1 permission members: POST /open-apis/drive/v1/permissions/:token/members?type=…&need_notification=false
// grants a member (a user, a chat, a department, a user group, a wiki space, an app) view, edit or full_access on
// a document, a spreadsheet, a base, a Drive file or a folder. Members are kept per token, one entry per member:
// granting again replaces the perm.
//
// Codes: 1063001 invalid parameter (HTTP 400), 1063002 permission denied (403), 1063003 invalid operation (400),
// 1063005 resource deleted (404). Rate: 100 requests/min per app (Lark's number for batch_create and update;
// HTTP 429 + 99991400).
//
// Chosen where Lark's documentation is silent:
// - Checks, in order, all 1063001 unless said: the body (a JSON object); the query (type one of Lark's values;
//   need_notification "true" or "false", "true" refused since a tenant token cannot notify); the member
//   (member_type, a member_id shaped as that type's ids are, perm, a `type` agreeing with member_type, perm_type
//   for wiki only); a department 1063003 (an app sees no organisation, Lark says); then the token: unknown or
//   removed 1063005, of another kind than `type` 1063001, one the app may not manage 1063002.
// - Id shapes: openid ou_…, unionid on_…, openchat oc_…, opendepartmentid od-…, appid cli_…, email x@y,
//   wikispaceid digits, userid and groupid [A-Za-z0-9_-]{1,64}.
// - What the app may manage: what it created (Drive files, imported documents, its root folder) and fixtures
//   shared with it as editable; a fixture with editable false is 1063002. wiki, mindnote, minutes, slides and
//   apps tokens are not modelled: a `type` of those never matches a known token (1063001).
// - Refusing a grant for any other reason (a user the app cannot see…): inject a fault on
//   "drive.permissionMember.create".

import type { Base } from "./bitable";
import { readJson } from "./bodies";
import type { DocxDocument } from "./docx";
import type { Folders } from "./drive-folders";
import type { Family, FamilyContext } from "./family";
import type { RateRule } from "./limits";
import { type Ctx, LarkError, type Params, replyData } from "./server";
import type { Spreadsheet } from "./sheets";

export type PermissionsEndpoint = "drive.permissionMember.create";

const GRANTS = { name: "drive.permission_member", limit: 100, perMs: 60_000, status: 429 } as const satisfies RateRule;
export type PermissionsRateRule = typeof GRANTS.name;

const INVALID = 1063001;

/** The kinds of token a member can be granted on here. */
export type PermissionTarget = "docx" | "sheet" | "bitable" | "file" | "folder";
const QUERY_TYPES = new Set([
  "doc",
  "sheet",
  "file",
  "wiki",
  "bitable",
  "docx",
  "folder",
  "mindnote",
  "minutes",
  "slides",
  "apps",
]);

export type MemberType =
  | "email"
  | "openid"
  | "unionid"
  | "openchat"
  | "opendepartmentid"
  | "userid"
  | "groupid"
  | "wikispaceid"
  | "appid";
export type Perm = "view" | "edit" | "full_access";

/** Each member type: the shape of its ids and the `type` values that go with it. */
const MEMBER_TYPES: Record<MemberType, { id: RegExp; kinds: string[] }> = {
  email: { id: /^[^@\s]+@[^@\s]+$/, kinds: ["user"] },
  openid: { id: /^ou_[A-Za-z0-9]+$/, kinds: ["user"] },
  unionid: { id: /^on_[A-Za-z0-9]+$/, kinds: ["user"] },
  userid: { id: /^[A-Za-z0-9_-]{1,64}$/, kinds: ["user"] },
  openchat: { id: /^oc_[A-Za-z0-9]+$/, kinds: ["chat"] },
  opendepartmentid: { id: /^od-[A-Za-z0-9]+$/, kinds: ["department"] },
  groupid: { id: /^[A-Za-z0-9_-]{1,64}$/, kinds: ["group"] },
  wikispaceid: { id: /^\d+$/, kinds: ["wiki_space_member", "wiki_space_viewer", "wiki_space_editor"] },
  appid: { id: /^cli_[A-Za-z0-9]+$/, kinds: [] },
};
const PERMS = new Set<string>(["view", "edit", "full_access"]);

export interface PermissionMember {
  memberType: MemberType;
  memberId: string;
  perm: Perm;
  /** The member's kind as sent (user, chat, department, group, wiki_space_…). */
  type?: string;
}

/** What a token is to the permission API. */
export interface Resource {
  type: PermissionTarget;
  /** Whether the app may manage its collaborators. */
  manageable: boolean;
  removed: boolean;
}

/** Where the permission API finds tokens: the folders and their items, documents, bases, spreadsheets. */
export interface ResourceSources {
  folders: Folders;
  documents: ReadonlyMap<string, DocxDocument>;
  bases: ReadonlyMap<string, Base>;
  spreadsheets: ReadonlyMap<string, Spreadsheet>;
}

/** What `token` is to this API, wherever the emulator holds it. */
function resourceOf(sources: ResourceSources, token: string): Resource | undefined {
  const { folders, documents, bases, spreadsheets } = sources;
  const folder = folders.folders.get(token);
  if (folder) return { type: "folder", manageable: folder.editable, removed: folder.deleted };
  const item = folders.item(token);
  if (item) return { type: item.type, manageable: true, removed: false };
  const fixture = (type: PermissionTarget, found?: { editable: boolean; deleted: boolean }): Resource | undefined =>
    found && { type, manageable: found.editable, removed: found.deleted };
  return (
    fixture("docx", documents.get(token)) ??
    fixture("bitable", bases.get(token)) ??
    fixture("sheet", spreadsheets.get(token))
  );
}

/** A token's members as GET /__emulator/state shows them. */
export interface PermissionView {
  token: string;
  type: PermissionTarget;
  members: Record<string, string>[];
}

export interface Permissions extends Family {
  snapshot(): PermissionView[];
  /** By token. */
  members: ReadonlyMap<string, { type: PermissionTarget; members: PermissionMember[] }>;
}

export function createPermissions(family: FamilyContext, sources: ResourceSources): Permissions {
  const members = new Map<string, { type: PermissionTarget; members: PermissionMember[] }>();

  /** The member the body names, judged as the checks above say. */
  function memberOf(body: Record<string, unknown>, queryType: string): PermissionMember {
    const { member_type: memberType, member_id: memberId, perm, type, perm_type: permType } = body;
    if (!Object.hasOwn(MEMBER_TYPES, memberType as string) || typeof memberId !== "string")
      throw new LarkError(INVALID);
    const shape = MEMBER_TYPES[memberType as MemberType];
    if (!shape.id.test(memberId) || !PERMS.has(perm as string)) throw new LarkError(INVALID);
    if (type !== undefined && !shape.kinds.includes(type as string)) throw new LarkError(INVALID);
    if (memberType === "wikispaceid" && type === undefined) throw new LarkError(INVALID);
    if (permType !== undefined && queryType !== "wiki") throw new LarkError(INVALID);
    if (memberType === "opendepartmentid") throw new LarkError(1063003);
    return {
      memberType: memberType as MemberType,
      memberId,
      perm: perm as Perm,
      ...(type ? { type: type as string } : {}),
    };
  }

  function queryTypeOf(ctx: Ctx): string {
    const type = ctx.query.get("type");
    const notify = ctx.query.get("need_notification");
    if (type === null || !QUERY_TYPES.has(type)) throw new LarkError(INVALID);
    if (notify !== null && notify !== "false") throw new LarkError(INVALID);
    return type;
  }

  async function create(ctx: Ctx, params: Params) {
    const body = await readJson(ctx.req);
    if (!body) throw new LarkError(INVALID);
    const queryType = queryTypeOf(ctx);
    const member = memberOf(body, queryType);
    const resource = resourceOf(sources, params.token);
    if (!resource || resource.removed) throw new LarkError(1063005);
    if (resource.type !== queryType) throw new LarkError(INVALID);
    if (!resource.manageable) throw new LarkError(1063002);
    const entry = members.get(params.token) ?? { type: resource.type, members: [] };
    entry.members = [
      ...entry.members.filter((m) => m.memberType !== member.memberType || m.memberId !== member.memberId),
      member,
    ];
    members.set(params.token, entry);
    replyData(ctx, { member: memberJson(member) });
  }

  return {
    routes: [
      {
        method: "POST",
        path: "/open-apis/drive/v1/permissions/:token/members",
        endpoint: "drive.permissionMember.create",
        limits: () => [family.limits.rate(GRANTS, "app")],
        handle: create,
      },
    ],
    members,
    reset: () => members.clear(),
    snapshot: () =>
      [...members].map(([token, entry]) => ({ token, type: entry.type, members: entry.members.map(memberJson) })),
  };
}

function memberJson(member: PermissionMember): Record<string, string> {
  return {
    member_type: member.memberType,
    member_id: member.memberId,
    perm: member.perm,
    ...(member.type ? { type: member.type } : {}),
  };
}

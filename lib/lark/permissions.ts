/**
 * drive/v1 permission members: sharing what the app created (a Drive file, an imported document, a folder) with
 * people, chats or groups, which otherwise only the app can open. Every grant is paced by the per-app rule. Lark's
 * reference: "add collaborator permission" (POST /open-apis/drive/v1/permissions/:token/members).
 */
import type { RetryOptions } from "../retry";
import { type CallCounter, jsonRequest, type LarkClient } from "./client";
import type { LarkLimits } from "./limits";

/** What a token names, as the grant's `type` query parameter says it. */
export type PermissionTarget = "docx" | "sheet" | "bitable" | "file" | "folder";

export type Perm = "view" | "edit" | "full_access";

/** Which kind of member each id type names: the body's `type`, which Lark wants to agree with member_type. */
const MEMBER_KINDS = {
  email: "user",
  openid: "user",
  unionid: "user",
  userid: "user",
  openchat: "chat",
  opendepartmentid: "department",
  groupid: "group",
} as const;

export type MemberType = keyof typeof MEMBER_KINDS;

export interface Member {
  memberType: MemberType;
  /** An id of that type: ou_… (openid), on_… (unionid), oc_… (openchat), an address (email)… */
  memberId: string;
}

/**
 * Lark grants a department only to a user ("暂不支持通过 tenant_access_token 添加部门协作者"); the app calls as
 * itself, so a department in a share list could never be granted.
 */
const APP_CANNOT_GRANT: ReadonlySet<MemberType> = new Set(["opendepartmentid"]);
const GRANTABLE = Object.keys(MEMBER_KINDS).filter((type) => !APP_CANNOT_GRANT.has(type as MemberType));

export class LarkPermissions {
  constructor(
    private readonly client: LarkClient,
    private readonly limits: LarkLimits,
  ) {}

  /**
   * Grants `member` `perm` on the `type` named `token`. Granting a member again replaces its perm, unless that
   * lowers what it has (Lark: 1063003). No notification: an app cannot send one.
   */
  async addMember(
    token: string,
    type: PermissionTarget,
    member: Member,
    perm: Perm,
    retry: RetryOptions,
    counter?: CallCounter,
  ): Promise<void> {
    const request = jsonRequest("POST", `/open-apis/drive/v1/permissions/${encodeURIComponent(token)}/members`, {
      query: { type, need_notification: false },
      body: {
        member_type: member.memberType,
        member_id: member.memberId,
        perm,
        type: MEMBER_KINDS[member.memberType],
      },
    });
    await this.client.call(request.path, () => request, { pacer: this.limits.permissionGrant(), retry, counter });
  }
}

/**
 * The members a setting names, e.g. `openid:ou_…,openchat:oc_…,email:ana@example.com`: `<member type>:<id>`
 * entries, separated by commas, spaces around either ignored. A member named twice is kept once. Each entry that
 * is not a member the app can grant to is a problem, in words for the configuration's report.
 */
export function parseShareList(text: string): { members: Member[]; problems: string[] } {
  const members = new Map<string, Member>();
  const problems: string[] = [];
  for (const entry of text.split(",").map((part) => part.trim())) {
    if (!entry) continue;
    const colon = entry.indexOf(":");
    const memberType = entry.slice(0, colon).trim();
    const memberId = entry.slice(colon + 1).trim();
    if (colon < 0) problems.push(`"${entry}" is not <member type>:<id>`);
    else if (!isMemberType(memberType)) {
      problems.push(`"${memberType}" in "${entry}" is not one of ${GRANTABLE.join(", ")}`);
    } else if (APP_CANNOT_GRANT.has(memberType)) {
      problems.push(`"${entry}": Lark does not let an app share with a department`);
    } else if (!memberId) problems.push(`"${entry}" has no id`);
    else members.set(`${memberType}:${memberId}`, { memberType, memberId });
  }
  return { members: [...members.values()], problems };
}

const isMemberType = (value: string): value is MemberType => Object.hasOwn(MEMBER_KINDS, value);

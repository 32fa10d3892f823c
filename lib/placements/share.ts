/**
 * What the app creates (imported documents, Drive files) belongs to the app: no person sees it until it is
 * shared. Each configured member is granted access right after creation. A grant that fails is reported, not
 * undone: the document exists and the upload stands.
 */
import type { PermissionTarget } from "../lark/permissions";
import type { PlacementApis, PlacementJob } from "./index";

export async function shareWithMembers(
  apis: PlacementApis,
  job: PlacementJob,
  token: string,
  type: PermissionTarget,
): Promise<void> {
  const { members, perm } = job.sharing;
  for (const member of members) {
    try {
      await apis.permissions.addMember(token, type, member, perm, job.retry, job.counter);
    } catch (err) {
      job.onShareFailure({ member: `${member.memberType}:${member.memberId}`, error: err as Error });
    }
  }
}

/** A Drive file in a folder: uploaded with Drive's own upload (parent_type explorer), then shared. */
import { META_FILE_TOKEN, META_TARGET, type Placement } from "../contract";
import { DRIVE_FOLDER } from "../lark/parent-types";
import type { Target } from "../target";
import type { PlacementApis, PlacementJob } from "./index";
import { shareWithMembers } from "./share";

export async function placeInFolder(
  apis: PlacementApis,
  job: PlacementJob<Target & { kind: "folder" }>,
): Promise<Placement> {
  const { target } = job;
  const { fileToken } = await job.upload({
    name: target.name,
    parentType: DRIVE_FOLDER,
    parentNode: target.folderToken,
    size: target.size,
  });
  await shareWithMembers(apis, job, fileToken, "file");
  return { [META_FILE_TOKEN]: fileToken, [META_TARGET]: target.target };
}

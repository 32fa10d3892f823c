/**
 * An image floating over a sheet, anchored at a cell. The image is uploaded into the spreadsheet, then placed
 * under an id derived from the object: a retry that finds the id taken (an earlier attempt placed it) writes
 * back the token that image shows, so there is one floating image and its token is the one on the object.
 */
import { META_FILE_TOKEN, META_FLOAT_IMAGE_ID, META_TARGET, type Placement } from "../contract";
import { floatImageId, type LarkSheets } from "../lark/sheets";
import type { Target } from "../target";
import type { PlacementJob } from "./index";

export async function placeInSheet(
  sheets: LarkSheets,
  job: PlacementJob<Target & { kind: "sheet" }>,
): Promise<Placement> {
  const { target, retry, counter } = job;
  const uploaded = await job.upload(
    { name: target.name, parentType: "sheet_image", parentNode: target.spreadsheetToken, size: target.size },
    { imageSize: true },
  );
  const placed = await sheets.placeFloatImage(
    target.spreadsheetToken,
    target.sheetId,
    {
      floatImageId: floatImageId(job.seed),
      fileToken: uploaded.fileToken,
      cell: target.cell,
      ...uploaded.imageSize,
    },
    retry,
    counter,
  );
  return {
    [META_FILE_TOKEN]: placed.fileToken,
    [META_TARGET]: target.target,
    [META_FLOAT_IMAGE_ID]: placed.floatImageId,
  };
}

/**
 * A file in a base: a new record whose attachment field holds it. The record is created empty first (idempotent
 * on a client_token), the file uploaded into the base, then set in the field (a PUT, idempotent itself). When
 * Lark refuses for good after the record exists (no such field, not an attachment field…), the record is deleted.
 */
import { META_FILE_TOKEN, META_RECORD_ID, META_TARGET, type Placement } from "../contract";
import { RejectionError } from "../errors";
import { type LarkBitable, uuidV4From } from "../lark/bitable";
import type { Target } from "../target";
import type { PlacementJob } from "./index";

/** Lark's "RecordIdNotFound": a replayed client_token answered a record deleted since. */
const RECORD_GONE = 1254043;
const MAX_GENERATIONS = 3;

export async function placeInBase(
  bitable: LarkBitable,
  job: PlacementJob<Target & { kind: "base" }>,
): Promise<Placement> {
  const { target, retry, counter } = job;
  const { appToken, tableId } = target;
  for (let generation = 0; ; generation++) {
    const { recordId } = await bitable.createRecord(
      appToken,
      tableId,
      uuidV4From(`${job.seed}#${generation}`),
      retry,
      counter,
    );
    try {
      const uploaded = await job.upload({
        name: target.name,
        parentType: target.image ? "bitable_image" : "bitable_file",
        parentNode: appToken,
        size: target.size,
      });
      await bitable.setAttachment(appToken, tableId, recordId, target.field!, uploaded.fileToken, retry, counter);
      return { [META_FILE_TOKEN]: uploaded.fileToken, [META_TARGET]: target.target, [META_RECORD_ID]: recordId };
    } catch (err) {
      if (!(err instanceof RejectionError)) throw err; // a retry finds this record again through its client_token
      if (err.larkCode === RECORD_GONE && generation + 1 < MAX_GENERATIONS) continue;
      await bitable.deleteRecord(appToken, tableId, recordId, retry, counter);
      throw err;
    }
  }
}

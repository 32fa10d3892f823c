/**
 * The objects in a bucket that still wait for the function: neither a file token in their metadata nor an
 * error tag. That is what a backfill of the bucket would pick up, whatever happened to their events.
 */
import { GetObjectTaggingCommand, HeadObjectCommand, paginateListObjectsV2, type S3Client } from "@aws-sdk/client-s3";
import { META_FILE_TOKEN, TAG_ERROR } from "../../lib/contract";

/**
 * How many objects wait, counted within `budgetMs`; `complete` false when time ran out first (then at least).
 * Keys in `answered` had their answer elsewhere (a refusal the object had no room for): they do not wait.
 */
export async function countUnanswered(
  s3: S3Client,
  bucket: string,
  budgetMs: number,
  answered: ReadonlySet<string> = new Set(),
): Promise<{ count: number; complete: boolean }> {
  const end = Date.now() + budgetMs;
  let count = 0;
  for await (const page of paginateListObjectsV2({ client: s3 }, { Bucket: bucket })) {
    const keys = (page.Contents ?? [])
      .map((o) => o.Key ?? "")
      .filter((key) => key && !key.endsWith("/") && !answered.has(key));
    // A few at a time: the local S3 answers in a millisecond, a bucket may hold thousands.
    for (let i = 0; i < keys.length; i += 16) {
      if (Date.now() > end) return { count, complete: false };
      const waiting = await Promise.all(keys.slice(i, i + 16).map((key) => unanswered(s3, bucket, key)));
      count += waiting.filter(Boolean).length;
    }
  }
  return { count, complete: true };
}

async function unanswered(s3: S3Client, bucket: string, key: string): Promise<boolean> {
  try {
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    if (head.Metadata?.[META_FILE_TOKEN]) return false;
    const tags = await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key }));
    return !tags.TagSet?.some((tag) => tag.Key === TAG_ERROR);
  } catch {
    // Gone since the listing: nothing waits.
    return false;
  }
}

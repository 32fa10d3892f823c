/**
 * Everything the function does to S3: read the object's head and tags, read its bytes pinned to the
 * version the event announced, write the file_token back with a guarded self-copy, and tag failures.
 */
import {
  CopyObjectCommand,
  type CopyObjectCommandInput,
  GetObjectCommand,
  type GetObjectCommandOutput,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  type HeadObjectCommandOutput,
  PutObjectTaggingCommand,
  type S3Client,
  type Tag,
} from "@aws-sdk/client-s3";
import { type Block, type ByteSource, readBlocks } from "./blocks";
import {
  MAX_TAGS,
  type Placement,
  pendingValue,
  placementMetadata,
  TAG_ERROR,
  TAG_PENDING_METADATA,
  type Tags,
  userMetadata,
  userTags,
} from "./contract";
import { ConfigurationError, ObjectChangedError, RejectionError, TagLimitError, TransientError } from "./errors";
import { copySource } from "./s3-keys";

export interface ObjectLocation {
  bucket: string;
  key: string;
  /** Pins the read to this version; absent on unversioned buckets. */
  versionId?: string;
}

/** What HeadObject told us: the attributes a REPLACE copy must re-send, and what identifies the content. */
export interface ObjectHead {
  eTag: string;
  versionId?: string;
  size: number;
  /** When the object was written (S3 says it to the second). */
  lastModified?: Date;
  metadata: Record<string, string>;
  contentType?: string;
  contentDisposition?: string;
  cacheControl?: string;
  contentEncoding?: string;
  contentLanguage?: string;
  expires?: Date;
  storageClass?: string;
  serverSideEncryption?: string;
  sseKmsKeyId?: string;
  bucketKeyEnabled?: boolean;
  websiteRedirectLocation?: string;
}

/** An object whose GetObject has answered: its head, and its body still to be read (or discarded). */
export interface OpenObject {
  head: ObjectHead;
  /** The body in blocks of `blockSize` bytes, the last one shorter. Once only. */
  blocks(blockSize: number): AsyncGenerator<Block>;
  discard(): void;
}

export class S3Objects {
  constructor(
    private readonly s3: S3Client,
    private readonly opts: { verifyTagsAfterCopy: boolean },
  ) {}

  /** The current object at this key (never pinned: staleness is judged against what is there now); undefined when gone. */
  async head(bucket: string, key: string): Promise<ObjectHead | undefined> {
    const out = await this.call(() => this.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key })), {
      missingOk: true,
    });
    return out && headOf(out);
  }

  /** The tag set; undefined when the object is gone. */
  async tags(at: ObjectLocation): Promise<Tags | undefined> {
    const out = await this.call(
      () => this.s3.send(new GetObjectTaggingCommand({ Bucket: at.bucket, Key: at.key, VersionId: at.versionId })),
      { missingOk: true },
    );
    return out ? fromTagSet(out.TagSet ?? []) : undefined;
  }

  /**
   * GetObject, guarded by the ETag (and pinned to the version when one is given): the bytes are the ones
   * the event announced or the read fails with ObjectChangedError. Its response headers are a full head,
   * so a caller can decide what to do before reading the body, and discard it if nothing is to be done.
   * Undefined when the object is gone.
   */
  async open(at: ObjectLocation, eTag: string): Promise<OpenObject | undefined> {
    const out = await this.call(
      () =>
        this.s3.send(
          new GetObjectCommand({ Bucket: at.bucket, Key: at.key, VersionId: at.versionId, IfMatch: quote(eTag) }),
        ),
      { missingOk: true },
    );
    if (!out) return undefined;
    const body = out.Body as ByteSource | undefined;
    if (!body) throw new TransientError("GetObject returned no body");
    const head = headOf(out);
    let consumed = false;
    return {
      head,
      discard: () => body.destroy?.(),
      blocks: (blockSize) => {
        if (consumed) throw new Error("an object's body can be read once");
        consumed = true;
        return readBlocks(body, head.size, blockSize, `s3://${at.bucket}/${at.key}`);
      },
    };
  }

  /**
   * Writes a placement (the file_token and where it went) as user metadata with a copy onto itself. REPLACE
   * drops whatever is not re-sent, so every attribute from HeadObject goes back; the copy is guarded by the
   * ETag so an object overwritten meanwhile is not clobbered (ObjectChangedError). The tag set is rewritten
   * only to drop the function's own tags (a stale error, pending metadata).
   */
  async writePlacement(at: ObjectLocation, head: ObjectHead, tags: Tags, placement: Placement): Promise<void> {
    const keep = userTags(tags);
    // Only when one of our own tags must go is the tag set rewritten; otherwise S3 keeps whatever tags the
    // object has at the moment of the copy, including ones a user set while we were uploading.
    const rewriteTags = Object.keys(keep).length !== Object.keys(tags).length;
    const input: CopyObjectCommandInput = {
      Bucket: at.bucket,
      Key: at.key,
      // The current object, not the pinned version: copying an old version would resurrect old content.
      CopySource: copySource(at.bucket, at.key),
      CopySourceIfMatch: quote(head.eTag),
      MetadataDirective: "REPLACE",
      Metadata: { ...userMetadata(head.metadata), ...placementMetadata(at, placement) },
      ContentType: head.contentType,
      ContentDisposition: head.contentDisposition,
      CacheControl: head.cacheControl,
      ContentEncoding: head.contentEncoding,
      ContentLanguage: head.contentLanguage,
      Expires: head.expires,
      StorageClass: head.storageClass as CopyObjectCommandInput["StorageClass"],
      ServerSideEncryption: head.serverSideEncryption as CopyObjectCommandInput["ServerSideEncryption"],
      SSEKMSKeyId: head.sseKmsKeyId,
      BucketKeyEnabled: head.bucketKeyEnabled,
      WebsiteRedirectLocation: head.websiteRedirectLocation,
      ...(rewriteTags ? { TaggingDirective: "REPLACE", Tagging: encodeTags(keep) } : { TaggingDirective: "COPY" }),
    };
    const out = await this.call(() => this.s3.send(new CopyObjectCommand(input)));
    if (this.opts.verifyTagsAfterCopy) {
      // The copy is a new version on a versioned bucket; radosgw does not say which, and then the
      // current one (no VersionId) is it.
      const written = { bucket: at.bucket, key: at.key, versionId: out?.VersionId };
      const now = await this.tags(written);
      if (now && !sameTags(now, keep)) await this.putTags(written, keep);
    }
  }

  /** Adds (or replaces) the `lark-upload-error` tag, keeping every other tag. */
  async tagError(at: ObjectLocation, tags: Tags, value: string): Promise<void> {
    await this.addTag(at, tags, TAG_ERROR, value);
  }

  /**
   * Lark has the file but the metadata write failed: what was to be written goes on as a tag (which changes
   * neither the content nor the ETag), so the retry only has to redo the copy instead of uploading again.
   */
  async tagPending(at: ObjectLocation, tags: Tags, placement: Placement): Promise<void> {
    await this.addTag(at, tags, TAG_PENDING_METADATA, pendingValue(placement));
  }

  /**
   * Sets (or, with `value` undefined, removes) one of the function's own tags, keeping every other tag as
   * it is; answers the tag set now on the object.
   */
  async setOwnTag(at: ObjectLocation, tags: Tags, key: string, value: string | undefined): Promise<Tags> {
    const { [key]: _old, ...rest } = tags;
    return this.replaceTags(at, tags, value === undefined ? rest : { ...rest, [key]: value }, key);
  }

  /** Adds this tag of the function's own, and removes its others (a stale error, pending metadata). */
  private async addTag(at: ObjectLocation, tags: Tags, key: string, value: string): Promise<void> {
    await this.replaceTags(at, tags, { ...userTags(tags), [key]: value }, `${key} (${value})`);
  }

  /**
   * Writes `next` in place of `current`. Nothing is written when they are the same: every tag write announces
   * itself as an event, which would decide the object again.
   */
  private async replaceTags(at: ObjectLocation, current: Tags, next: Tags, adding: string): Promise<Tags> {
    if (sameTags(next, current)) return current;
    if (Object.keys(next).length > MAX_TAGS) {
      throw new TagLimitError(
        `cannot add the tag ${adding}: the object already has the ${MAX_TAGS} tags S3 allows. ` +
          `Remove one of its tags; the object is then decided again`,
      );
    }
    await this.putTags(at, next);
    return next;
  }

  private async putTags(at: ObjectLocation, tags: Tags): Promise<void> {
    await this.call(() =>
      this.s3.send(
        new PutObjectTaggingCommand({
          Bucket: at.bucket,
          Key: at.key,
          VersionId: at.versionId,
          Tagging: { TagSet: toTagSet(tags) },
        }),
      ),
    );
  }

  /** Maps S3's failures onto the contract: gone, changed, misconfigured, or transient. */
  private async call<T>(fn: () => Promise<T>, opts: { missingOk?: boolean } = {}): Promise<T | undefined> {
    try {
      return await fn();
    } catch (err) {
      const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
      const status = e.$metadata?.httpStatusCode;
      if (opts.missingOk && (status === 404 || e.name === "NoSuchKey" || e.name === "NotFound")) return undefined;
      if (status === 404 || e.name === "NoSuchKey") throw new ObjectChangedError("the object is gone");
      if (status === 412 || e.name === "PreconditionFailed")
        throw new ObjectChangedError("the object was overwritten meanwhile");
      // Glacier / Deep Archive: unreadable until restored, which is the user's call, not a retry's.
      if (e.name === "InvalidObjectState")
        throw new RejectionError("the object is in an archive storage class; restore it, then re-run", {
          code: "archived-object",
        });
      if (status === 403 || e.name === "AccessDenied") {
        throw new ConfigurationError(
          `S3 denied access (${e.name}): check the function's IAM permissions and KMS key policy`,
          { cause: err },
        );
      }
      throw new TransientError(`S3 ${e.name ?? "error"}: ${e.message ?? String(err)}`, { cause: err });
    }
  }
}

/** HeadObject and GetObject answer with the same headers. */
function headOf(out: HeadObjectCommandOutput | GetObjectCommandOutput): ObjectHead {
  return {
    eTag: unquote(out.ETag ?? ""),
    versionId: out.VersionId && out.VersionId !== "null" ? out.VersionId : undefined,
    size: out.ContentLength ?? 0,
    lastModified: out.LastModified,
    metadata: out.Metadata ?? {},
    contentType: out.ContentType,
    contentDisposition: out.ContentDisposition,
    cacheControl: out.CacheControl,
    contentEncoding: out.ContentEncoding,
    contentLanguage: out.ContentLanguage,
    expires: out.Expires,
    storageClass: out.StorageClass,
    serverSideEncryption: out.ServerSideEncryption,
    sseKmsKeyId: out.SSEKMSKeyId,
    bucketKeyEnabled: out.BucketKeyEnabled,
    websiteRedirectLocation: out.WebsiteRedirectLocation,
  };
}

/** The Tagging header of PutObject / CopyObject: URL-encoded pairs. */
export function encodeTags(tags: Tags): string {
  return Object.entries(tags)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .join("&");
}

export function fromTagSet(set: Tag[]): Tags {
  return Object.fromEntries(set.map((t) => [t.Key ?? "", t.Value ?? ""]));
}

export function toTagSet(tags: Tags): Tag[] {
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}

function sameTags(a: Tags, b: Tags): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

const unquote = (etag: string) => etag.replace(/"/g, "");
const quote = (etag: string) => `"${etag}"`;

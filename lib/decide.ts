/**
 * Deciding what to do with an object, from its head and tags, before any byte of it is read: nothing (done,
 * stale, gone, not a new file), refuse it (and why), finish an earlier write, or place it (and where).
 */
import {
  MAX_METADATA_BYTES,
  META_FILE_ORIGIN,
  META_FILE_TOKEN,
  META_TARGET,
  metadataBytes,
  originOf,
  type Placement,
  placementMetadata,
  placementOf,
  type SkipReason,
  TAG_ERROR,
  TAG_PENDING_METADATA,
  type Tags,
  userMetadata,
} from "./contract";
import { RejectionError, TransientError } from "./errors";
import { actionOf, type ObjectRef } from "./event";
import { importMaxBytes } from "./lark/imports";
import { UPLOAD_ALL_MAX_BYTES } from "./lark/parent-types";
import type { Outcome, PipelineDeps, RunOptions } from "./pipeline";
import type { ObjectHead, ObjectLocation, OpenObject } from "./s3-objects";
import { namesDestination, resolveTarget, type Target } from "./target";

/** What to do with an object, decided from its head and tags before any byte of it is read. */
export type Decision =
  | { kind: "done"; outcome: Outcome }
  | { kind: "refuse"; at: ObjectLocation; tags: Tags; error: RejectionError; size: number }
  | {
      kind: "upload";
      at: ObjectLocation;
      head: ObjectHead;
      tags: Tags;
      target: Target;
      opened?: OpenObject;
      /** The destination of an earlier upload, when the tags now name another one. */
      replaces?: string;
    }
  /** Lark already has the file (an earlier metadata write failed): only the write is left to do. */
  | { kind: "finish"; at: ObjectLocation; head: ObjectHead; tags: Tags; placement: Placement };

/**
 * The reading half of processObject, on its own so a dry run can ask it too. Throws like S3 does.
 *
 * A new object announced by its event (ETag and size known, within the cap) is opened with GetObject
 * at once: the response headers are its head, and the body is read only if it is to be uploaded, which
 * saves HeadObject's round trip on the common path. Anything else (the echo of our own copy, a tag change,
 * objects found by a backfill, anything too large or empty) is looked at with HeadObject first, so it is
 * never downloaded.
 */
export async function decide(
  ref: ObjectRef,
  deps: PipelineDeps,
  run: Pick<RunOptions, "skipErrorTagged" | "deadline">,
): Promise<Decision> {
  if (ref.key.endsWith("/")) return skip("folder-marker");
  const action = actionOf(ref);
  if (action === "none") return skip("not-a-new-file", { detail: ref.eventName });
  // Only an upload_all-sized body is opened ahead: a chunked one would sit idle through upload_prepare.
  const readAtOnce =
    action === "create" &&
    ref.eventName !== undefined &&
    ref.eventName !== "ObjectCreated:Copy" &&
    ref.eTag !== undefined &&
    ref.size !== undefined &&
    ref.size > 0 &&
    ref.size <= Math.min(deps.config.maxFileBytes, UPLOAD_ALL_MAX_BYTES);
  const location = { bucket: ref.bucket, key: ref.key, versionId: ref.versionId };
  const [found, tags] = await Promise.all([
    readAtOnce
      ? deps.s3.open({ bucket: ref.bucket, key: ref.key }, ref.eTag!).catch((err: unknown) => err as Error)
      : deps.s3.head(ref.bucket, ref.key),
    deps.s3.tags(location).catch((err: unknown) => err as Error),
  ]);
  let opened = found && "blocks" in found ? found : undefined;
  try {
    if (tags instanceof Error) throw tags;
    if (found instanceof Error) {
      // S3 refused to read an object it has (archived): the user is told on the object, as with HeadObject.
      if (found instanceof RejectionError && tags) {
        return { kind: "refuse", at: location, tags, error: found, size: ref.size ?? 0 };
      }
      throw found;
    }
    const head = opened ? opened.head : (found as ObjectHead | undefined);
    let decision = judge(ref, head, tags, deps, run);
    const waitUntil = head && tags && tagWaitEnd(decision, head, tags, deps, action);
    if (waitUntil) {
      // The object is new and says nothing of where it goes: its tags may be on their way (many tools tag
      // in a second call). Deciding now would send it to the default, or refuse it, before they arrive.
      opened?.discard();
      opened = undefined;
      if (waitUntil > run.deadline) throw new TransientError("not enough time left to wait for the object's tags");
      await sleep(waitUntil - Date.now());
      decision = judge(ref, head, await deps.s3.tags(location), deps, run);
    }
    if (decision.kind === "upload") return { ...decision, opened };
    opened?.discard();
    return decision;
  } catch (err) {
    opened?.discard();
    throw err;
  }
}

function skip(reason: SkipReason, more: { fileToken?: string; detail?: string } = {}): Decision {
  return { kind: "done", outcome: { kind: "skipped", reason, ...more } };
}

/** When a decision for an untagged object should wait for tags that may still come; undefined when not. */
function tagWaitEnd(
  decision: Decision,
  head: ObjectHead,
  tags: Tags,
  deps: PipelineDeps,
  action: ReturnType<typeof actionOf>,
): number | undefined {
  if (action !== "create" || namesDestination(tags) || !head.lastModified || !deps.config.tagWaitMs) return undefined;
  const byDefault =
    (decision.kind === "upload" && !decision.target.tagged) ||
    (decision.kind === "refuse" && decision.error.code === "missing-parent");
  // S3 says when an object was written to the second only: the wait counts from the end of that second.
  const end = head.lastModified.getTime() + 1000 + deps.config.tagWaitMs;
  return byDefault && end > Date.now() ? end : undefined;
}

function judge(
  ref: ObjectRef,
  head: ObjectHead | undefined,
  tags: Tags | undefined,
  deps: PipelineDeps,
  run: Pick<RunOptions, "skipErrorTagged">,
): Decision {
  if (!head || !tags) return skip("gone");
  const at: ObjectLocation = { bucket: ref.bucket, key: ref.key, versionId: head.versionId };
  const refuse = (error: RejectionError): Decision => ({ kind: "refuse", at, tags, error, size: head.size });
  let target: Target | undefined;
  const uploaded = uploadedTo(ref, head);
  if (uploaded) {
    // Done, unless the object's own tags now name another destination: then it goes there too.
    if (!namesDestination(tags)) return skip("already-uploaded", { fileToken: uploaded.fileToken });
    try {
      target = targetOf(ref, head, tags, deps);
    } catch (err) {
      // New tags that are wrong deserve an answer; the upload that was made stays valid.
      if (err instanceof RejectionError && actionOf(ref) === "retag") return refuse(err);
      if (err instanceof RejectionError) return skip("already-uploaded", { fileToken: uploaded.fileToken });
      throw err;
    }
    if (!uploaded.target || uploaded.target === target.target) {
      return skip("already-uploaded", { fileToken: uploaded.fileToken });
    }
  }
  const stale = staleness(ref, head);
  if (stale) return skip("stale-event", { detail: stale });
  if (run.skipErrorTagged && tags[TAG_ERROR] !== undefined) return skip("error-tagged", { detail: tags[TAG_ERROR] });

  const pending = placementOf(tags[TAG_PENDING_METADATA]);
  if (pending) return { kind: "finish", at, head, tags, placement: pending };
  try {
    target ??= targetOf(ref, head, tags, deps);
    checkSize(target, deps.config);
    checkMetadata(at, head, target);
    return { kind: "upload", at, head, tags, target, replaces: uploaded?.target };
  } catch (err) {
    if (err instanceof RejectionError) return refuse(err);
    throw err;
  }
}

function targetOf(ref: ObjectRef, head: ObjectHead, tags: Tags, deps: PipelineDeps): Target {
  const { defaultTarget, defaultParent, baseAttachmentField } = deps.config;
  return resolveTarget({
    key: ref.key,
    size: head.size,
    contentType: head.contentType,
    tags,
    defaults: { target: defaultTarget, parent: defaultParent, baseField: baseAttachmentField },
  });
}

/**
 * The upload this object already had, from its metadata. A token written for another key came along with a
 * copy: this object is a new file for Lark. (A token without origin was set by hand: taken as done.)
 */
function uploadedTo(ref: ObjectRef, head: ObjectHead): { fileToken: string; target?: string } | undefined {
  const fileToken = head.metadata[META_FILE_TOKEN];
  const origin = head.metadata[META_FILE_ORIGIN];
  if (!fileToken || (origin && origin !== originOf(ref))) return undefined;
  return { fileToken, target: head.metadata[META_TARGET] };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.ceil(ms))));

/** The placement and its origin must fit beside the user's metadata in S3's 2 KB, or the write would fail after the upload. */
function checkMetadata(at: ObjectLocation, head: ObjectHead, target: Target): void {
  // Lark's file tokens run to about 27 characters; 64 keeps room to spare.
  const placement: Placement = { [META_FILE_TOKEN]: "x".repeat(64), [META_TARGET]: target.target };
  const needed = metadataBytes({ ...userMetadata(head.metadata), ...placementMetadata(at, placement) });
  if (needed > MAX_METADATA_BYTES) {
    throw new RejectionError(`the object's user metadata leaves no room for ${META_FILE_TOKEN} within S3's 2 KB`, {
      code: "metadata-too-large",
    });
  }
}

/** Whether the event announced content the key no longer holds; the newer content has its own event. */
function staleness(ref: ObjectRef, head: ObjectHead): string | undefined {
  if (ref.versionId && head.versionId && ref.versionId !== head.versionId)
    return `version ${ref.versionId} is no longer current`;
  if (ref.eTag && ref.eTag !== head.eTag) return `ETag ${ref.eTag} is no longer current`;
  if (ref.size !== undefined && ref.size !== head.size) return `size ${ref.size} is no longer current`;
  return undefined;
}

/** Lark shows a floating image of at most 20 MB. */
const FLOAT_IMAGE_MAX_BYTES = UPLOAD_ALL_MAX_BYTES;

function checkSize(target: Target, config: PipelineDeps["config"]): void {
  const { size } = target;
  if (size === 0)
    throw new RejectionError("the object is empty and Lark does not take empty files", { code: "empty-file" });
  if (target.kind === "sheet" && size > FLOAT_IMAGE_MAX_BYTES) {
    throw new RejectionError(`${size} bytes is above the ${FLOAT_IMAGE_MAX_BYTES} bytes a floating image may be`, {
      code: "too-large",
    });
  }
  if (target.import) {
    const { extension, type } = target.import;
    const max = importMaxBytes(extension, type) ?? 0;
    if (size > max) {
      throw new RejectionError(`${size} bytes is above the ${max} bytes Lark imports from .${extension} as ${type}`, {
        code: "too-large",
      });
    }
  }
  if (size > config.maxFileBytes) {
    const why =
      config.largeFiles === "reject" && size > UPLOAD_ALL_MAX_BYTES
        ? "upload_all takes at most 20971520 bytes; LARGE_FILES=chunked takes larger files"
        : "MAX_FILE_BYTES";
    throw new RejectionError(`${size} bytes is above the limit of ${config.maxFileBytes} bytes (${why})`, {
      code: "too-large",
    });
  }
}

/**
 * One object, start to end: decide from its head and tags whether and where it goes, upload its bytes,
 * and write the file_token back, or tell the user on the object why not.
 */
import type { Block } from "./blocks";
import type { Config } from "./config";
import {
  errorTagValue,
  MAX_METADATA_BYTES,
  META_FILE_ORIGIN,
  META_FILE_TOKEN,
  META_TARGET,
  metadataBytes,
  originOf,
  type Placement,
  placementMetadata,
  placementOf,
  type RejectionCode,
  type SkipReason,
  TAG_ERROR,
  TAG_IMPORT_TICKET,
  TAG_PENDING_METADATA,
  type Tags,
  ticketFor,
  ticketValue,
  userMetadata,
} from "./contract";
import { ObjectChangedError, RejectionError, TagLimitError, TransientError } from "./errors";
import { actionOf, type ObjectRef } from "./event";
import { imageSize } from "./image-info";
import { type CallCounter, newCounter } from "./lark/client";
import { importMaxBytes } from "./lark/imports";
import type { DRIVE_FILES, DriveFile, LarkFile, LarkMedia, UploadResult } from "./lark/media";
import { DRIVE_FOLDER, UPLOAD_ALL_MAX_BYTES } from "./lark/parent-types";
import { type PlacementApis, place, type Uploaded } from "./placements";
import type { RetryOptions } from "./retry";
import type { ObjectHead, ObjectLocation, OpenObject, S3Objects } from "./s3-objects";
import { namesDestination, resolveTarget, type Target } from "./target";

export type Outcome =
  | {
      kind: "uploaded";
      fileToken: string;
      size: number;
      /** `<parent_type>:<parent_node>`, as written back in `lark-target`. */
      target: string;
      route: "upload_all" | "chunked";
      calls: number;
      larkMs?: number;
      /** The destination of an earlier upload of this object, when its tags now named another one. */
      replaces?: string;
      /** Lark refused the checksum and took the file without it. */
      checksumRefused?: boolean;
      /** Grants of access that Lark refused (the document or file exists all the same). */
      shareFailures?: { member: string; error: string }[];
      /** Lark imported the file but says it left something out (its warning codes, e.g. 2001 cells truncated). */
      importWarnings?: number[];
    }
  | { kind: "skipped"; reason: SkipReason; fileToken?: string; detail?: string }
  | { kind: "rejected"; code: RejectionCode; reason: string; size?: number; larkCode?: number }
  | { kind: "failed"; error: Error; calls?: number; fileToken?: string };

export interface PipelineDeps {
  config: Pick<
    Config,
    | "maxFileBytes"
    | "largeFiles"
    | "defaultParent"
    | "defaultTarget"
    | "baseAttachmentField"
    | "maxAttempts"
    | "tagWaitMs"
    | "sharing"
  >;
  s3: S3Objects;
  lark: PlacementApis & { media: LarkMedia; driveFiles: LarkMedia<typeof DRIVE_FILES> };
}

export interface RunOptions {
  /** Epoch ms by which this object must be finished or given up. */
  deadline: number;
  onRetry?: RetryOptions["onRetry"];
  /** Told each step worth a debug line: what was decided, what Lark answered. */
  debug?: (message: string, fields: Record<string, unknown>) => void;
  /**
   * Leave objects that already carry a `lark-upload-error` tag alone (a backfill's default: they were
   * refused before and nothing has changed unless the user fixed their tags). Events always retry them.
   */
  skipErrorTagged?: boolean;
}

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
  const end = head.lastModified.getTime() + deps.config.tagWaitMs;
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

/** Never throws: every way an object can end is an Outcome. */
export async function processObject(ref: ObjectRef, deps: PipelineDeps, run: RunOptions): Promise<Outcome> {
  try {
    const decision = await decide(ref, deps, run);
    run.debug?.("decided", describeDecision(decision));
    switch (decision.kind) {
      case "done":
        return decision.outcome;
      case "refuse":
        return await reject(deps, decision.at, decision.tags, decision.error, decision.size);
      case "finish": {
        const { at, head, tags, placement } = decision;
        return (
          (await writeBack(deps, at, head, tags, placement, 0)) ?? {
            kind: "uploaded",
            fileToken: placement[META_FILE_TOKEN],
            size: head.size,
            target: placement[META_TARGET] ?? "(uploaded earlier)",
            route: routeFor(head.size),
            calls: 0,
          }
        );
      }
      case "upload":
        return await uploadAndWriteBack(deps, decision, run);
    }
  } catch (err) {
    if (err instanceof ObjectChangedError) return { kind: "skipped", reason: "stale-event", detail: err.message };
    return { kind: "failed", error: err as Error };
  }
}

async function uploadAndWriteBack(
  deps: PipelineDeps,
  decision: Extract<Decision, { kind: "upload" }>,
  run: RunOptions,
): Promise<Outcome> {
  const { at, head, target, opened } = decision;
  // The tag set as the function leaves it: an import ticket parked on the way is removed with the write-back.
  let tags = decision.tags;
  const retry: RetryOptions = { maxAttempts: deps.config.maxAttempts, deadline: run.deadline, onRetry: run.onRetry };
  const bytes = objectBytes(deps.s3, at, head, opened);
  const counter: CallCounter & { checksumRefused?: boolean } = newCounter();
  const reported: Pick<Extract<Outcome, { kind: "uploaded" }>, "shareFailures" | "importWarnings"> = {};
  let placement: Placement;
  try {
    placement = await place(deps.lark, {
      target,
      seed: `${at.bucket}/${at.key}@${head.versionId ?? head.eTag} -> ${target.target} after ${decision.replaces ?? "-"}`,
      retry,
      counter,
      upload: async (file, opts) => {
        const result = await uploadBytes(deps.lark, bytes, file, retry, opts?.imageSize ?? false);
        counter.calls += result.calls;
        counter.larkMs += result.larkMs;
        if (result.checksumRefused) counter.checksumRefused = true;
        run.debug?.("Lark took the file", { fileToken: result.fileToken, calls: result.calls, larkMs: result.larkMs });
        return result;
      },
      sharing: deps.config.sharing,
      onShareFailure: ({ member, error }) => {
        (reported.shareFailures ??= []).push({ member, error: error.message });
      },
      ticket: ticketFor(tags[TAG_IMPORT_TICKET], target.target),
      parkTicket: async (ticket) => {
        tags = await deps.s3.setOwnTag(at, tags, TAG_IMPORT_TICKET, ticketValue(ticket, target.target));
      },
      dropTicket: async () => {
        tags = await deps.s3.setOwnTag(at, tags, TAG_IMPORT_TICKET, undefined);
      },
      onImportWarnings: (codes) => {
        reported.importWarnings = codes;
      },
    });
  } catch (err) {
    if (err instanceof RejectionError) return await reject(deps, at, tags, err, head.size);
    throw err;
  } finally {
    bytes.discard();
  }
  return (
    (await writeBack(deps, at, head, tags, placement, counter.calls)) ?? {
      kind: "uploaded",
      fileToken: placement[META_FILE_TOKEN],
      size: head.size,
      target: target.target,
      route: routeFor(head.size),
      calls: counter.calls,
      larkMs: counter.larkMs,
      ...(decision.replaces ? { replaces: decision.replaces } : {}),
      ...(counter.checksumRefused ? { checksumRefused: true } : {}),
      ...reported,
    }
  );
}

/**
 * Writes the placement onto the object; undefined when that worked. Lark has the file whatever happens here,
 * so a failed write must not cost another upload: the placement is parked as a tag for the retry, and logged.
 */
async function writeBack(
  deps: PipelineDeps,
  at: ObjectLocation,
  head: ObjectHead,
  tags: Tags,
  placement: Placement,
  calls: number,
): Promise<Outcome | undefined> {
  const fileToken = placement[META_FILE_TOKEN];
  try {
    await deps.s3.writePlacement(at, head, tags, placement);
    return undefined;
  } catch (err) {
    // The object is no longer the one we uploaded: its own event will follow.
    if (err instanceof ObjectChangedError) {
      return { kind: "skipped", reason: "overwritten-during-upload", fileToken, detail: err.message };
    }
    await deps.s3.tagPending(at, tags, placement).catch(() => undefined);
    return { kind: "failed", error: err as Error, calls, fileToken };
  }
}

function describeDecision(decision: Decision): Record<string, unknown> {
  switch (decision.kind) {
    case "done":
      return { decision: decision.kind, outcome: decision.outcome.kind };
    case "refuse":
      return { decision: decision.kind, code: decision.error.code };
    case "finish":
      return { decision: decision.kind, fileToken: decision.placement[META_FILE_TOKEN] };
    case "upload":
      return {
        decision: decision.kind,
        size: decision.head.size,
        target: decision.target.target,
        name: decision.target.name,
        readAtOnce: decision.opened !== undefined,
        replaces: decision.replaces,
      };
  }
}

const routeFor = (size: number) => (size > UPLOAD_ALL_MAX_BYTES ? "chunked" : "upload_all");

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

/**
 * The object's bytes, to be read once per upload: the GetObject response already open is read first, a later
 * upload (a placement made again, a chunked flow started over) opens the object again, pinned to its ETag.
 */
function objectBytes(s3: S3Objects, at: ObjectLocation, head: ObjectHead, opened?: OpenObject) {
  let first = opened;
  return {
    async *read(blockSize: number): AsyncGenerator<Block> {
      const source = first ?? (await s3.open(at, head.eTag));
      first = undefined;
      if (!source) throw new ObjectChangedError("the object is gone");
      yield* source.blocks(blockSize);
    },
    discard: () => first?.discard(),
  };
}

/** Uploads the bytes as `file`: a Drive file through Drive's own upload, anything else as media. */
async function uploadBytes(
  lark: PipelineDeps["lark"],
  bytes: ReturnType<typeof objectBytes>,
  file: LarkFile | DriveFile,
  retry: RetryOptions,
  wantsImageSize: boolean,
): Promise<UploadResult & Uploaded> {
  let head: Block | undefined;
  const blocks = async function* (blockSize: number): AsyncGenerator<Block> {
    for await (const block of bytes.read(blockSize)) {
      head ??= block;
      yield block;
    }
  };
  const sized = (result: UploadResult): UploadResult & Uploaded => {
    const size = wantsImageSize && head ? imageSize(head.parts) : undefined;
    return size ? { ...result, imageSize: size } : result;
  };
  const uploadAll = (block: Block) =>
    file.parentType === DRIVE_FOLDER
      ? lark.driveFiles.uploadAll(file, block, retry)
      : lark.media.uploadAll(file, block, retry);
  if (file.size <= UPLOAD_ALL_MAX_BYTES) {
    // The checksum must be known before the file part is sent, so the whole object is held once.
    for await (const whole of blocks(file.size)) return sized(await uploadAll(whole));
    throw new TransientError("the object body was empty");
  }
  return sized(
    file.parentType === DRIVE_FOLDER
      ? await lark.driveFiles.uploadChunked(file, blocks, retry)
      : await lark.media.uploadChunked(file, blocks, retry),
  );
}

/**
 * Tells the user on the object. A refusal the object already shows is not written again: that write would
 * announce a tag change, which would have the object decided again, in a loop. An object that already has the
 * 10 tags S3 allows cannot be told: it is refused as `too-many-tags` (no retry can help, removing a tag does,
 * and that tag change decides it again), with the refusal it could not be given in the reason and the log.
 */
async function reject(
  deps: PipelineDeps,
  at: ObjectLocation,
  tags: Tags,
  err: RejectionError,
  size: number,
): Promise<Outcome> {
  try {
    await deps.s3.tagError(at, tags, errorTagValue(err));
  } catch (tagErr) {
    if (!(tagErr instanceof TagLimitError)) throw tagErr;
    return { kind: "rejected", code: "too-many-tags", reason: tagErr.message, size, larkCode: err.larkCode };
  }
  return { kind: "rejected", code: err.code, reason: err.reason, size, larkCode: err.larkCode };
}

/**
 * One object, start to end: decide whether and where it goes (decide.ts), upload its bytes and place the file
 * (object-bytes.ts, placements/), and write the result back, or tell the user on the object why not.
 */
import type { Config } from "./config";
import {
  errorTagValue,
  META_FILE_TOKEN,
  META_TARGET,
  type Placement,
  type RejectionCode,
  type SkipReason,
  TAG_IMPORT_TICKET,
  type Tags,
  ticketFor,
  ticketValue,
} from "./contract";
import { type Decision, decide } from "./decide";
import { ObjectChangedError, RejectionError, TagLimitError } from "./errors";
import type { ObjectRef } from "./event";
import { type CallCounter, newCounter } from "./lark/client";
import type { DRIVE_FILES, LarkMedia } from "./lark/media";
import { UPLOAD_ALL_MAX_BYTES } from "./lark/parent-types";
import { objectBytes, uploadBytes } from "./object-bytes";
import { type PlacementApis, place } from "./placements";
import type { RetryOptions } from "./retry";
import type { ObjectHead, ObjectLocation, S3Objects } from "./s3-objects";

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

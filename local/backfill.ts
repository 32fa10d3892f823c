/**
 * `npm run backfill -- s3://bucket/prefix [--dry-run] [--retry-errors]`
 *
 * Runs every object under the prefix through the same pipeline the Lambda runs for an event
 * (processObject with the runtime built from the same settings), one object at a time: objects dropped
 * before the function existed, while it was down, or whose events ended in the on-failure destination.
 * Resumable: an object that carries lark-file-token is skipped, so a second run uploads nothing twice.
 * Objects tagged lark-upload-error are left alone unless --retry-errors (e.g. after fixing their tags).
 *
 * S3 is real S3 unless AWS_ENDPOINT_URL_S3 is set; Lark is set by the function's env (LARK_APP_ID,
 * LARK_APP_SECRET…, LARK_BASE_URL). When AWS_ENDPOINT_URL_S3 is the running `npm start` stack and no
 * LARK_* is set, that stack's Lark emulator and default parent are used (from .local/dev/env.json).
 *
 * Exit code: 0 done (refusals are answers, tagged on the objects), 1 some object failed (the summary says
 * whether a rerun helps), 2 bad arguments or settings (found before listing, or a configuration problem that
 * stopped the run), 130 interrupted.
 */
import { ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { type Config, loadConfig, SECRET_VARIABLES } from "../lib/config";
import { META_FILE_TOKEN, META_TARGET, type RejectionCode, type SkipReason, TAG_ERROR } from "../lib/contract";
import { decide } from "../lib/decide";
import { ConfigurationError, Failure } from "../lib/errors";
import type { ObjectRef } from "../lib/event";
import { processObject } from "../lib/pipeline";
import { createRuntime } from "../lib/runtime";
import { createS3Client } from "../lib/s3-client";
import { Progress } from "./backfill/progress";
import { cli } from "./shared/cli";
import { formatBytes, formatMs, outcomeLine, painter, UNTOLD, wantsColor } from "./shared/format";
import { missingAwsSettings, useLocalKeysFor } from "./shared/s3-access";
import { DEFAULT_DESTINATION_VARIABLES, readStackInfo, sameEndpoint, shown, stateDir } from "./shared/state";

const USAGE = `usage: npm run backfill -- s3://BUCKET[/PREFIX] [--dry-run] [--retry-errors]

  Uploads to Lark every object under the prefix that has no lark-file-token yet, one at a time,
  with the function's own pipeline and settings (LARK_APP_ID, LARK_APP_SECRET, LARK_BASE_URL,
  LARK_DEFAULT_PARENT_TYPE/NODE, MAX_FILE_BYTES, …). Run it again to resume.

  --dry-run        list what would be done; uploads nothing, writes nothing
  --retry-errors   also retry objects tagged ${TAG_ERROR} (after fixing their tags)

  S3: real S3 with your AWS credentials, or AWS_ENDPOINT_URL_S3 (e.g. the npm start stack).
  exit code: 0 done, 1 some object failed (the summary says whether a rerun helps),
             2 bad arguments or settings, 130 interrupted`;

const out = process.stdout;
const paint = painter(wantsColor(out));
const print = (line = "") => void out.write(`${line}\n`);

const parsed = cli("backfill", USAGE, { "dry-run": { type: "boolean" }, "retry-errors": { type: "boolean" } } as const);
const args = parsed.args;
// Annotated, so that TypeScript knows a call to it does not return.
const usage: (problem?: string) => never = parsed.usage;
if (args.positionals.length !== 1)
  usage(args.positionals.length ? "one s3://bucket/prefix at a time" : "which bucket? s3://BUCKET[/PREFIX]");
const target = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(args.positionals[0]!);
if (!target) usage(`"${args.positionals[0]}" is not s3://BUCKET[/PREFIX]`);
const bucket = target[1]!;
const prefix = target[2] ?? "";
const dryRun = Boolean(args.values["dry-run"]);
const retryErrors = Boolean(args.values["retry-errors"]);

const notes: string[] = [];
// The S3 client reads its keys from the process's environment, as in Lambda.
if (useLocalKeysFor(process.env.AWS_ENDPOINT_URL_S3?.trim()))
  notes.push("S3 keys: s3rver's, for the store on this machine");
const env: Record<string, string | undefined> = { ...process.env };
useDevStackLark(env);
if (dryRun) {
  // Nothing is sent to Lark, so a dry run does not need its credentials.
  env.LARK_APP_ID ||= "dry-run";
  if (!SECRET_VARIABLES.some((v) => env[v])) env.LARK_APP_SECRET = "dry-run";
}
// Every setting that is wrong or missing is said at once, before anything is listed.
const problems: string[] = [];
let config: Config | undefined;
try {
  config = loadConfig(env);
} catch (err) {
  problems.push((err as Error).message);
}
const s3Endpoint = env.AWS_ENDPOINT_URL_S3?.trim() || undefined;
const lister = createS3Client({ endpoint: s3Endpoint });
const missing = await missingAwsSettings(lister);
if (missing.length) problems.push(`cannot call ${s3Endpoint ?? "AWS S3"}: ${missing.join("; ")}`);
if (!config || problems.length) {
  for (const problem of problems) process.stderr.write(`npm run backfill: ${problem}\n`);
  process.exit(2);
}

/** On the `npm start` stack with no Lark settings of its own, the backfill talks to that stack's emulator. */
function useDevStackLark(e: Record<string, string | undefined>): void {
  const info = readStackInfo(e);
  if (!info?.emulator || !sameEndpoint(e.AWS_ENDPOINT_URL_S3, info.s3Endpoint)) return;
  const larkSet = ["LARK_APP_ID", "LARK_BASE_URL", ...SECRET_VARIABLES].some((v) => e[v]?.trim());
  if (larkSet || !alive(info.pid)) return;
  Object.assign(e, {
    LARK_APP_ID: info.emulator.appId,
    LARK_APP_SECRET: info.emulator.appSecret,
    LARK_BASE_URL: info.emulator.baseUrl,
  });
  if (!DEFAULT_DESTINATION_VARIABLES.some((v) => e[v]?.trim())) Object.assign(e, info.defaults);
  notes.push(
    `Lark: the emulator of npm start at ${info.emulator.baseUrl} (from ${shown(stateDir(e))}/env.json; set LARK_* to override)`,
  );
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

// ---------- run ----------

type Tally = {
  uploaded: number;
  uploadedBytes: number;
  skipped: Map<string, number>;
  rejected: Map<string, number>;
  failed: { key: string; error: Error }[];
  /** Refusals the object could not be told (no room for the error tag): only this run's output says them. */
  untold: { key: string; refusal: string }[];
};
const tally: Tally = {
  uploaded: 0,
  uploadedBytes: 0,
  skipped: new Map(),
  rejected: new Map(),
  failed: [],
  untold: [],
};

const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);

let interrupted = false;
process.once("SIGINT", () => {
  interrupted = true;
  process.stderr.write("\ninterrupted: stopping after the object in hand (Ctrl-C again to quit now)\n");
  process.once("SIGINT", () => process.exit(130));
});
process.once("SIGTERM", () => (interrupted = true));

/** S3's answers to a listing that no rerun changes, and what to check. */
const SETTINGS_ERRORS: Record<string, string> = {
  NoSuchBucket: "check the bucket name",
  AccessDenied: "these credentials may not list the bucket: s3:ListBucket",
  InvalidAccessKeyId: "check your AWS credentials",
  SignatureDoesNotMatch: "check your AWS secret key",
  ExpiredToken: "your AWS session expired: sign in again",
  PermanentRedirect: "the bucket is in another region: set AWS_REGION",
  AuthorizationHeaderMalformed: "the bucket is in another region: set AWS_REGION",
};

const runtime = createRuntime(config);
const where = `s3://${bucket}/${prefix}`;
const started = Date.now();

print(`${dryRun ? "dry run of" : "backfill"} ${where}${retryErrors ? " (retrying error-tagged objects)" : ""}`);
print(`  S3: ${config.s3Endpoint ?? "AWS S3"}   Lark: ${config.larkBaseUrl}${dryRun ? " (not called)" : ""}`);
for (const note of notes) print(`  ${note}`);

let refs: ObjectRef[];
try {
  refs = await list(lister, bucket, prefix);
} catch (err) {
  const e = err as { name?: string; message?: string; code?: string };
  const settings = SETTINGS_ERRORS[e.name ?? ""];
  process.stderr.write(
    `npm run backfill: listing ${where} failed: ${e.name ?? "Error"}: ${e.message ?? e.code ?? String(err)}` +
      `${settings ? ` (${settings})` : ""}\n`,
  );
  process.exit(settings ? 2 : 1);
}
const totalBytes = refs.reduce((n, r) => n + (r.size ?? 0), 0);
print(`  ${refs.length} object(s), ${formatBytes(totalBytes)}`);

const progress = new Progress(out, refs.length, totalBytes);
let attempted = 0;
let configProblem: Error | undefined;
for (const [i, ref] of refs.entries()) {
  if (interrupted) break;
  progress.start(ref.key);
  const t0 = Date.now();
  let result: Counted;
  let line: string;
  if (dryRun) {
    const prediction = await predict(ref);
    result = counted(prediction);
    line = dryRunLine(ref, prediction);
  } else {
    const outcome = await processObject(ref, runtime, {
      // No Lambda clock here: only keeps a retry from sleeping forever.
      deadline: Date.now() + 15 * 60_000,
      skipErrorTagged: !retryErrors,
      onRetry: (err, attempt, delayMs) => {
        if (!progress.tty)
          progress.print(
            paint.dim(
              `  retrying ${ref.key} (attempt ${attempt} failed, next in ${formatMs(delayMs)}): ${err.message}`,
            ),
          );
      },
    });
    result = outcome;
    line = outcomeLine({ key: ref.key, outcome, durationMs: Date.now() - t0, size: ref.size }, paint);
  }
  attempted++;
  count(result, ref);
  const notable = result.kind === "rejected" || result.kind === "failed";
  const numbered = `${paint.dim(`[${i + 1}/${refs.length}]`)} ${line}`;
  progress.finish(ref.size ?? 0, !progress.tty || notable ? numbered : undefined);
  if (result.kind === "failed" && result.error instanceof ConfigurationError) {
    // No object is at fault: every next one would fail the same way.
    configProblem = result.error;
    break;
  }
}
progress.end();
lister.destroy();

// ---------- summary ----------

const list_ = (m: Map<string, number>) =>
  [...m.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, n]) => `${k} ${n}`)
    .join(", ");
const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
const would = dryRun ? "would " : "";
print();
print(
  `${dryRun ? "dry run" : "backfill"} of ${where}: ${refs.length} object(s), ${formatBytes(totalBytes)}, ${formatMs(Date.now() - started)}` +
    (dryRun ? ": nothing was uploaded or written" : ""),
);
print(`  ${would}upload${dryRun ? "" : "ed"} ${tally.uploaded} (${formatBytes(tally.uploadedBytes)})`);
print(
  `  ${would}skip${dryRun ? "" : "ped"} ${sum(tally.skipped)}${tally.skipped.size ? ` (${list_(tally.skipped)})` : ""}`,
);
const rejectedCount = sum(tally.rejected);
const whereTold =
  !rejectedCount || dryRun
    ? ""
    : tally.untold.length === rejectedCount
      ? ` - no room on the object for the ${TAG_ERROR} tag:`
      : ` - the reason is on each object's ${TAG_ERROR} tag${tally.untold.length ? ", except on these, which have no room for it:" : ""}`;
print(
  `  ${would}reject${dryRun ? "" : "ed"} ${rejectedCount}${tally.rejected.size ? ` (${list_(tally.rejected)})` : ""}${whereTold}`,
);
for (const u of tally.untold) print(paint.yellow(`    ${u.key}: ${u.refusal}`));
if (!dryRun || tally.failed.length) {
  print(`  ${dryRun ? "could not check" : "failed"} ${tally.failed.length}`);
  for (const f of tally.failed.slice(0, 10)) print(paint.red(`    ${f.key}: ${f.error.name}: ${f.error.message}`));
  if (tally.failed.length > 10) print(paint.red(`    … and ${tally.failed.length - 10} more`));
}
const notAttempted = refs.length - attempted;
if (notAttempted) print(`  not attempted ${notAttempted} (${configProblem ? "configuration problem" : "interrupted"})`);
if (configProblem)
  print(paint.red(`stopped: ${configProblem.message}. Fix the settings, then run the same command again.`));
const lasting = tally.failed.filter((f) => f.error instanceof Failure && f.error.kind === "permanent").length;
if (lasting) {
  print(
    `${lasting} object(s) failed on something a rerun does not change: do what its line says, then run the same command again.`,
  );
}
if (tally.failed.length > lasting && !configProblem) {
  print(
    `Run the same command again to retry the ${tally.failed.length - lasting} object(s) that failed on something passing; what is done is skipped.`,
  );
}
if (!dryRun && !retryErrors && tally.skipped.get("error-tagged")) {
  print(
    paint.dim(
      `${tally.skipped.get("error-tagged")} object(s) tagged ${TAG_ERROR} were left alone: fix their tags and add --retry-errors.`,
    ),
  );
}

process.exit(configProblem ? 2 : tally.failed.length ? 1 : interrupted ? 130 : 0);

// ---------- helpers ----------

async function list(s3: S3Client, b: string, p: string): Promise<ObjectRef[]> {
  const found: ObjectRef[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: b, Prefix: p || undefined, ContinuationToken: token }),
    );
    for (const o of page.Contents ?? []) {
      if (!o.Key) continue;
      found.push({ bucket: b, key: o.Key, eTag: o.ETag?.replace(/"/g, "") || undefined, size: o.Size });
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
    if (out.isTTY) out.write(`\r\x1b[2K  listing… ${found.length} object(s)`);
  } while (token);
  if (out.isTTY) out.write("\r\x1b[2K");
  return found;
}

/** What the summary counts of an object, whether it was processed (an Outcome) or predicted. */
type Counted =
  | { kind: "uploaded"; size: number }
  | { kind: "skipped"; reason: string }
  | { kind: "rejected"; code: RejectionCode; reason: string }
  | { kind: "failed"; error: Error };

function count(outcome: Counted, ref: ObjectRef): void {
  switch (outcome.kind) {
    case "uploaded":
      tally.uploaded++;
      tally.uploadedBytes += outcome.size;
      return;
    case "skipped":
      return void bump(tally.skipped, outcome.reason);
    case "rejected":
      if (outcome.code === UNTOLD) tally.untold.push({ key: ref.key, refusal: `${outcome.code}: ${outcome.reason}` });
      return void bump(tally.rejected, outcome.code);
    case "failed":
      tally.failed.push({ key: ref.key, error: outcome.error });
  }
}

/** What a dry run says of an object: what processObject would do, decided from the same head and tags. */
type Prediction =
  | { kind: "upload"; size: number; destination: string }
  /** Lark has the file already (an earlier metadata write failed): only that write is left. */
  | { kind: "finish"; size: number; fileToken: string; destination?: string }
  | { kind: "skip"; reason: SkipReason; detail?: string }
  | { kind: "reject"; code: RejectionCode; reason: string; size: number }
  | { kind: "unknown"; error: Error };

async function predict(ref: ObjectRef): Promise<Prediction> {
  try {
    const decision = await decide(ref, runtime, { skipErrorTagged: !retryErrors, deadline: Date.now() + 60_000 });
    switch (decision.kind) {
      case "done": {
        const { outcome } = decision;
        return outcome.kind === "skipped"
          ? { kind: "skip", reason: outcome.reason, detail: outcome.detail }
          : { kind: "unknown", error: new Error(`unexpected ${outcome.kind} outcome`) };
      }
      case "refuse":
        return { kind: "reject", code: decision.error.code, reason: decision.error.reason, size: decision.size };
      case "finish":
        return {
          kind: "finish",
          size: decision.head.size,
          fileToken: decision.placement[META_FILE_TOKEN],
          destination: decision.placement[META_TARGET],
        };
      case "upload":
        return {
          kind: "upload",
          size: decision.head.size,
          destination: decision.target.target,
        };
    }
  } catch (err) {
    return { kind: "unknown", error: err as Error };
  }
}

function counted(prediction: Prediction): Counted {
  switch (prediction.kind) {
    case "upload":
    case "finish":
      return { kind: "uploaded", size: prediction.size };
    case "skip":
      return { kind: "skipped", reason: prediction.reason };
    case "reject":
      return { kind: "rejected", code: prediction.code, reason: prediction.reason };
    case "unknown":
      return { kind: "failed", error: prediction.error };
  }
}

function dryRunLine(ref: ObjectRef, prediction: Prediction): string {
  const size = formatBytes(ref.size ?? 0);
  switch (prediction.kind) {
    case "upload":
      return `would upload  ${ref.key}  ${size}  -> ${prediction.destination}`;
    case "finish":
      return `would finish  ${ref.key}  ${size}  ${prediction.destination ? `-> ${prediction.destination}  ` : ""}Lark has it (file_token ${prediction.fileToken}): only the metadata write is left`;
    case "skip":
      return paint.dim(
        `would skip    ${ref.key}  ${size}  ${prediction.reason}${prediction.detail ? `  ${prediction.detail}` : ""}`,
      );
    case "reject":
      return paint.yellow(`would reject  ${ref.key}  ${size}  ${prediction.code}: ${prediction.reason}`);
    case "unknown":
      return paint.red(`cannot tell   ${ref.key}  ${size}  ${prediction.error.name}: ${prediction.error.message}`);
  }
}

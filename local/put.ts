/**
 * `npm run put -- <file> [--target TARGET] [--name NAME] [--key KEY] [--wait] …`
 *
 * Drops a file into the bucket with the tags the function reads, in the PutObject itself, as S3 takes them:
 * the object's event already sees them. Targets the `npm start` stack unless AWS_ENDPOINT_URL_S3 says
 * otherwise; BUCKET names the bucket (default: the stack's). With --wait it reads the answer off the object,
 * and, on the npm start stack, what npm start did (its journal): that it gave up, or refused the object
 * without room for the error tag.
 */
import { readFile, stat } from "node:fs/promises";
import { basename } from "node:path";
import { GetObjectTaggingCommand, HeadObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import {
  META_FILE_ORIGIN,
  META_FILE_TOKEN,
  placementOf,
  TAG_BASE_FIELD,
  TAG_ERROR,
  TAG_FILE_NAME,
  TAG_IMPORT_AS,
  TAG_PARENT_NODE,
  TAG_PARENT_TYPE,
  TAG_PENDING_METADATA,
  TAG_ROUTE_TOKEN,
  TAG_TARGET,
  userMetadata,
} from "../lib/contract";
import { createS3Client } from "../lib/s3-client";
import { encodeTags } from "../lib/s3-objects";
import { cli } from "./shared/cli";
import { formatBytes } from "./shared/format";
import { type JournalEntry, JournalReader, journalPath } from "./shared/journal";
import { missingAwsSettings, useLocalKeysFor } from "./shared/s3-access";
import {
  backfillCommand,
  DEFAULT_BUCKET,
  DEFAULT_S3_PORT,
  readStackInfo,
  sameEndpoint,
  stateDir,
} from "./shared/state";

const WAIT_MS = 60_000;

const USAGE = `usage: npm run put -- <file> [--target TARGET] [--name NAME] [--key KEY] [--wait] [more tags below]

  --target TARGET      tag ${TAG_TARGET}: where the file goes in Lark
                         docx:<document_id>                          a block at the end of a document
                         base:<app_token>/<table_id>                 a new record of a base's table
                         sheet:<spreadsheet_token>/<sheet_id>/<cell> an image over a cell of a sheet
                         import:<folder_token>, or import:           a new Lark document made from the file
                         folder:<folder_token>                       a file in a Drive folder
  --base-field FIELD   tag ${TAG_BASE_FIELD} (base: the attachment field; default Attachment)
  --import-as KIND     tag ${TAG_IMPORT_AS} (import: docx, sheet or bitable)
  --name NAME          tag ${TAG_FILE_NAME} (the name in Lark; default: the key's last segment)
  --key KEY            object key (default: the file's name)
  --parent-type TYPE   tag ${TAG_PARENT_TYPE}, with --parent-node NODE (tag ${TAG_PARENT_NODE}): upload_all's own parent
  --route-token TOKEN  tag ${TAG_ROUTE_TOKEN}
  --wait               wait (up to ${WAIT_MS / 1000} s) for the function's answer and print it; exit 1 unless uploaded

env: AWS_ENDPOINT_URL_S3 (default: the npm start stack, http://127.0.0.1:$S3_PORT), BUCKET (default: its bucket, ${DEFAULT_BUCKET})`;

const parsed = cli("put", USAGE, {
  target: { type: "string" },
  "base-field": { type: "string" },
  "import-as": { type: "string" },
  name: { type: "string" },
  key: { type: "string" },
  "parent-type": { type: "string" },
  "parent-node": { type: "string" },
  "route-token": { type: "string" },
  wait: { type: "boolean" },
} as const);
const args = parsed.args;
// Annotated, so that TypeScript knows a call to it does not return.
const usage: (problem?: string) => never = parsed.usage;
if (args.positionals.length !== 1) usage(args.positionals.length ? "one file at a time" : "which file?");
const file = args.positionals[0]!;
const fileStat = await stat(file).catch(() => undefined);
if (!fileStat?.isFile()) usage(`${file} is not a file`);

const key = args.values.key ?? basename(file);
if (!key || key.startsWith("/")) usage(`bad key "${key}"`);
const tags: Record<string, string> = {};
const tagOptions = {
  target: TAG_TARGET,
  "base-field": TAG_BASE_FIELD,
  "import-as": TAG_IMPORT_AS,
  name: TAG_FILE_NAME,
  "parent-type": TAG_PARENT_TYPE,
  "parent-node": TAG_PARENT_NODE,
  "route-token": TAG_ROUTE_TOKEN,
} as const;
for (const [option, tag] of Object.entries(tagOptions)) {
  const value = args.values[option as keyof typeof tagOptions];
  if (value !== undefined) tags[tag] = value;
}

const env = process.env;
const stack = readStackInfo();
const endpoint =
  env.AWS_ENDPOINT_URL_S3?.trim() || stack?.s3Endpoint || `http://127.0.0.1:${env.S3_PORT?.trim() || DEFAULT_S3_PORT}`;
const onStack = stack && sameEndpoint(endpoint, stack.s3Endpoint) ? stack : undefined;
const bucket = env.BUCKET?.trim() || onStack?.bucket || DEFAULT_BUCKET;
useLocalKeysFor(endpoint);
const s3 = createS3Client({ endpoint });
const where = `s3://${bucket}/${key}`;

const missing = await missingAwsSettings(s3);
if (missing.length) {
  process.stderr.write(`npm run put: cannot call ${endpoint}: ${missing.join("; ")}\n`);
  process.exit(2);
}

try {
  const out = await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      // Read whole, so that the SDK can retry the PUT (S3 throttles; a stream is sent once).
      Body: await readFile(file),
      ...(Object.keys(tags).length ? { Tagging: encodeTags(tags) } : {}),
    }),
  );
  const tagText = Object.keys(tags).length
    ? `  tags ${Object.entries(tags)
        .map(([k, v]) => `${k}=${v}`)
        .join(" ")}`
    : "  (no tags)";
  console.log(`put ${where}  ${formatBytes(fileStat.size)}  ETag ${out.ETag ?? "?"}${tagText}`);
  if (args.values.wait) process.exitCode = await waitForAnswer((out.ETag ?? "").replace(/"/g, ""));
} catch (err) {
  const e = err as { name?: string; message?: string; code?: string };
  const hint = e.code === "ECONNREFUSED" ? ` (nothing listens at ${endpoint}: is npm start running?)` : "";
  process.stderr.write(`npm run put: ${where}: ${e.name ?? "Error"}: ${e.message}${hint}\n`);
  process.exitCode = 1;
} finally {
  s3.destroy();
}

/**
 * Polls until the object shows the function's answer (its token, an error tag, a parked write), or npm start's
 * journal says what the object cannot: it gave up, or refused without room for the tag. The exit code.
 */
async function waitForAnswer(eTag: string): Promise<number> {
  const journal = onStack && new JournalReader(journalPath(stateDir()));
  for (const end = Date.now() + WAIT_MS; Date.now() < end; ) {
    await new Promise((r) => setTimeout(r, 250));
    // Read before the object: what the journal says happened is already on the object, if it can be.
    const entries = (journal ? journal.next() : []).filter(
      (e) => e.bucket === bucket && e.key === key && e.eTag === eTag,
    );
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    const metadata = head.Metadata ?? {};
    if (metadata[META_FILE_TOKEN]) {
      const mine = userMetadata(metadata);
      const written = Object.entries(metadata).filter(([k]) => !(k in mine) && k !== META_FILE_ORIGIN);
      console.log(`uploaded: ${written.map(([k, v]) => `${k}=${v}`).join(" ")}`);
      return 0;
    }
    const now = await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key }));
    const tag = (name: string) => now.TagSet?.find((t) => t.Key === name)?.Value;
    const error = tag(TAG_ERROR);
    if (error) {
      console.log(`refused: ${TAG_ERROR}=${error}`);
      return 1;
    }
    const pending = placementOf(tag(TAG_PENDING_METADATA));
    if (pending) {
      console.log(
        `Lark took the file (${META_FILE_TOKEN}=${pending[META_FILE_TOKEN]}), but writing it onto the object failed: ` +
          `the function's retry writes it without uploading again (tag ${TAG_PENDING_METADATA})`,
      );
      return 1;
    }
    for (const entry of entries) {
      const said = answer(entry);
      if (said === undefined) continue;
      console.log(said);
      if (entry.outcome !== "failed") return 1;
    }
  }
  const who = onStack ? "npm start's terminal says why" : "is the function running on this bucket?";
  console.log(`no answer on the object after ${WAIT_MS / 1000} s (${who})`);
  return 1;
}

/** What npm start's journal entry tells the user waiting on the object; undefined when nothing worth saying. */
function answer(entry: JournalEntry): string | undefined {
  switch (entry.outcome) {
    case "failed":
      return `npm start: the function failed (${entry.reason}); it tries again`;
    case "given-up":
      return (
        `npm start gave up after ${entry.attempts} attempt(s): ${entry.reason}\n` +
        `  On AWS the event would go to the on-failure destination. To try again` +
        `${onStack?.emulator ? "" : " (with the LARK_* settings of npm start)"}: ${backfillCommand(onStack!, key)}`
      );
    case "rejected":
      return `refused: ${entry.code}: ${entry.reason} (not on the object: no room for the ${TAG_ERROR} tag)`;
    case "skipped":
      return entry.code === "already-uploaded" ? undefined : `npm start skipped it: ${entry.code}`;
    case "uploaded":
      return undefined;
  }
}

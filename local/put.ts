/**
 * `npm run put -- <file> [--key K] [--parent-type T --parent-node N] [--name NAME] [--route-token R] [--wait]`
 *
 * Drops a file into the bucket with the tags the function reads. Targets the local stack of `npm start`
 * unless AWS_ENDPOINT_URL_S3 says otherwise; BUCKET (default inbox) names the bucket.
 * The tags go with the PutObject (as S3 takes them, so the event already sees them); s3rver ignores that
 * header, so when the tags are not on the object afterwards they are written with PutObjectTagging
 * right away (npm start holds each event a moment for that).
 */
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { basename } from "node:path";
import {
  GetObjectTaggingCommand,
  HeadObjectCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
} from "@aws-sdk/client-s3";
import {
  META_FILE_TOKEN,
  TAG_ERROR,
  TAG_FILE_NAME,
  TAG_PARENT_NODE,
  TAG_PARENT_TYPE,
  TAG_ROUTE_TOKEN,
} from "../lib/contract";
import { createS3Client } from "../lib/s3-client";
import { encodeTags, toTagSet } from "../lib/s3-objects";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "./local-s3";
import { cli } from "./shared/cli";
import { formatBytes } from "./shared/format";
import { DEFAULT_BUCKET, DEFAULT_S3_PORT, isLocalEndpoint } from "./shared/state";

const USAGE = `usage: npm run put -- <file> [--key KEY] [--parent-type TYPE --parent-node NODE] [--name NAME] [--route-token TOKEN] [--wait]

  --key KEY            object key (default: the file's name)
  --parent-type TYPE   tag lark-parent-type, e.g. docx_file
  --parent-node NODE   tag lark-parent-node, e.g. doxcn…
  --name NAME          tag lark-file-name (the name in Lark; default: the key's last segment)
  --route-token TOKEN  tag lark-drive-route-token
  --wait               wait (up to 60 s) for the function's answer on the object and print it

env: AWS_ENDPOINT_URL_S3 (default http://127.0.0.1:$S3_PORT, the npm start stack), BUCKET (default ${DEFAULT_BUCKET})`;

const parsed = cli("put", USAGE, {
  key: { type: "string" },
  "parent-type": { type: "string" },
  "parent-node": { type: "string" },
  name: { type: "string" },
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
const set = (tag: string, value: string | undefined) => value !== undefined && (tags[tag] = value);
set(TAG_PARENT_TYPE, args.values["parent-type"]);
set(TAG_PARENT_NODE, args.values["parent-node"]);
set(TAG_FILE_NAME, args.values.name);
set(TAG_ROUTE_TOKEN, args.values["route-token"]);

const env = process.env;
const endpoint = env.AWS_ENDPOINT_URL_S3?.trim() || `http://127.0.0.1:${env.S3_PORT?.trim() || DEFAULT_S3_PORT}`;
const local = isLocalEndpoint(endpoint);
const bucket = env.BUCKET?.trim() || DEFAULT_BUCKET;
const s3 = createS3Client({
  endpoint,
  // A local stack needs no real credentials: s3rver's are used unless some are set.
  ...(local && !env.AWS_ACCESS_KEY_ID ? { credentials: LOCAL_CREDENTIALS } : {}),
  ...(local && !env.AWS_REGION && !env.AWS_DEFAULT_REGION ? { region: LOCAL_REGION } : {}),
});

const tagging = encodeTags(tags);
const where = `s3://${bucket}/${key}`;
try {
  const out = await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: createReadStream(file),
      ContentLength: fileStat.size,
      ...(tagging ? { Tagging: tagging } : {}),
    }),
  );
  if (tagging) {
    const now = await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key }));
    if (!(now.TagSet ?? []).length) {
      await s3.send(
        new PutObjectTaggingCommand({
          Bucket: bucket,
          Key: key,
          Tagging: { TagSet: toTagSet(tags) },
        }),
      );
    }
  }
  const tagText = Object.keys(tags).length
    ? `  tags ${Object.entries(tags)
        .map(([k, v]) => `${k}=${v}`)
        .join(" ")}`
    : "  (no tags)";
  console.log(`put ${where}  ${formatBytes(fileStat.size)}  ETag ${out.ETag ?? "?"}${tagText}`);
  if (args.values.wait) await waitForAnswer();
} catch (err) {
  const e = err as { name?: string; message?: string; code?: string };
  const hint = e.code === "ECONNREFUSED" ? ` (nothing listens at ${endpoint}: is npm start running?)` : "";
  process.stderr.write(`npm run put: ${where}: ${e.name ?? "Error"}: ${e.message}${hint}\n`);
  process.exitCode = 1;
} finally {
  s3.destroy();
}

/** Polls the object until the function wrote its token or its error tag. */
async function waitForAnswer(): Promise<void> {
  for (const end = Date.now() + 60_000; Date.now() < end; ) {
    await new Promise((r) => setTimeout(r, 250));
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    const token = head.Metadata?.[META_FILE_TOKEN];
    if (token) return void console.log(`uploaded: ${META_FILE_TOKEN}=${token}`);
    const now = await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key }));
    const error = now.TagSet?.find((t) => t.Key === TAG_ERROR)?.Value;
    if (error) {
      console.log(`refused: ${TAG_ERROR}=${error}`);
      process.exitCode = 1;
      return;
    }
  }
  console.log("no answer on the object after 60 s (is npm start running? see its terminal)");
  process.exitCode = 1;
}

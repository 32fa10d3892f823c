/**
 * `npm start`: the whole thing on a laptop. s3rver plays S3 (state in `.local/dev/`), the Lark emulator
 * plays Lark (unless LARK_APP_ID/LARK_APP_SECRET point at a real app), and every object created in the
 * bucket is handed, as the notification AWS would send, to the real handler from lib/handler.ts: the
 * same code path as the Lambda, invoked one event at a time like a function with reserved concurrency 1,
 * with Lambda's two async retries and a note where the on-failure destination would take over.
 *
 * Env: S3_PORT (4569), LARK_EMULATOR_PORT (9876), BUCKET (inbox), DEV_STATE_DIR (.local/dev),
 * DEV_EVENT_DELAY_MS (300), DEV_RETRY_DELAY_MS (2000), DEV_FUNCTION_TIMEOUT_S (120), and every setting the
 * function reads (lib/config.ts).
 */
import { randomUUID } from "node:crypto";
import { createWriteStream, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { type Config, intSetting, loadConfig, SECRET_VARIABLES } from "../lib/config";
import { createHandler, type ObjectReport } from "../lib/handler";
import { createLogger } from "../lib/log";
import { createRuntime } from "../lib/runtime";
import { decodeS3Key } from "../lib/s3-keys";
import { secretReader } from "../lib/secret";
import { type LarkEmulator, startLarkEmulator } from "./lark-emulator";
import {
  type AwsS3Record,
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  type LocalS3,
  startLocalS3,
  useLocalCredentials,
} from "./local-s3";
import { clock, formatMs, outcomeLine, painter, wantsColor } from "./shared/format";
import {
  DEFAULT_BUCKET,
  DEFAULT_LARK_EMULATOR_PORT,
  DEFAULT_S3_PORT,
  DEMO_PARENT,
  type DevStackInfo,
  shown,
  stateDir,
} from "./shared/state";

/** Lambda retries a failed asynchronous invocation twice before the on-failure destination. */
const LAMBDA_ASYNC_RETRIES = 2;

const print = (line = "") => void process.stdout.write(`${line}\n`);
const paint = painter(wantsColor(process.stdout));

function fail(message: string, exitCode: number): never {
  process.stderr.write(`npm start: ${message}\n`);
  process.exit(exitCode);
}

function intEnv(name: string, fallback: number, min: number, max: number): number {
  try {
    return intSetting(process.env, name, { fallback, min, max });
  } catch (err) {
    fail((err as Error).message, 2);
  }
}

const s3Port = intEnv("S3_PORT", DEFAULT_S3_PORT, 1, 65535);
const larkPort = intEnv("LARK_EMULATOR_PORT", DEFAULT_LARK_EMULATOR_PORT, 1, 65535);
const bucket = process.env.BUCKET?.trim() || DEFAULT_BUCKET;
if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket))
  fail(`BUCKET must be a valid S3 bucket name, got "${bucket}"`, 2);
// s3rver announces an object on PutObject, before the writer's PutObjectTagging (S3 takes the tags with
// the PutObject; s3rver ignores that header). Were the event handled at once, the function would read
// the object untagged. So each event is held this long, per key, before it is handed to the function.
const eventDelayMs = intEnv("DEV_EVENT_DELAY_MS", 300, 0, 60_000);
// Lambda waits about 1 then 2 minutes between async retries; a laptop does not want to.
const retryDelayMs = intEnv("DEV_RETRY_DELAY_MS", 2000, 0, 600_000);
// The deployed function's timeout (serverless.yml custom.timeout): the handler keeps time against it.
const timeoutMs = intEnv("DEV_FUNCTION_TIMEOUT_S", 120, 1, 900) * 1000;

const dir = stateDir();
const s3Dir = join(dir, "s3");
const functionLogPath = join(dir, "function.log");
const emulatorLogPath = join(dir, "emulator.log");
const infoPath = join(dir, "env.json");

const realLark = Boolean(process.env.LARK_APP_ID?.trim() || SECRET_VARIABLES.some((v) => process.env[v]?.trim()));

// ---------- configuration, before anything starts ----------

const fnEnv: Record<string, string | undefined> = { ...process.env };
if (realLark) {
  // Validate now with placeholders for what only exists once the servers run.
  checkConfig({ ...fnEnv, AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${s3Port}` });
  // The local S3 needs this process's AWS credentials to be s3rver's, so a secret kept in SSM or
  // Secrets Manager is read once now, with the user's own credentials, and passed on as a value.
  if (!process.env.LARK_APP_SECRET) {
    const config = loadConfig(fnEnv);
    try {
      fnEnv.LARK_APP_SECRET = await secretReader(config.appSecret)();
    } catch (err) {
      fail(`could not read the Lark app secret: ${(err as Error).message}`, 1);
    }
    delete fnEnv.LARK_APP_SECRET_SSM_PARAMETER;
    delete fnEnv.LARK_APP_SECRET_SECRET_ID;
  }
} else {
  if (!fnEnv.LARK_DEFAULT_PARENT_TYPE?.trim() && !fnEnv.LARK_DEFAULT_PARENT_NODE?.trim()) {
    fnEnv.LARK_DEFAULT_PARENT_TYPE = DEMO_PARENT.type;
    fnEnv.LARK_DEFAULT_PARENT_NODE = DEMO_PARENT.node;
  }
  checkConfig({
    ...fnEnv,
    AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${s3Port}`,
    LARK_APP_ID: "x",
    LARK_APP_SECRET: "x",
    LARK_BASE_URL: "http://127.0.0.1:1",
  });
}

function checkConfig(env: Record<string, string | undefined>): Config {
  try {
    return loadConfig(env);
  } catch (err) {
    fail((err as Error).message, 2);
  }
}

// ---------- the servers ----------

await portFree(s3Port, "S3_PORT", "the local S3");
if (!realLark) await portFree(larkPort, "LARK_EMULATOR_PORT", "the Lark emulator");

mkdirSync(s3Dir, { recursive: true });
const functionLog = createWriteStream(functionLogPath, { flags: "a" });
const emulatorLog = realLark ? undefined : createWriteStream(emulatorLogPath, { flags: "a" });

let localS3: LocalS3 | undefined;
let emulator: LarkEmulator | undefined;
try {
  localS3 = await startLocalS3({ directory: s3Dir, port: s3Port, buckets: [bucket] });
  if (!realLark) {
    emulator = await startLarkEmulator({ port: larkPort, log: (line) => emulatorLog!.write(`${line}\n`) });
  }
} catch (err) {
  await closeServers();
  fail(`could not start the local stack: ${(err as Error).message}`, 1);
}
const endpoint = localS3.endpoint;

useLocalCredentials();
Object.assign(fnEnv, { AWS_ENDPOINT_URL_S3: endpoint });
if (emulator)
  Object.assign(fnEnv, {
    LARK_APP_ID: emulator.appId,
    LARK_APP_SECRET: emulator.appSecret,
    LARK_BASE_URL: emulator.url,
  });

let config: Config;
try {
  config = loadConfig(fnEnv);
} catch (err) {
  await closeServers();
  fail((err as Error).message, 2);
}

const runtime = createRuntime(config);
const handler = createHandler({
  runtime: () => runtime,
  // The handler's JSON logs and EMF metric lines are too noisy for a terminal: function.log plays CloudWatch Logs.
  logger: createLogger({ service: "upload-to-lark" }, { write: (line) => functionLog.write(`${line}\n`) }),
  writeMetrics: (line) => functionLog.write(`${line}\n`),
  onReport: report,
});

const info: DevStackInfo = {
  s3Endpoint: endpoint,
  bucket,
  region: LOCAL_REGION,
  ...(emulator ? { emulator: { baseUrl: emulator.url, appId: emulator.appId, appSecret: emulator.appSecret } } : {}),
  ...(config.defaultParent ? { defaultParent: config.defaultParent } : {}),
  pid: process.pid,
};
writeFileSync(infoPath, `${JSON.stringify(info, null, 2)}\n`);

// ---------- events -> handler, one at a time ----------

type Notification = { Records: AwsS3Record[] };

let stopping = false;
let chain: Promise<void> = Promise.resolve();
const held = new Map<string, NodeJS.Timeout>();
const retries = new Set<NodeJS.Timeout>();
/** The records of the invocation running now, by decoded key: their size and event name for the outcome line. */
let running = new Map<string, AwsS3Record>();
/** The file_token this session's function wrote on each key: recognises its own metadata copy. */
const written = new Map<string, string>();

localS3.onObjectCreated((notification) => {
  if (stopping) return;
  for (const record of notification.Records) {
    // Per-key debounce: a newer event for the same key within the delay replaces the held one (it
    // would find the newer content anyway, or be a duplicate of it).
    const id = `${record.s3.bucket.name}/${record.s3.object.key}`;
    clearTimeout(held.get(id));
    held.set(
      id,
      setTimeout(() => {
        held.delete(id);
        enqueue({ Records: [record] }, 1);
      }, eventDelayMs),
    );
  }
});

function enqueue(event: Notification, attempt: number): void {
  if (stopping) return;
  chain = chain
    .then(() => invoke(event, attempt))
    // The queue must go on whatever happens to one event.
    .catch((err) => print(paint.red(`${clock()}  runner error: ${(err as Error).stack ?? err}`)));
}

async function invoke(event: Notification, attempt: number): Promise<void> {
  if (stopping) return;
  running = new Map(event.Records.map((r) => [safeDecode(r.s3.object.key), r]));
  try {
    const end = Date.now() + timeoutMs;
    await handler(event, {
      awsRequestId: randomUUID(),
      functionName: "upload-to-lark",
      getRemainingTimeInMillis: () => Math.max(0, end - Date.now()),
    });
  } catch (err) {
    const message = (err as Error).message;
    if (attempt <= LAMBDA_ASYNC_RETRIES) {
      const delay = retryDelayMs * attempt;
      print(paint.red(`${clock()}  invocation failed (attempt ${attempt} of ${LAMBDA_ASYNC_RETRIES + 1}): ${message}`));
      print(paint.red(`          Lambda would retry it; retrying in ${formatMs(delay)}`));
      const timer = setTimeout(() => {
        retries.delete(timer);
        enqueue(event, attempt + 1);
      }, delay);
      retries.add(timer);
    } else {
      print(paint.red(`${clock()}  invocation failed (attempt ${attempt} of ${LAMBDA_ASYNC_RETRIES + 1}): ${message}`));
      print(
        paint.red(
          `          gave up: on AWS this event would go to the on-failure destination. Redrive: npm run backfill -- s3://${bucket}/`,
        ),
      );
    }
  } finally {
    running = new Map();
  }
}

function report(r: ObjectReport): void {
  const record = running.get(r.key);
  const id = `${r.bucket}/${r.key}`;
  const { outcome } = r;
  if (outcome.kind === "uploaded") written.set(id, outcome.fileToken);
  // The function's metadata write is a CopyObject onto the object itself, which S3 announces like any
  // other new object; the function then finds its own token and skips. Expected, so shown dimmed.
  const own =
    outcome.kind === "skipped" &&
    outcome.reason === "already-uploaded" &&
    record?.eventName === "ObjectCreated:Copy" &&
    written.get(id) === outcome.fileToken;
  print(
    outcomeLine(
      {
        key: r.bucket === bucket ? r.key : `s3://${r.bucket}/${r.key}`,
        outcome: own ? { kind: "skipped", reason: "already-uploaded" } : outcome,
        durationMs: r.durationMs,
        size: record?.s3.object.size,
        note: own ? "the event of the function's own metadata write" : undefined,
        quiet: own,
      },
      paint,
    ),
  );
}

function safeDecode(key: string): string {
  try {
    return decodeS3Key(key);
  } catch {
    return key;
  }
}

// ---------- banner ----------

const ep = endpoint;
const s3Line = `S3 (s3rver)     ${ep}   bucket ${bucket}   objects in ${shown(s3Dir)}/`;
print(paint.bold("s3-to-lark: local stack"));
print(`  ${s3Line}`);
if (emulator) {
  print(`  Lark emulator   ${emulator.url}   app ${emulator.appId}   request log ${shown(emulatorLogPath)}`);
  if (process.env.LARK_BASE_URL?.trim())
    print(
      paint.yellow(
        `                  (LARK_BASE_URL is ignored: without LARK_APP_ID and LARK_APP_SECRET the emulator is used)`,
      ),
    );
} else {
  print(`  Lark            ${config.larkBaseUrl}   app ${config.appId}   (REAL Lark: the emulator is not started)`);
}
print(
  `  function        lib/handler.ts on every object created in s3://${bucket}, one event at a time, ${LAMBDA_ASYNC_RETRIES} retries`,
);
print(`                  JSON logs and metrics -> ${shown(functionLogPath)}`);
if (config.defaultParent) {
  const demo =
    emulator && config.defaultParent.node === DEMO_PARENT.node ? " (a made-up node the emulator accepts)" : "";
  print(`                  untagged files go to ${config.defaultParent.type}/${config.defaultParent.node}${demo}`);
} else {
  print(
    paint.yellow(
      `                  no default parent: an untagged file is refused (lark-upload-error: missing-parent).`,
    ),
  );
  print(
    paint.yellow(
      `                  Tag files with lark-parent-type/lark-parent-node, or set LARK_DEFAULT_PARENT_TYPE and LARK_DEFAULT_PARENT_NODE.`,
    ),
  );
}
print();
print(paint.bold("Drop a file in:"));
print(`  npm run put -- ./file.pdf [--parent-type docx_file --parent-node doxcn…] [--name NAME] [--key KEY]`);
print(`  aws --endpoint-url ${ep} s3 cp ./file.pdf s3://${bucket}/`);
print(
  `  aws --endpoint-url ${ep} s3api put-object-tagging --bucket ${bucket} --key file.pdf ` +
    `--tagging 'TagSet=[{Key=lark-parent-type,Value=docx_file},{Key=lark-parent-node,Value=doxcn…}]'`,
);
print(
  paint.dim(
    `    (tags count only if set within ${eventDelayMs} ms of the upload, when the function reads them: npm run put does that;`,
  ),
);
print(paint.dim(`     for the two aws commands chained with &&, start with DEV_EVENT_DELAY_MS=3000)`));
print(`In another shell, paste:`);
print(
  `  export AWS_ENDPOINT_URL_S3=${ep} AWS_ACCESS_KEY_ID=${LOCAL_CREDENTIALS.accessKeyId} AWS_SECRET_ACCESS_KEY=${LOCAL_CREDENTIALS.secretAccessKey} AWS_REGION=${LOCAL_REGION} BUCKET=${bucket}`,
);
print(
  paint.dim(`  (then aws s3 … needs no --endpoint-url, and npm run backfill -- s3://${bucket}/ reaches this stack)`),
);
if (emulator) print(`What the emulator received:  curl ${emulator.url}/__emulator/files`);
print();
print(paint.bold(`ready: watching s3://${bucket} (Ctrl-C to stop)`));

// ---------- shutdown ----------

process.once("SIGINT", () => void shutdown("SIGINT"));
process.once("SIGTERM", () => void shutdown("SIGTERM"));

async function shutdown(signal: string): Promise<void> {
  // A second Ctrl-C does not wait for anything.
  process.once("SIGINT", () => process.exit(130));
  stopping = true;
  const dropped = held.size + retries.size;
  for (const t of held.values()) clearTimeout(t);
  for (const t of retries) clearTimeout(t);
  print(
    paint.dim(
      `${clock()}  ${signal}: stopping${dropped ? ` (${dropped} pending event(s) dropped: npm run backfill picks them up)` : ""}`,
    ),
  );
  // Let an upload in flight finish (bounded), then close the servers.
  await Promise.race([chain, sleep(5000)]);
  await closeServers();
  rmSync(infoPath, { force: true });
  await Promise.race([new Promise((r) => functionLog.end(r)), sleep(1000)]);
  process.exit(0);
}

async function closeServers(): Promise<void> {
  await Promise.race([Promise.allSettled([localS3?.close(), emulator?.close()]), sleep(3000)]);
  emulatorLog?.end();
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

/** s3rver does not report a busy port (it throws from an unhandled 'error' event), so check first. */
async function portFree(port: number, envName: string, what: string): Promise<void> {
  const problem = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
    const probe = createServer();
    probe.once("error", (err) => resolve(err));
    probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(undefined)));
  });
  if (!problem) return;
  if (problem.code === "EADDRINUSE") {
    fail(
      `port ${port} for ${what} is already in use (another npm start?). Stop what holds it, or pick another port: ${envName}=<port> npm start`,
      1,
    );
  }
  fail(`cannot listen on 127.0.0.1:${port} for ${what} (${envName}): ${problem.message}`, 1);
}

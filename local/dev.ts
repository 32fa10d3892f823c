/**
 * `npm start`: the whole thing on a laptop. s3rver plays S3 (state in `.local/dev/`), the Lark emulator
 * plays Lark with a demo document, base and spreadsheet (unless LARK_APP_ID/LARK_APP_SECRET point at a real
 * app), and the bucket's events are handed, as the notifications AWS would send, to the real handler from
 * lib/handler.ts: the same code path as the Lambda, invoked one event at a time like a function with reserved
 * concurrency 1, with Lambda's two async retries and a note where the on-failure destination would take over.
 * The events handed over are those the function acts on: objects created, and tags put.
 *
 * Env: S3_PORT (4569), LARK_EMULATOR_PORT (9876), LARK_EMULATOR_VIEW_PORT (9877), BUCKET (inbox), DEV_STATE_DIR (.local/dev),
 * DEV_RETRY_DELAY_MS (2000), DEV_FUNCTION_TIMEOUT_S (120), and every setting the function reads (lib/config.ts).
 */
import { randomUUID } from "node:crypto";
import { createWriteStream, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { type Config, intSetting, loadConfig, SECRET_VARIABLES } from "../lib/config";
import { TAG_TARGET } from "../lib/contract";
import { createHandler, type ObjectReport } from "../lib/handler";
import { createLogger } from "../lib/log";
import { createRuntime } from "../lib/runtime";
import { createS3Client } from "../lib/s3-client";
import { decodeS3Key } from "../lib/s3-keys";
import { secretReader } from "../lib/secret";
import { destinationText } from "../lib/target";
import { banner } from "./dev/banner";
import { EchoDetector } from "./dev/echoes";
import { addDemoFixtures, DEMO_DEFAULT_TARGET, type DemoTarget } from "./dev/fixtures";
import { type Backlog, InvocationQueue, LAMBDA_ASYNC_RETRIES } from "./dev/queue";
import { countUnanswered } from "./dev/unanswered";
import { type LarkEmulator, startLarkEmulator } from "./lark-emulator";
import {
  type AwsNotification,
  type AwsS3Record,
  LOCAL_REGION,
  type LocalS3,
  startLocalS3,
  useLocalCredentials,
} from "./local-s3";
import { clock, formatMs, outcomeLine, painter, UNTOLD, wantsColor } from "./shared/format";
import { JournalWriter, journalPath } from "./shared/journal";
import {
  backfillCommand,
  DEFAULT_BUCKET,
  DEFAULT_DESTINATION_VARIABLES,
  DEFAULT_LARK_EMULATOR_PORT,
  DEFAULT_LARK_EMULATOR_VIEW_PORT,
  DEFAULT_S3_PORT,
  type DevStackInfo,
  shown,
  stateDir,
} from "./shared/state";

const print = (line = "") => void process.stdout.write(`${line}\n`);
const paint = painter(wantsColor(process.stdout));
/** Continuation lines sit under the text of a timed line (`14:02:11  `). */
const INDENT = " ".repeat(10);

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
const viewPort = intEnv("LARK_EMULATOR_VIEW_PORT", DEFAULT_LARK_EMULATOR_VIEW_PORT, 1, 65535);
const bucket = process.env.BUCKET?.trim() || DEFAULT_BUCKET;
if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket))
  fail(`BUCKET must be a valid S3 bucket name, got "${bucket}"`, 2);
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
  if (!DEFAULT_DESTINATION_VARIABLES.some((v) => fnEnv[v]?.trim())) fnEnv.LARK_DEFAULT_TARGET = DEMO_DEFAULT_TARGET;
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
if (!realLark) {
  await portFree(larkPort, "LARK_EMULATOR_PORT", "the Lark emulator");
  await portFree(viewPort, "LARK_EMULATOR_VIEW_PORT", "the Lark emulator's web view");
}

mkdirSync(s3Dir, { recursive: true });
const functionLog = createWriteStream(functionLogPath, { flags: "a" });
const emulatorLog = realLark ? undefined : createWriteStream(emulatorLogPath, { flags: "a" });

let localS3: LocalS3 | undefined;
let emulator: LarkEmulator | undefined;
try {
  localS3 = await startLocalS3({ directory: s3Dir, port: s3Port, buckets: [bucket] });
  if (!realLark) {
    emulator = await startLarkEmulator({
      port: larkPort,
      viewPort,
      log: (line) => emulatorLog!.write(`${line}\n`),
    });
  }
} catch (err) {
  await closeServers();
  fail(`could not start the local stack: ${(err as Error).message}`, 1);
}
const endpoint = localS3.endpoint;
const demoTargets: DemoTarget[] = emulator ? addDemoFixtures(emulator) : [];

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
/** Where an untagged file goes, in the order the function looks: the default target, else the default parent. */
const defaultDestination = config.defaultTarget
  ? destinationText(config.defaultTarget)
  : config.defaultParent && `${config.defaultParent.type}:${config.defaultParent.node}`;
const handler = createHandler({
  runtime: () => runtime,
  // The handler's JSON logs and EMF metric lines are too noisy for a terminal: function.log plays CloudWatch Logs.
  logger: createLogger({ service: "upload-to-lark" }, { write: (line) => functionLog.write(`${line}\n`) }),
  writeMetrics: (line) => functionLog.write(`${line}\n`),
  onReport: report,
});
const s3 = createS3Client({ endpoint });
const journal = new JournalWriter(journalPath(dir));

const info: DevStackInfo = {
  s3Endpoint: endpoint,
  bucket,
  region: LOCAL_REGION,
  ...(emulator ? { emulator: { baseUrl: emulator.url, appId: emulator.appId, appSecret: emulator.appSecret } } : {}),
  defaults: Object.fromEntries(DEFAULT_DESTINATION_VARIABLES.filter((v) => fnEnv[v]?.trim()).map((v) => [v, fnEnv[v]])),
  pid: process.pid,
};
writeFileSync(infoPath, `${JSON.stringify(info, null, 2)}\n`);
/** A backfill borrows the emulator of the running npm start; a real Lark it must be told again. */
const withLark = realLark ? " (with the LARK_* settings of npm start)" : "";

// ---------- events -> handler, one at a time ----------

/** The records of the invocation running now, by decoded key: their size and event name for the outcome line. */
let running = new Map<string, AwsS3Record>();
const echoes = new EchoDetector();
/** Keys refused this session without room for the error tag: answered, though the object cannot show it. */
const untold = new Set<string>();

const queue = new InvocationQueue<AwsNotification>({
  retryDelayMs,
  async invoke(event) {
    running = new Map(event.Records.map((r) => [safeDecode(r.s3.object.key), r]));
    try {
      const end = Date.now() + timeoutMs;
      await handler(event, {
        awsRequestId: randomUUID(),
        functionName: "upload-to-lark",
        getRemainingTimeInMillis: () => Math.max(0, end - Date.now()),
      });
    } finally {
      running = new Map();
    }
  },
  onFailure(event, attempt, error, retryInMs) {
    print(
      paint.red(`${clock()}  invocation failed (attempt ${attempt} of ${LAMBDA_ASYNC_RETRIES + 1}): ${error.message}`),
    );
    if (retryInMs !== undefined) {
      print(paint.red(`${INDENT}Lambda would retry it; retrying in ${formatMs(retryInMs)}`));
      return;
    }
    const keys = event.Records.map((r) => safeDecode(r.s3.object.key));
    print(
      paint.red(
        `${INDENT}gave up: on AWS this event would go to the on-failure destination. ` +
          `Redrive${withLark}: ${backfillCommand(info, keys[0])}`,
      ),
    );
    for (const [i, r] of event.Records.entries()) {
      journal.add({
        bucket: r.s3.bucket.name,
        key: keys[i]!,
        eTag: r.s3.object.eTag,
        event: r.eventName,
        outcome: "given-up",
        reason: error.message,
        attempts: attempt,
      });
    }
  },
});

// The events the function acts on, as a deployment subscribes to them: one invocation per record.
const invokeEach = (notification: AwsNotification) => {
  for (const record of notification.Records) queue.add({ Records: [record] });
};
localS3.onObjectCreated(invokeEach);
localS3.onObjectTagged(invokeEach);

function report(r: ObjectReport): void {
  const record = running.get(r.key);
  const { outcome } = r;
  const shownAs = echoes.describe(r, record?.eventName);
  if (r.bucket === bucket && outcome.kind === "rejected" && outcome.code === UNTOLD) untold.add(r.key);
  else if (r.bucket === bucket && outcome.kind !== "skipped") untold.delete(r.key);
  print(
    outcomeLine(
      {
        key: r.bucket === bucket ? r.key : `s3://${r.bucket}/${r.key}`,
        durationMs: r.durationMs,
        size: record?.s3.object.size,
        ...shownAs,
      },
      paint,
    ),
  );
  journal.add({
    bucket: r.bucket,
    key: r.key,
    eTag: record?.s3.object.eTag,
    event: record?.eventName,
    outcome: outcome.kind,
    ...(outcome.kind === "rejected" ? { code: outcome.code, reason: outcome.reason } : {}),
    ...(outcome.kind === "skipped" ? { code: outcome.reason } : {}),
    ...(outcome.kind === "failed" ? { reason: outcome.error.message } : {}),
    ...("fileToken" in outcome && outcome.fileToken ? { fileToken: outcome.fileToken } : {}),
  });
}

function safeDecode(key: string): string {
  try {
    return decodeS3Key(key);
  } catch {
    return key;
  }
}

// ---------- banner ----------

for (const line of banner(
  {
    s3Endpoint: endpoint,
    bucket,
    s3Dir: shown(s3Dir),
    functionLog: shown(functionLogPath),
    lark: emulator
      ? {
          emulator: true,
          url: emulator.url,
          view: emulator.view!.url,
          appId: emulator.appId,
          log: shown(emulatorLogPath),
        }
      : { emulator: false, url: config.larkBaseUrl, appId: config.appId },
    defaultDestination: defaultDestination
      ? { target: defaultDestination, demo: Boolean(emulator) && defaultDestination === DEMO_DEFAULT_TARGET }
      : undefined,
    tagWaitMs: config.tagWaitMs,
    demoTargets,
    // As typed: ':' and '/' need no escape in a tag set's query string.
    exampleTagging: `${TAG_TARGET}=${demoTargets[0]?.target ?? "docx:<document_id>"}`,
    retries: LAMBDA_ASYNC_RETRIES,
  },
  paint,
))
  print(line);
if (emulator && process.env.LARK_BASE_URL?.trim())
  print(paint.yellow("(LARK_BASE_URL is ignored: without LARK_APP_ID and LARK_APP_SECRET the emulator is used)"));
if (process.env.DEV_EVENT_DELAY_MS?.trim())
  print(
    paint.yellow(
      "(DEV_EVENT_DELAY_MS is no longer read: a new object without destination tags waits TAG_WAIT_MS for them, and a tag change is an event of its own)",
    ),
  );
const before = await countUnanswered(s3, bucket, 2000).catch(() => undefined);
if (before?.count) {
  print(paint.yellow(`${waitingText(before)}, from before this start. To finish them, in another shell${withLark}:`));
  print(paint.yellow(`  ${backfillCommand(info)}`));
}
print(paint.bold(`ready: watching s3://${bucket} (Ctrl-C to stop)`));

// ---------- shutdown ----------

process.once("SIGINT", () => void shutdown("SIGINT"));
process.once("SIGTERM", () => void shutdown("SIGTERM"));

async function shutdown(signal: string): Promise<void> {
  // A second Ctrl-C does not wait for anything.
  process.once("SIGINT", () => process.exit(130));
  print(paint.dim(`${clock()}  ${signal}: stopping`));
  // The invocation in flight may finish (bounded); what waits behind it is dropped.
  const left = await queue.stop(5000);
  const dropped = droppedText(left);
  if (dropped) print(`${INDENT}${dropped}`);
  const waiting = await countUnanswered(s3, bucket, 3000, untold).catch(() => undefined);
  if (waiting?.count) {
    print(`${INDENT}${waitingText(waiting)}.`);
    print(`${INDENT}To finish them, start npm start again and run, in another shell${withLark}:`);
    print(`${INDENT}  ${backfillCommand(info)}`);
  } else if (waiting) {
    print(paint.dim(`${INDENT}every object in s3://${bucket} has its answer`));
  }
  s3.destroy();
  await closeServers();
  rmSync(infoPath, { force: true });
  await Promise.race([new Promise((r) => functionLog.end(r)), sleep(1000)]);
  process.exit(0);
}

function droppedText(left: Backlog): string {
  const parts = [
    left.running && "the invocation in flight was cut short",
    left.queued && `${left.queued} queued event(s) dropped`,
    left.retrying && `${left.retrying} retry(ies) dropped`,
  ].filter(Boolean);
  return parts.join(", ");
}

function waitingText(waiting: { count: number; complete: boolean }): string {
  return (
    `${waiting.complete ? "" : "at least "}${waiting.count} object(s) in s3://${bucket} wait for an answer ` +
    "(neither a file token nor an error tag)"
  );
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

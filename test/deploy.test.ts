/**
 * The deployment (serverless.yml): `serverless package` in both delivery modes, offline and without AWS
 * credentials; the CloudFormation it renders, read the way CloudFormation will (Conditions and Fn::If
 * evaluated); the zip it ships; and the bundled handler from that zip, run against s3rver and the Lark
 * emulator.
 *
 * Packaging runs `node node_modules/osls/bin/serverless.js` (what `npx serverless` runs, minus npx's start-up)
 * in throw-away copies of the project, so it neither writes into the working tree nor collides with
 * another packaging run, and the three variants run in parallel.
 */

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { inflateRawSync } from "node:zlib";
import {
  GetObjectTaggingCommand,
  HeadObjectCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { type LarkEmulator, startLarkEmulator } from "../local/lark-emulator";
import { LOCAL_CREDENTIALS, LOCAL_REGION, type LocalS3, startLocalS3, toAwsRecord } from "../local/local-s3";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SERVERLESS = join(ROOT, "node_modules", "osls", "bin", "serverless.js");
const BUCKET = "example-bucket";
const HANDLER = "functions/upload-to-lark.handler";
/** In the packaging environment, as if it were exported in the deployer's shell: it must not reach the template. */
const FAKE_SECRET = "FAKE-lark-app-secret-7c1e9d0b";
/** The S3 actions the function's code needs (lib/s3-objects.ts), and nothing else. */
const S3_ACTIONS = [
  "s3:GetObject",
  "s3:GetObjectVersion",
  "s3:GetObjectTagging",
  "s3:GetObjectVersionTagging",
  "s3:PutObject",
  "s3:PutObjectTagging",
  "s3:PutObjectVersionTagging",
];

type Json = any;

interface Packaged {
  dir: string;
  /** The update-stack template as written. */
  raw: Json;
  rawText: string;
  /** The template as CloudFormation will read it: false-condition resources gone, Fn::If resolved. */
  resources: Record<string, Json>;
  outputs: Record<string, Json>;
  seconds: number;
}

let workspace: string;
let direct: Packaged;
let sqs: Packaged;
let existing: Packaged;
/** memorySize / timeout as set in serverless.yml's `custom` (the benchmark may change them). */
let sizing: { memorySize: number; timeout: number };

before(async () => {
  workspace = await mkdtemp(join(tmpdir(), "s3-to-lark-deploy-"));
  const yml = await readFile(join(ROOT, "serverless.yml"), "utf8");
  sizing = {
    memorySize: Number(/^ {2}memorySize: (\d+)/m.exec(yml)?.[1]),
    timeout: Number(/^ {2}timeout: (\d+)/m.exec(yml)?.[1]),
  };
  [direct, sqs, existing] = await Promise.all([
    packageService("direct", {}),
    packageService("sqs", { mode: "sqs", prefix: "incoming/" }),
    packageService("existing", {
      existingBucket: "true",
      prefix: "incoming/",
      suffix: ".pdf",
      larkAppSecretId: "s3-to-lark/app-secret",
      kmsKeyArn: "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    }),
  ]);
});

after(async () => {
  if (workspace) await rm(workspace, { recursive: true, force: true });
});

describe("serverless package", () => {
  test("works offline without AWS credentials, in both modes", (t) => {
    for (const p of [direct, sqs, existing])
      t.diagnostic(`${p.dir.split("/").pop()}: packaged in ${p.seconds.toFixed(1)} s`);
    assert.ok(direct.rawText.length > 0 && sqs.rawText.length > 0);
  });

  test("direct mode: the created bucket notifies the function of s3:ObjectCreated:*", () => {
    const fnId = functionId(direct);
    const bucket = only(direct, "AWS::S3::Bucket", (r) => r.Properties.BucketName === BUCKET);
    assert.equal(bucket.DeletionPolicy, "Retain", "the bucket holds users' files");
    const notification = bucket.Properties.NotificationConfiguration;
    assert.deepEqual(notification.LambdaConfigurations, [
      { Event: "s3:ObjectCreated:*", Function: { "Fn::GetAtt": [fnId, "Arn"] } },
    ]);
    assert.equal(notification.QueueConfigurations, undefined);

    const [permissionId, permission] = entry(
      direct,
      "AWS::Lambda::Permission",
      (r) => r.Properties.Principal === "s3.amazonaws.com",
    );
    assert.deepEqual(permission.Properties.FunctionName, { "Fn::GetAtt": [fnId, "Arn"] });
    assert.match(flat(permission.Properties.SourceArn), new RegExp(`:s3:::${BUCKET}$`));
    assert.ok(permission.Properties.SourceAccount, "SourceAccount guards against a bucket of the same name elsewhere");
    assert.ok(
      asArray(bucket.DependsOn).includes(permissionId),
      "S3 validates the target when the notification is written",
    );

    assert.equal(of(direct, "AWS::Lambda::EventSourceMapping").length, 0);
    assert.equal(of(direct, "AWS::SQS::QueuePolicy").length, 0);
  });

  test("the function: runtime, architecture, sizing, reserved concurrency", (t) => {
    for (const p of [direct, sqs]) {
      const fn = p.resources[functionId(p)];
      assert.match(fn.Properties.Runtime, /^nodejs2[24]\.x$/);
      assert.equal(fn.Properties.Runtime, "nodejs24.x");
      assert.deepEqual(fn.Properties.Architectures, ["arm64"]);
      assert.equal(fn.Properties.MemorySize, sizing.memorySize);
      assert.equal(fn.Properties.Timeout, sizing.timeout);
      assert.equal(fn.Properties.ReservedConcurrentExecutions, 1);
    }
    t.diagnostic(`memory ${sizing.memorySize} MB, timeout ${sizing.timeout} s`);
  });

  test("asynchronous invocations: 2 retries, a maximum event age, failures to the stack's queue", () => {
    for (const p of [direct, sqs]) {
      const config = only(p, "AWS::Lambda::EventInvokeConfig");
      assert.deepEqual(config.Properties.FunctionName, { Ref: functionId(p) });
      assert.equal(config.Properties.MaximumRetryAttempts, 2);
      const age = config.Properties.MaximumEventAgeInSeconds;
      assert.ok(Number.isInteger(age) && age >= 3600 && age <= 21600, `MaximumEventAgeInSeconds ${age}`);

      const destination = config.Properties.DestinationConfig.OnFailure.Destination;
      assert.equal(destination["Fn::GetAtt"]?.[1], "Arn");
      const queueId = destination["Fn::GetAtt"][0];
      assert.equal(
        p.resources[queueId]?.Type,
        "AWS::SQS::Queue",
        "the on-failure destination is a queue the stack creates",
      );
      assert.ok(
        allowStatements(p).some((s) => asArray(s.Action).includes("sqs:SendMessage") && same(s.Resource, destination)),
        "the role may send to the on-failure queue",
      );
      assert.deepEqual(p.outputs.FailureQueueUrl?.Value, { Ref: queueId });
    }
  });

  test("sqs mode: bucket -> queue -> function with partial batch failures, DLQ after 5 receives", () => {
    const fnId = functionId(sqs);
    const mapping = only(sqs, "AWS::Lambda::EventSourceMapping");
    assert.deepEqual(mapping.Properties.FunctionResponseTypes, ["ReportBatchItemFailures"]);
    assert.equal(mapping.Properties.BatchSize, 10);
    assert.deepEqual(mapping.Properties.FunctionName, { "Fn::GetAtt": [fnId, "Arn"] });
    const queueId = mapping.Properties.EventSourceArn["Fn::GetAtt"][0];
    const queue = sqs.resources[queueId];
    assert.equal(queue.Type, "AWS::SQS::Queue");
    assert.ok(
      queue.Properties.VisibilityTimeout >= 6 * sqs.resources[fnId].Properties.Timeout,
      `VisibilityTimeout ${queue.Properties.VisibilityTimeout} < 6 x Timeout ${sqs.resources[fnId].Properties.Timeout}`,
    );
    const redrive = queue.Properties.RedrivePolicy;
    assert.equal(redrive.maxReceiveCount, 5);
    assert.equal(sqs.resources[redrive.deadLetterTargetArn["Fn::GetAtt"][0]]?.Type, "AWS::SQS::Queue");

    // The created bucket notifies the queue (only the rule that has a value: prefix), not the function.
    const bucket = only(sqs, "AWS::S3::Bucket", (r) => r.Properties.BucketName === BUCKET);
    assert.deepEqual(bucket.Properties.NotificationConfiguration, {
      QueueConfigurations: [
        {
          Event: "s3:ObjectCreated:*",
          Queue: { "Fn::GetAtt": [queueId, "Arn"] },
          Filter: { S3Key: { Rules: [{ Name: "prefix", Value: "incoming/" }] } },
        },
      ],
    });
    const [policyId, policy] = entry(sqs, "AWS::SQS::QueuePolicy");
    assert.deepEqual(policy.Properties.Queues, [{ Ref: queueId }]);
    const [statement] = policy.Properties.PolicyDocument.Statement;
    assert.deepEqual(statement.Principal, { Service: "s3.amazonaws.com" });
    assert.equal(statement.Action, "sqs:SendMessage");
    assert.match(flat(statement.Condition.ArnLike["aws:SourceArn"]), new RegExp(`:s3:::${BUCKET}$`));
    assert.ok(asArray(bucket.DependsOn).includes(policyId));
    assert.equal(of(sqs, "AWS::Lambda::Permission").length, 0, "S3 does not invoke the function in sqs mode");
    assert.ok(sqs.outputs.UploadQueueUrl && sqs.outputs.DeadLetterQueueUrl);
  });

  test("an existing bucket: osls's custom resource adds the notification, with only the rules that have a value", () => {
    assert.equal(
      of(existing, "AWS::S3::Bucket", (r) => r.Properties.BucketName === BUCKET).length,
      0,
      "the stack does not create it",
    );
    const custom = only(existing, "Custom::S3");
    assert.equal(custom.Properties.BucketName, BUCKET);
    assert.deepEqual(custom.Properties.BucketConfigs, [
      { Event: "s3:ObjectCreated:*", Rules: [{ Prefix: "incoming/" }, { Suffix: ".pdf" }] },
    ]);
    // With neither prefix nor suffix, no rule at all (an empty value is not a filter).
    const none = evaluate(structuredClone(existing.raw), { HasPrefix: false, HasSuffix: false });
    const rules = Object.values(none.resources).find((r: Json) => r.Type === "Custom::S3").Properties.BucketConfigs[0]
      .Rules;
    assert.deepEqual(rules, []);
  });

  test("IAM: no s3 action on Resource *; the function's S3 rights are the object calls on BUCKET/PREFIX*, and ListBucket", () => {
    for (const p of [direct, sqs, existing]) {
      for (const s of allowStatements(p)) {
        const actions = asArray(s.Action).map(String);
        if (!actions.some((a) => a === "*" || a.startsWith("s3:"))) continue;
        assert.ok(!actions.includes("*") && !actions.includes("s3:*"), `wildcard action ${JSON.stringify(actions)}`);
        assert.equal(s.NotResource, undefined);
        for (const resource of asArray(s.Resource)) {
          const arn = flat(resource);
          assert.notEqual(arn, "*", `${JSON.stringify(actions)} on *`);
          assert.doesNotMatch(arn, /:s3:::\*/, `${JSON.stringify(actions)} on every bucket`);
        }
      }
      const s3 = roleOf(p).filter((s) => asArray(s.Action).some((a: string) => a.startsWith("s3:")));
      assert.equal(s3.length, 2);
      const [objects, bucket] = s3;
      assert.deepEqual([...asArray(objects.Action)].sort(), [...S3_ACTIONS].sort());
      const prefix = p === direct ? "" : "incoming/";
      assert.deepEqual(asArray(objects.Resource).map(flat), [`arn:\${AWS::Partition}:s3:::${BUCKET}/${prefix}*`]);
      // Only so that a missing object is a 404, not a 403 (see serverless.yml).
      assert.deepEqual(asArray(bucket.Action), ["s3:ListBucket"]);
      assert.deepEqual(asArray(bucket.Resource).map(flat), [`arn:\${AWS::Partition}:s3:::${BUCKET}`]);
    }
  });

  test("IAM: the secret is read from the one SSM parameter or the one secret; KMS only with a key", () => {
    const actionsOn = (p: Packaged, prefix: string) =>
      policyStatements(p).filter(
        (s) => s.Effect === "Allow" && asArray(s.Action).some((a: string) => a.startsWith(prefix)),
      );

    const [ssm] = actionsOn(direct, "ssm:");
    assert.deepEqual(asArray(ssm.Action), ["ssm:GetParameter"]);
    assert.equal(
      flat(ssm.Resource),
      "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/s3-to-lark/lark-app-secret",
    );
    assert.equal(actionsOn(direct, "secretsmanager:").length, 0);
    assert.equal(actionsOn(direct, "kms:").length, 0);
    assert.equal(envOf(direct).LARK_APP_SECRET_SSM_PARAMETER, "/s3-to-lark/lark-app-secret");
    assert.equal(envOf(direct).LARK_APP_SECRET_SECRET_ID, undefined);

    const [sm] = actionsOn(existing, "secretsmanager:");
    assert.deepEqual(asArray(sm.Action), ["secretsmanager:GetSecretValue"]);
    assert.equal(
      flat(sm.Resource),
      "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:s3-to-lark/app-secret-??????",
    );
    assert.equal(actionsOn(existing, "ssm:").length, 0);
    assert.equal(envOf(existing).LARK_APP_SECRET_SECRET_ID, "s3-to-lark/app-secret");
    assert.equal(envOf(existing).LARK_APP_SECRET_SSM_PARAMETER, undefined);
    const [kms] = actionsOn(existing, "kms:");
    assert.deepEqual([...asArray(kms.Action)].sort(), ["kms:Decrypt", "kms:GenerateDataKey"]);
    assert.match(flat(kms.Resource), /^arn:aws:kms:us-east-1:123456789012:key\//);
  });

  test("the secret is not in the template, and no LARK_APP_SECRET variable exists", async () => {
    for (const p of [direct, sqs, existing]) {
      const env = envOf(p);
      assert.equal(env.LARK_APP_SECRET, undefined);
      assert.ok(!p.rawText.includes(FAKE_SECRET), "the secret leaked into the template");
      const state = await readFile(join(p.dir, "serverless-state.json"), "utf8");
      assert.ok(!state.includes(FAKE_SECRET), "the secret leaked into serverless-state.json");
      for (const name of Object.keys(env)) assert.doesNotMatch(name, /^LARK_APP_SECRET$/);
    }
  });
});

describe("the packaged zip", () => {
  let entries: ZipEntry[];
  let zip: Buffer;
  before(async () => {
    zip = await readFile(join(direct.dir, "s3-to-lark.zip"));
    entries = readZip(zip);
  });

  test("holds one bundled handler and nothing else", (t) => {
    const files = entries.filter((e) => !e.name.endsWith("/"));
    assert.deepEqual(
      files.map((e) => e.name),
      ["functions/upload-to-lark.js"],
    );
    assert.ok(!entries.some((e) => /(^|\/)(node_modules|test)\//.test(e.name)));
    t.diagnostic(`bundle ${(files[0]!.size / 1024).toFixed(0)} KiB, zip ${(zip.length / 1024).toFixed(0)} KiB`);
    const fn = direct.resources[functionId(direct)];
    assert.equal(fn.Properties.Handler, HANDLER);
  });

  test("does not contain the secret either", () => {
    const code = extract(zip, entries.find((e) => e.name === "functions/upload-to-lark.js")!).toString("utf8");
    assert.ok(!code.includes(FAKE_SECRET));
  });
});

describe("the bundled handler, run against s3rver and the Lark emulator", () => {
  let localS3: LocalS3;
  let lark: LarkEmulator;
  let s3: S3Client;
  let handler: (event: unknown, context: unknown) => Promise<Json>;
  let stdout: string[] = [];

  before(async () => {
    const dir = join(workspace, "run");
    await mkdir(join(dir, "s3"), { recursive: true });
    localS3 = await startLocalS3({ directory: join(dir, "s3"), buckets: [BUCKET] });
    lark = await startLarkEmulator();
    s3 = new S3Client({
      endpoint: localS3.endpoint,
      forcePathStyle: true,
      region: LOCAL_REGION,
      credentials: LOCAL_CREDENTIALS,
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
    // What Lambda would set, plus the local endpoints; before the bundle is loaded.
    Object.assign(process.env, {
      LARK_APP_ID: lark.appId,
      LARK_APP_SECRET: lark.appSecret,
      LARK_BASE_URL: lark.url,
      AWS_ENDPOINT_URL_S3: localS3.endpoint,
      AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
      AWS_REGION: LOCAL_REGION,
    });
    const zip = await readFile(join(direct.dir, "s3-to-lark.zip"));
    const bundle = readZip(zip).find((e) => e.name === "functions/upload-to-lark.js")!;
    const file = join(dir, "task", "functions", "upload-to-lark.js");
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, extract(zip, bundle));
    // No package.json next to it, as in /var/task: Node loads the .js as CommonJS, as Lambda will.
    handler = createRequire(file)(file).handler;
    assert.equal(typeof handler, "function");
  });

  after(async () => {
    s3?.destroy();
    await Promise.all([localS3?.close(), lark?.close()]);
  });

  /** Runs the handler with its stdout (JSON logs and EMF) captured instead of printed. */
  async function invoke(event: unknown): Promise<Json> {
    const write = process.stdout.write;
    stdout = [];
    process.stdout.write = ((chunk: string | Uint8Array) => {
      stdout.push(String(chunk));
      return true;
    }) as typeof process.stdout.write;
    try {
      return await handler(event, { awsRequestId: "deploy-test", getRemainingTimeInMillis: () => 60_000 });
    } finally {
      process.stdout.write = write;
    }
  }

  test("uploads a tagged object and writes the file_token back; its own copy event is a no-op", async (t) => {
    const key = "reports/quarterly report.pdf";
    const body = Buffer.from("%PDF-1.4 deploy test\n".repeat(100));
    const put = await s3.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body, ContentType: "application/pdf" }),
    );
    const tags = { "lark-parent-type": "docx_file", "lark-parent-node": "doxcnX" };
    await s3.send(
      new PutObjectTaggingCommand({
        Bucket: BUCKET,
        Key: key,
        Tagging: { TagSet: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) },
      }),
    );

    const result = await invoke({ Records: [toAwsRecord(BUCKET, key, body.length, put.ETag ?? "")] });
    assert.equal(result.objects?.[0]?.outcome.kind, "uploaded", JSON.stringify(result));
    assert.equal(lark.files.length, 1);
    const [file] = lark.files;
    assert.equal(file!.parentType, "docx_file");
    assert.equal(file!.parentNode, "doxcnX");
    assert.equal(file!.size, body.length);

    const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    assert.equal(head.Metadata?.["lark-file-token"], file!.fileToken);
    assert.equal(head.ContentType, "application/pdf");
    const kept = await s3.send(new GetObjectTaggingCommand({ Bucket: BUCKET, Key: key }));
    assert.deepEqual(Object.fromEntries((kept.TagSet ?? []).map((x) => [x.Key, x.Value])), tags);
    const logs = stdout
      .flatMap((chunk) => chunk.split("\n"))
      .filter(Boolean)
      .map((line) => JSON.parse(line));
    assert.ok(logs.some((l) => l.message === "uploaded" && l.fileToken === file!.fileToken));
    assert.ok(!stdout.join("").includes(lark.appSecret), "the app secret is never logged");
    t.diagnostic(`file_token ${file!.fileToken}`);

    // The metadata write is an ObjectCreated:Copy, which the subscription includes: it must not upload again.
    const again = await invoke({
      Records: [toAwsRecord(BUCKET, key, body.length, head.ETag ?? "", "ObjectCreated:Copy")],
    });
    assert.equal(again.objects?.[0]?.outcome.kind, "skipped");
    assert.equal(again.objects?.[0]?.outcome.reason, "already-uploaded");
    assert.equal(lark.files.length, 1);
  });
});

// ---------------------------------------------------------------- packaging

async function packageService(name: string, params: Record<string, string>): Promise<Packaged> {
  const project = join(workspace, `project-${name}`);
  const out = join(workspace, `package-${name}`);
  await copyProject(project);
  const args = [SERVERLESS, "package", "--package", out, "--param", `bucket=${BUCKET}`];
  for (const [k, v] of Object.entries(params)) args.push("--param", `${k}=${v}`);
  // No AWS credentials anywhere (environment, shared files, instance metadata): packaging must not need them.
  // HOME is kept: osls caches its compiled config schema in ~/.serverless (a fresh HOME costs ~5 s of CPU).
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^AWS_|^SLS_|^SERVERLESS_/.test(k)) env[k] = v;
  Object.assign(env, {
    AWS_SHARED_CREDENTIALS_FILE: join(workspace, "no-aws-credentials"),
    AWS_CONFIG_FILE: join(workspace, "no-aws-config"),
    AWS_EC2_METADATA_DISABLED: "true",
    LARK_APP_SECRET: FAKE_SECRET,
  });

  const started = Date.now();
  await new Promise<void>((resolve, reject) => {
    execFile(
      process.execPath,
      args,
      { cwd: project, env, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`serverless package (${name}) failed: ${err.message}\n${stdout}\n${stderr}`));
        else resolve();
      },
    );
  });
  const seconds = (Date.now() - started) / 1000;
  const rawText = await readFile(join(out, "cloudformation-template-update-stack.json"), "utf8");
  const raw = JSON.parse(rawText);
  return { dir: out, raw, rawText, seconds, ...evaluate(structuredClone(raw)) };
}

/** The project without its bulky or machine-local parts; node_modules is linked, not copied. */
async function copyProject(to: string): Promise<void> {
  await mkdir(to, { recursive: true });
  const skip = new Set(["node_modules", ".git", ".local", ".serverless", ".esbuild", ".ci"]);
  for (const name of await readdir(ROOT)) {
    if (skip.has(name)) continue;
    await cp(join(ROOT, name), join(to, name), { recursive: true });
  }
  await symlink(join(ROOT, "node_modules"), join(to, "node_modules"), "dir");
}

// ---------------------------------------------------------------- the template as CloudFormation reads it

/**
 * Evaluates the template's Conditions (Fn::Equals/Not/And/Or, Condition) and resolves Fn::If and
 * AWS::NoValue everywhere; drops resources and outputs whose Condition is false. `override` forces
 * conditions, to see another parameter choice without packaging again.
 */
function evaluate(
  template: Json,
  override: Record<string, boolean> = {},
): { resources: Record<string, Json>; outputs: Record<string, Json> } {
  const conditions: Record<string, Json> = template.Conditions ?? {};
  const known = new Map<string, boolean>(Object.entries(override));
  const condition = (name: string): boolean => {
    if (!known.has(name)) {
      assert.ok(name in conditions, `unknown condition ${name}`);
      known.set(name, holds(conditions[name]));
    }
    return known.get(name)!;
  };
  const holds = (expr: Json): boolean => {
    if ("Condition" in expr) return condition(expr.Condition);
    if ("Fn::Equals" in expr) {
      const [a, b] = expr["Fn::Equals"].map(resolve);
      return JSON.stringify(a) === JSON.stringify(b);
    }
    if ("Fn::Not" in expr) return !holds(expr["Fn::Not"][0]);
    if ("Fn::And" in expr) return expr["Fn::And"].every(holds);
    if ("Fn::Or" in expr) return expr["Fn::Or"].some(holds);
    throw new Error(`unsupported condition ${JSON.stringify(expr)}`);
  };
  const NO_VALUE = Symbol("AWS::NoValue");
  const resolve = (value: Json): Json => {
    if (Array.isArray(value)) return value.map(resolve).filter((v) => v !== NO_VALUE);
    if (!value || typeof value !== "object") return value;
    if (value.Ref === "AWS::NoValue") return NO_VALUE;
    if ("Fn::If" in value) {
      const [name, yes, no] = value["Fn::If"];
      return resolve(condition(name) ? yes : no);
    }
    const out: Json = {};
    for (const [k, v] of Object.entries(value)) {
      const r = resolve(v);
      if (r !== NO_VALUE) out[k] = r;
    }
    return out;
  };
  const keep = (section: Record<string, Json> = {}) =>
    Object.fromEntries(
      Object.entries(section)
        .filter(([, r]) => !r.Condition || condition(r.Condition))
        .map(([id, r]) => [id, resolve(r)]),
    );
  return { resources: keep(template.Resources), outputs: keep(template.Outputs) };
}

function of(p: Packaged, type: string, where: (r: Json) => boolean = () => true): [string, Json][] {
  return Object.entries(p.resources).filter(([, r]) => r.Type === type && where(r));
}

function entry(p: Packaged, type: string, where?: (r: Json) => boolean): [string, Json] {
  const found = of(p, type, where);
  assert.equal(found.length, 1, `expected one ${type}, found ${found.map(([id]) => id).join(", ") || "none"}`);
  return found[0]!;
}

const only = (p: Packaged, type: string, where?: (r: Json) => boolean): Json => entry(p, type, where)[1];

/** The upload function's logical id (not osls's custom-resource function). */
function functionId(p: Packaged): string {
  return entry(p, "AWS::Lambda::Function", (r) => r.Properties.Handler === HANDLER)[0];
}

function envOf(p: Packaged): Record<string, Json> {
  return p.resources[functionId(p)].Properties.Environment?.Variables ?? {};
}

/** Every statement of every policy in the stack: roles' inline policies, IAM policies, resource policies. */
function policyStatements(p: Packaged): Json[] {
  const statements: Json[] = [];
  const walk = (value: Json): void => {
    if (Array.isArray(value)) {
      for (const v of value) walk(v);
      return;
    }
    if (!value || typeof value !== "object") return;
    if (value.PolicyDocument) statements.push(...asArray(value.PolicyDocument.Statement));
    for (const v of Object.values(value)) walk(v);
  };
  walk(p.resources);
  return statements;
}

const allowStatements = (p: Packaged) => policyStatements(p).filter((s) => s.Effect === "Allow");

/** The upload function's role: its inline policies and the IAM policies attached to it. */
function roleOf(p: Packaged): Json[] {
  const roleId = p.resources[functionId(p)].Properties.Role["Fn::GetAtt"][0];
  const inline = (p.resources[roleId].Properties.Policies ?? []).flatMap((x: Json) =>
    asArray(x.PolicyDocument.Statement),
  );
  const attached = of(p, "AWS::IAM::Policy", (r) =>
    asArray(r.Properties.Roles).some((x: Json) => x.Ref === roleId),
  ).flatMap(([, r]) => asArray(r.Properties.PolicyDocument.Statement));
  return [...inline, ...attached];
}

function asArray<T>(value: T | T[] | undefined): T[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

/** An ARN as a string: Fn::Sub's template, Fn::Join's parts joined (Refs as ${Name}). */
function flat(value: Json): string {
  if (typeof value === "string") return value;
  if (value?.["Fn::Sub"] !== undefined) return asArray(value["Fn::Sub"])[0];
  if (value?.["Fn::Join"]) {
    const [sep, parts] = value["Fn::Join"];
    return parts.map((x: Json) => (typeof x === "string" ? x : x.Ref ? `\${${x.Ref}}` : flat(x))).join(sep);
  }
  if (value?.Ref) return `\${${value.Ref}}`;
  if (value?.["Fn::GetAtt"]) return `\${${value["Fn::GetAtt"].join(".")}}`;
  return JSON.stringify(value);
}

const same = (a: Json, b: Json) => asArray(a).some((x) => JSON.stringify(x) === JSON.stringify(b));

// ---------------------------------------------------------------- a zip reader (central directory, stored/deflate)

interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localHeader: number;
}

function readZip(zip: Buffer): ZipEntry[] {
  let eocd = zip.length - 22;
  while (eocd >= 0 && zip.readUInt32LE(eocd) !== 0x06054b50) eocd--;
  assert.ok(eocd >= 0, "no end of central directory: not a zip");
  const count = zip.readUInt16LE(eocd + 10);
  let at = zip.readUInt32LE(eocd + 16);
  const entries: ZipEntry[] = [];
  for (let i = 0; i < count; i++) {
    assert.equal(zip.readUInt32LE(at), 0x02014b50, "bad central directory entry");
    const nameLength = zip.readUInt16LE(at + 28);
    entries.push({
      method: zip.readUInt16LE(at + 10),
      compressedSize: zip.readUInt32LE(at + 20),
      size: zip.readUInt32LE(at + 24),
      localHeader: zip.readUInt32LE(at + 42),
      name: zip.toString("utf8", at + 46, at + 46 + nameLength),
    });
    at += 46 + nameLength + zip.readUInt16LE(at + 30) + zip.readUInt16LE(at + 32);
  }
  return entries;
}

function extract(zip: Buffer, e: ZipEntry): Buffer {
  const at = e.localHeader;
  assert.equal(zip.readUInt32LE(at), 0x04034b50, "bad local file header");
  const start = at + 30 + zip.readUInt16LE(at + 26) + zip.readUInt16LE(at + 28);
  const data = zip.subarray(start, start + e.compressedSize);
  const bytes =
    e.method === 8
      ? inflateRawSync(data)
      : e.method === 0
        ? Buffer.from(data)
        : assert.fail(`compression method ${e.method}`);
  assert.equal(bytes.length, e.size);
  return bytes;
}

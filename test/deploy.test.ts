/**
 * The deployment (serverless.yml): `serverless package` of each variant, offline and without AWS
 * credentials; the CloudFormation it renders, read the way CloudFormation will (Parameters and Conditions
 * evaluated); the zip it ships; the bundled handler from that zip, run against s3rver and the Lark emulator;
 * and what deploy/preflight.cjs refuses before anything is built.
 *
 * This is what moto cannot check when test/aws deploys the same template (KMS and Secrets Manager resource
 * ARNs, queue policies, S3's own checks): each assertion here reads the template as AWS will apply it.
 */

import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  GetObjectTaggingCommand,
  HeadObjectCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import {
  type Packaged as Package,
  packageService,
  ROOT,
  runServerless,
  type ServerlessRun,
  serverlessError,
} from "../local/aws/serverless";
import { evaluate, type Json } from "../local/aws/template";
import { extract, readZip, type ZipEntry } from "../local/aws/zip";
import { type LarkEmulator, startLarkEmulator } from "../local/lark-emulator";
import { LOCAL_CREDENTIALS, LOCAL_REGION, type LocalS3, startLocalS3, toAwsRecord } from "../local/local-s3";

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
/** What every mode subscribes to: new objects, tag changes (decided again), completed restores. */
const S3_EVENTS = ["s3:ObjectCreated:*", "s3:ObjectTagging:Put", "s3:ObjectRestore:Completed"];
const EVENTBRIDGE_TYPES = ["Object Created", "Object Tags Added", "Object Restore Completed"];
const KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const TOPIC = "arn:aws:sns:us-east-1:123456789012:s3-to-lark-alarms";

interface Packaged extends Package {
  /** The template as CloudFormation will read it: false-condition resources gone, Fn::If resolved. */
  resources: Record<string, Json>;
  outputs: Record<string, Json>;
}

let workspace: string;
let direct: Packaged;
let sqs: Packaged;
let existing: Packaged;
/** memorySize / timeout as set in serverless.yml's `custom` (the benchmark may change them). */
let sizing: { memorySize: number; timeout: number; maxReceiveCount: number };

async function variant(name: string, params: Record<string, string>): Promise<Packaged> {
  const all = { bucket: BUCKET, larkAppId: "cli_example", ...params };
  const p = await packageService(workspace, name, all, { LARK_APP_SECRET: FAKE_SECRET });
  return { ...p, ...evaluate(structuredClone(p.raw)) };
}

before(async () => {
  workspace = await mkdtemp(join(tmpdir(), "s3-to-lark-deploy-"));
  const yml = await readFile(join(ROOT, "serverless.yml"), "utf8");
  sizing = {
    memorySize: Number(/^ {2}memorySize: (\d+)/m.exec(yml)?.[1]),
    timeout: Number(/^ {2}timeout: (\d+)/m.exec(yml)?.[1]),
    maxReceiveCount: Number(/^ {2}maxReceiveCount: (\d+)/m.exec(yml)?.[1]),
  };
  [direct, sqs, existing] = await Promise.all([
    variant("direct", {}),
    variant("sqs", { mode: "sqs", prefix: "incoming/", suffix: ".pdf" }),
    variant("existing", {
      existingBucket: "true",
      prefix: "incoming/",
      suffix: ".pdf",
      larkAppSecretId: "s3-to-lark/app-secret",
      kmsKeyArn: KMS_KEY,
      alarmTopicArn: TOPIC,
    }),
  ]);
});

after(async () => {
  if (workspace) await rm(workspace, { recursive: true, force: true });
});

describe("serverless package", () => {
  test("works offline without AWS credentials, in both modes", (t) => {
    for (const p of [direct, sqs, existing]) t.diagnostic(`${p.name}: packaged in ${p.seconds.toFixed(1)} s`);
    assert.ok(direct.rawText.length > 0 && sqs.rawText.length > 0);
  });

  test("direct mode: the created bucket notifies the function of new objects, tag changes and restores", () => {
    const fnId = functionId(direct);
    const bucket = only(direct, "AWS::S3::Bucket", (r) => r.Properties.BucketName === BUCKET);
    assert.equal(bucket.DeletionPolicy, "Retain", "the bucket holds users' files");
    const notification = bucket.Properties.NotificationConfiguration;
    assert.deepEqual(
      notification.LambdaConfigurations,
      S3_EVENTS.map((Event) => ({ Event, Function: { "Fn::GetAtt": [fnId, "Arn"] } })),
    );
    assert.deepEqual(Object.keys(notification), ["LambdaConfigurations"]);

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

    // With a prefix, every event type carries the same key filter.
    const filtered = evaluate(structuredClone(direct.raw), {}, { KeyPrefix: "incoming/" });
    const rules = Object.values(filtered.resources)
      .find((r: Json) => r.Type === "AWS::S3::Bucket" && r.Properties.BucketName === BUCKET)
      .Properties.NotificationConfiguration.LambdaConfigurations.map((c: Json) => c.Filter.S3Key.Rules);
    assert.deepEqual(
      rules,
      [0, 1, 2].map(() => [{ Name: "prefix", Value: "incoming/" }]),
    );

    assert.equal(of(direct, "AWS::Lambda::EventSourceMapping").length, 0);
    assert.equal(of(direct, "AWS::SQS::QueuePolicy").length, 0);
    assert.equal(of(direct, "AWS::Events::Rule").length, 0);
  });

  test("the function: runtime, architecture, sizing, reserved concurrency", (t) => {
    for (const p of [direct, sqs]) {
      const fn = p.resources[functionId(p)];
      assert.equal(fn.Properties.Runtime, "nodejs24.x");
      assert.deepEqual(fn.Properties.Architectures, ["arm64"]);
      assert.equal(fn.Properties.MemorySize, sizing.memorySize);
      assert.equal(fn.Properties.Timeout, sizing.timeout);
      assert.equal(fn.Properties.ReservedConcurrentExecutions, 1);
      // Every setting a deployer may need is a param (docs/deploy.md, Parameters).
      for (const name of ["LARK_DEFAULT_TARGET", "LARK_BASE_ATTACHMENT_FIELD", "LARK_SHARE_WITH", "LARK_SHARE_PERM"])
        assert.ok(name in envOf(p), `${name} is not set by any param`);
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

  test("sqs mode: S3 -> EventBridge -> one FIFO message group -> the function; DLQ after maxReceiveCount", () => {
    const fnId = functionId(sqs);
    // The bucket sends its events to EventBridge, and notifies nothing itself (S3 cannot target a FIFO queue).
    const bucket = only(sqs, "AWS::S3::Bucket", (r) => r.Properties.BucketName === BUCKET);
    assert.deepEqual(bucket.Properties.NotificationConfiguration, {
      EventBridgeConfiguration: { EventBridgeEnabled: true },
    });
    assert.equal(of(sqs, "AWS::Lambda::Permission").length, 0, "S3 does not invoke the function in sqs mode");

    const [ruleId, rule] = entry(sqs, "AWS::Events::Rule");
    assert.deepEqual(rule.Properties.EventPattern, {
      source: ["aws.s3"],
      "detail-type": EVENTBRIDGE_TYPES,
      detail: { bucket: { name: [BUCKET] }, object: { key: [{ wildcard: "incoming/*.pdf" }] } },
    });
    const [target] = rule.Properties.Targets;
    const queueId = target.Arn["Fn::GetAtt"][0];
    assert.deepEqual(target.SqsParameters, { MessageGroupId: "uploads" }, "one message group: one batch at a time");
    const failureQueue = only(sqs, "AWS::Lambda::EventInvokeConfig").Properties.DestinationConfig.OnFailure.Destination;
    assert.deepEqual(target.DeadLetterConfig.Arn, failureQueue, "undeliverable events end in the failure queue");

    const queue = sqs.resources[queueId];
    assert.equal(queue.Type, "AWS::SQS::Queue");
    assert.equal(queue.Properties.FifoQueue, true);
    assert.match(queue.Properties.QueueName, /\.fifo$/);
    assert.equal(queue.Properties.ContentBasedDeduplication, true, "EventBridge sends no deduplication id");
    assert.ok(
      queue.Properties.VisibilityTimeout >= 6 * sqs.resources[fnId].Properties.Timeout,
      `VisibilityTimeout ${queue.Properties.VisibilityTimeout} < 6 x Timeout ${sqs.resources[fnId].Properties.Timeout}`,
    );
    const redrive = queue.Properties.RedrivePolicy;
    assert.equal(redrive.maxReceiveCount, sizing.maxReceiveCount);
    const dlq = sqs.resources[redrive.deadLetterTargetArn["Fn::GetAtt"][0]];
    assert.equal(dlq?.Properties.FifoQueue, true, "a FIFO queue's DLQ is a FIFO queue");

    const mapping = only(sqs, "AWS::Lambda::EventSourceMapping");
    assert.deepEqual(mapping.Properties.FunctionResponseTypes, ["ReportBatchItemFailures"]);
    assert.equal(mapping.Properties.BatchSize, 10);
    assert.deepEqual(mapping.Properties.FunctionName, { "Fn::GetAtt": [fnId, "Arn"] });
    assert.deepEqual(mapping.Properties.EventSourceArn, { "Fn::GetAtt": [queueId, "Arn"] });
    assert.equal(mapping.Properties.ScalingConfig, undefined, "one message group already means one invocation");

    // EventBridge may send to the upload queue and to the failure queue, for this rule only.
    const policy = only(sqs, "AWS::SQS::QueuePolicy");
    const queues = policy.Properties.Queues.map((q: Json) => q.Ref).sort();
    assert.deepEqual(queues, [queueId, failureQueue["Fn::GetAtt"][0]].sort());
    const [statement] = policy.Properties.PolicyDocument.Statement;
    assert.deepEqual(statement.Principal, { Service: "events.amazonaws.com" });
    assert.equal(statement.Action, "sqs:SendMessage");
    assert.deepEqual(statement.Condition.ArnEquals["aws:SourceArn"], { "Fn::GetAtt": [ruleId, "Arn"] });
    assert.ok(sqs.outputs.UploadQueueUrl && sqs.outputs.DeadLetterQueueUrl && sqs.outputs.DeadLetterQueueArn);

    // No key filter at all without a prefix or suffix; one wildcard holds either.
    const pattern = (o: Record<string, boolean>) =>
      Object.values(evaluate(structuredClone(sqs.raw), o).resources).find((r: Json) => r.Type === "AWS::Events::Rule")
        .Properties.EventPattern.detail;
    assert.equal(pattern({ HasKeyFilter: false }).object, undefined);
    assert.deepEqual(pattern({}).object, { key: [{ wildcard: "incoming/*.pdf" }] });
  });

  test("an existing bucket (direct mode): osls's custom resource subscribes the function, with only the rules that have a value", () => {
    assert.equal(
      of(existing, "AWS::S3::Bucket", (r) => r.Properties.BucketName === BUCKET).length,
      0,
      "the stack does not create it",
    );
    const custom = only(existing, "Custom::S3");
    assert.equal(custom.Properties.BucketName, BUCKET);
    assert.deepEqual(
      custom.Properties.BucketConfigs,
      S3_EVENTS.map((Event) => ({ Event, Rules: [{ Prefix: "incoming/" }, { Suffix: ".pdf" }] })),
    );
    // With neither prefix nor suffix, no rule at all (an empty value is not a filter).
    const none = evaluate(structuredClone(existing.raw), { HasPrefix: false, HasSuffix: false });
    const configs = Object.values(none.resources).find((r: Json) => r.Type === "Custom::S3").Properties.BucketConfigs;
    assert.deepEqual(
      configs.map((c: Json) => c.Rules),
      [[], [], []],
    );
  });

  test("alarms: the failure queue, the DLQ (sqs mode) and the ConfigurationErrors metric; an SNS topic when given", () => {
    const alarms = (p: Packaged) => Object.fromEntries(of(p, "AWS::CloudWatch::Alarm"));
    for (const p of [direct, sqs, existing]) {
      const a = alarms(p);
      const failure = a.FailureQueueAlarm.Properties;
      assert.equal(failure.Namespace, "AWS/SQS");
      assert.equal(failure.MetricName, "ApproximateNumberOfMessagesVisible");
      assert.deepEqual(failure.Dimensions, [
        { Name: "QueueName", Value: { "Fn::GetAtt": ["UploadFailureQueue", "QueueName"] } },
      ]);
      assert.equal(failure.Threshold, 0);
      assert.equal(failure.ComparisonOperator, "GreaterThanThreshold");
      // The function's EMF documents (lib/metrics.ts): namespace s3-to-lark, dimension Service = its own name.
      const config = a.ConfigurationErrorsAlarm.Properties;
      assert.deepEqual(
        [config.Namespace, config.MetricName, config.Dimensions],
        ["s3-to-lark", "ConfigurationErrors", [{ Name: "Service", Value: { Ref: "UploadToLarkLambdaFunction" } }]],
      );
      assert.equal(config.Statistic, "Sum");
      for (const alarm of Object.values(a))
        assert.deepEqual(alarm.Properties.AlarmActions, p === existing ? [TOPIC] : undefined);
    }
    const dlq = alarms(sqs).DeadLetterQueueAlarm.Properties;
    assert.deepEqual(dlq.Dimensions, [
      { Name: "QueueName", Value: { "Fn::GetAtt": ["UploadDeadLetterQueue", "QueueName"] } },
    ]);
    assert.equal(alarms(direct).DeadLetterQueueAlarm, undefined);
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
    assert.equal(flat(kms.Resource), KMS_KEY);
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

describe("deploy/preflight.cjs: a mistake costs one line saying what to pass, before anything is built", () => {
  const cases: [string, Record<string, string>, RegExp][] = [
    ["no bucket", { larkAppId: "cli_example" }, /^Pass --param bucket=NAME/],
    [
      "a mistyped mode",
      { bucket: BUCKET, larkAppId: "cli_example", mode: "sqss" },
      /--param mode=direct or --param mode=sqs \(got "sqss"\)/,
    ],
    ["no larkAppId", { bucket: BUCKET }, /^Pass --param larkAppId=cli_xxx/],
    [
      "a key of another region",
      { bucket: BUCKET, larkAppId: "cli_x", kmsKeyArn: KMS_KEY.replace("us-east-1", "eu-west-1") },
      /The KMS key is in eu-west-1, the stack in us-east-1: .*pass --region eu-west-1/,
    ],
    [
      "a wildcard in an sqs-mode prefix",
      { bucket: BUCKET, larkAppId: "cli_x", mode: "sqs", prefix: "a*b/" },
      /prefix and suffix cannot hold/,
    ],
  ];
  // Each refusal is a separate osls run: all at once, then one test each.
  let runs: ServerlessRun[];
  before(async () => {
    runs = await Promise.all(
      cases.map(([, params], i) =>
        runServerless(
          join(workspace, "project-direct"),
          ["package", "--region", "us-east-1", "--package", join(workspace, `refused-${i}`)],
          params,
          {},
        ),
      ),
    );
  });
  cases.forEach(([what, , expected], i) => {
    test(`refuses ${what}`, () => {
      const run = runs[i]!;
      assert.notEqual(run.code, 0);
      const message = serverlessError(run);
      assert.equal(message.split("\n").length, 1, `one line, got:\n${message}`);
      assert.match(message, expected);
    });
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

// ---------------------------------------------------------------- reading the evaluated template

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

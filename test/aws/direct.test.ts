/**
 * Direct mode, deployed for real into moto and run: `serverless deploy` creates the stack; moto's S3 sends its
 * notifications; the deployed package runs on the Lambda-like host with the execution role's credentials while
 * moto enforces IAM; Lambda's asynchronous invocation (retries, on-failure destination) carries the events.
 * Two stacks: a bucket the stack creates (prefix incoming/, SSM secret, a KMS key) and an existing bucket
 * (osls's custom resource, suffix .pdf, the secret in Secrets Manager).
 *
 * Lambda waits about 1 and 2 minutes before its two retries; here 3 s each.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  type BucketLocationConstraint,
  CreateBucketCommand,
  DeleteObjectCommand,
  GetBucketNotificationConfigurationCommand,
  PutBucketNotificationConfigurationCommand,
  PutBucketVersioningCommand,
} from "@aws-sdk/client-s3";
import { type AwsError, awsJson } from "../../local/aws/aws-json";
import { type RunningFunction, runFunction } from "../../local/aws/deployed-function";
import { type DeployedStack, deployStack } from "../../local/aws/stack";
import type { Json } from "../../local/aws/template";
import { type AwsStage, deployerEnv, objectState, putObject, run, startAwsStage, waitFor } from "./support";

const PREFIX = "incoming/";
const BUCKET = "inbox";
const EXISTING = "existing-inbox";
const TO_DOCX = { "lark-parent-type": "docx_file", "lark-parent-node": "doxcnTarget01" };
const RETRY_DELAYS_MS = [3000, 3000];

let stage: AwsStage;
let created: DeployedStack;
let existing: DeployedStack;
let fn: RunningFunction;
let fnExisting: RunningFunction;
let kmsKeyArn: string;

before(async () => {
  stage = await startAwsStage();
  const { moto, aws, lark, workspace } = stage;
  const { KeyMetadata } = await awsJson<{ KeyMetadata: { Arn: string } }>(aws.to, "kms", "CreateKey", {
    Description: "the bucket's SSE-KMS key",
  });
  kmsKeyArn = KeyMetadata.Arn;
  await aws.ssm.putParameter({ Name: "/s3-to-lark/lark-app-secret", Type: "SecureString", Value: lark.appSecret });
  await aws.secrets.createSecret({ Name: "s3-to-lark/app-secret", SecretString: lark.appSecret });
  await aws.s3.send(
    new CreateBucketCommand({
      Bucket: EXISTING,
      CreateBucketConfiguration: { LocationConstraint: moto.region as BucketLocationConstraint },
    }),
  );
  const common = {
    larkAppId: lark.appId,
    larkBaseUrl: lark.url,
    larkDefaultParentType: "docx_file",
    larkDefaultParentNode: "doxcnDefault",
  };
  [created, existing] = await Promise.all([
    deployStack({
      moto,
      aws,
      workspace,
      stage: "direct",
      params: { ...common, bucket: BUCKET, prefix: PREFIX, kmsKeyArn },
    }),
    deployStack({
      moto,
      aws,
      workspace,
      stage: "existing",
      params: {
        ...common,
        bucket: EXISTING,
        existingBucket: "true",
        suffix: ".pdf",
        larkAppSecretId: "s3-to-lark/app-secret",
      },
    }),
  ]);
  [fn, fnExisting] = await Promise.all(
    [created, existing].map((stack) =>
      runFunction({ moto, aws, stack, dir: workspace, retryDelaysMs: RETRY_DELAYS_MS }),
    ),
  );
  await moto.enforceIam();
});

after(async () => {
  await Promise.all([fn?.close(), fnExisting?.close()]);
  await stage?.close();
});

/** Waits until the asynchronous invocations settle, then returns the object as a user sees it. */
async function settled(running: RunningFunction, bucket: string, key: string) {
  await new Promise((r) => setTimeout(r, 1500)); // S3 -> the notification queue -> Lambda's queue
  await running.asyncInvoker!.idle();
  return objectState(stage.aws, bucket, key);
}

const uploadsOf = (key: string) => stage.lark.files.filter((f) => f.fileName === key.split("/").pop());

describe("direct mode, deployed into moto", () => {
  test("serverless deploy, pointed at moto by AWS_ENDPOINT_URL, creates the stack; the host runs what it holds", async (t) => {
    t.diagnostic(
      `deploys: ${created.deploySeconds.toFixed(1)} s and ${existing.deploySeconds.toFixed(1)} s (in parallel)`,
    );
    const { aws } = stage;
    const config = await aws.lambda.getFunctionConfiguration({ FunctionName: created.functionName });
    assert.equal(config.Handler, "functions/upload-to-lark.handler");
    assert.equal(config.Runtime, "nodejs24.x");
    assert.deepEqual([fn.fn.timeoutSeconds, fn.fn.memoryMb, fn.fn.reservedConcurrency], [120, 512, 1]);
    assert.equal(fn.fn.environment.LARK_APP_SECRET_SSM_PARAMETER, "/s3-to-lark/lark-app-secret");
    assert.equal(fnExisting.fn.environment.LARK_APP_SECRET_SECRET_ID, "s3-to-lark/app-secret");
    assert.equal(fn.fn.environment.LARK_APP_SECRET, undefined, "the secret is read at run time, never deployed");

    // The package holds the bundle alone; the secret-store clients are left to the runtime and loaded with require.
    assert.deepEqual(fn.fn.files, ["functions/upload-to-lark.js"]);
    const bundle = await readFile(join(fn.fn.taskRoot, "functions/upload-to-lark.js"), "utf8");
    for (const client of ["@aws-sdk/client-ssm", "@aws-sdk/client-secrets-manager"])
      assert.ok(bundle.includes(`require("${client}")`), `${client} is loaded from the runtime with require`);

    // Asynchronous invocations as deployed: 2 retries, then the stack's failure queue.
    const invoke = await aws.lambda.getFunctionEventInvokeConfig({ FunctionName: created.functionName });
    assert.equal(invoke.MaximumRetryAttempts, 2);
    assert.equal(
      invoke.DestinationConfig?.OnFailure?.Destination?.split(":").pop(),
      created.outputs.FailureQueueUrl?.split("/").pop(),
    );

    // S3 may invoke the function only for this bucket and account (S3 checks it when the notification is set).
    const policy = JSON.parse((await aws.lambda.getPolicy({ FunctionName: created.functionName })).Policy!);
    const [statement] = policy.Statement;
    assert.deepEqual(statement.Principal, { Service: "s3.amazonaws.com" });
    assert.equal(statement.Condition.ArnLike["AWS:SourceArn"], `arn:aws:s3:::${BUCKET}`);

    // The bucket's subscriptions, as moto holds them: the three event types, each with the prefix.
    const notification = await aws.s3.send(new GetBucketNotificationConfigurationCommand({ Bucket: BUCKET }));
    assert.deepEqual(
      notification.QueueConfigurations?.map((c) => [c.Events, c.Filter?.Key?.FilterRules]),
      ["s3:ObjectCreated:*", "s3:ObjectTagging:Put", "s3:ObjectRestore:Completed"].map((e) => [
        [e],
        [{ Name: "prefix", Value: PREFIX }],
      ]),
    );
  });

  test("a tagged SSE-KMS file under the prefix ends with its token: one upload; metadata, tags and key kept", async () => {
    const key = `${PREFIX}quarterly-report.pdf`;
    const body = Buffer.from("%PDF-1.4 deployed for real\n".repeat(200));
    await putObject(stage.aws, BUCKET, key, body, {
      tags: TO_DOCX,
      ContentType: "application/pdf",
      Metadata: { author: "finance" },
      ServerSideEncryption: "aws:kms",
      SSEKMSKeyId: kmsKeyArn,
    });
    const state = await settled(fn, BUCKET, key);
    const [file, ...more] = uploadsOf(key);
    assert.equal(more.length, 0, "exactly one upload");
    assert.equal(state.token, file!.fileToken);
    assert.equal(file!.size, body.length);
    assert.equal(file!.sha256, createHash("sha256").update(body).digest("hex"));
    assert.equal(`${file!.parentType}/${file!.parentNode}`, "docx_file/doxcnTarget01");
    assert.equal(state.head.ContentType, "application/pdf");
    assert.equal(state.head.Metadata?.author, "finance");
    assert.equal(state.head.ServerSideEncryption, "aws:kms");
    assert.equal(state.head.SSEKMSKeyId, kmsKeyArn, "the metadata copy keeps the object's key");
    assert.deepEqual(state.tags, TO_DOCX);
    const logged = fn.records().find((r) => r.message === "uploaded" && r.key === key);
    assert.equal(logged?.fileToken, file!.fileToken);
    assert.ok(!fn.host.logs.join("\n").includes(stage.lark.appSecret), "the app secret is never logged");
    assert.equal(fn.host.stats.maxConcurrent, 1);
  });

  test("an untagged file goes to the default parent; a file outside the prefix is not delivered", async () => {
    await putObject(stage.aws, BUCKET, `${PREFIX}notes.txt`, "notes");
    await putObject(stage.aws, BUCKET, "elsewhere/notes-2.txt", "not for Lark");
    const inside = await settled(fn, BUCKET, `${PREFIX}notes.txt`);
    assert.equal(inside.token, uploadsOf("notes.txt")[0]?.fileToken);
    assert.equal(uploadsOf("notes.txt")[0]?.parentNode, "doxcnDefault");
    const outside = await objectState(stage.aws, BUCKET, "elsewhere/notes-2.txt");
    assert.equal(outside.token, undefined);
    assert.ok(!fn.records().some((r) => r.key === "elsewhere/notes-2.txt"), "the function never saw it");
  });

  test("least privilege: the deployed role holds the object calls on BUCKET/PREFIX*, ListBucket, the one secret, the key, the failure queue and its logs", async (t) => {
    const { aws } = stage;
    const { PolicyNames = [] } = await aws.iam.listRolePolicies({ RoleName: created.roleName });
    const statements: Json[] = [];
    for (const PolicyName of PolicyNames) {
      const { PolicyDocument } = await aws.iam.getRolePolicy({ RoleName: created.roleName, PolicyName });
      statements.push(...JSON.parse(decodeURIComponent(PolicyDocument!)).Statement);
    }
    t.diagnostic(`the role's statements, for review:\n${JSON.stringify(statements, null, 1)}`);
    const granted = new Map<string, string[]>();
    for (const s of statements) {
      assert.equal(s.Effect, "Allow");
      for (const action of [s.Action].flat()) granted.set(action, [s.Resource].flat());
    }
    const failureQueue = `arn:aws:sqs:${created.region}:${created.accountId}:${created.outputs.FailureQueueUrl!.split("/").pop()}`;
    const objects = [`arn:aws:s3:::${BUCKET}/${PREFIX}*`];
    const logGroup = `arn:aws:logs:${created.region}:${created.accountId}:log-group:/aws/lambda/s3-to-lark-direct*:*`;
    assert.deepEqual(Object.fromEntries([...granted].sort()), {
      "kms:Decrypt": ["*"], // the harness widened it: moto checks KMS calls against "*" (deploy.test.ts checks the key)
      "kms:GenerateDataKey": ["*"],
      "logs:CreateLogGroup": [logGroup],
      "logs:CreateLogStream": [logGroup],
      "logs:PutLogEvents": [`${logGroup}:*`],
      "logs:TagResource": [logGroup],
      "s3:GetObject": objects,
      "s3:GetObjectTagging": objects,
      "s3:GetObjectVersion": objects,
      "s3:GetObjectVersionTagging": objects,
      "s3:ListBucket": [`arn:aws:s3:::${BUCKET}`],
      "s3:PutObject": objects,
      "s3:PutObjectTagging": objects,
      "s3:PutObjectVersionTagging": objects,
      "sqs:SendMessage": [failureQueue],
      "ssm:GetParameter": ["*"], // widened likewise (moto checks SSM calls against "*")
    });
  });

  test("IAM is enforced: without s3:GetObjectTagging the function fails as misconfigured (ConfigurationErrors, the alarm's metric); with it back, Lambda's retry uploads", async () => {
    const { aws } = stage;
    const policyName = "s3-to-lark-direct-lambda";
    const original = (await aws.iam.getRolePolicy({ RoleName: created.roleName, PolicyName: policyName }))
      .PolicyDocument!;
    const document = JSON.parse(decodeURIComponent(original));
    for (const s of document.Statement)
      if (Array.isArray(s.Action)) s.Action = s.Action.filter((a: string) => a !== "s3:GetObjectTagging");
    await aws.iam.putRolePolicy({
      RoleName: created.roleName,
      PolicyName: policyName,
      PolicyDocument: JSON.stringify(document),
    });
    const key = `${PREFIX}needs-tags.txt`;
    const before = fn.asyncInvoker!.invocations.length;
    try {
      await putObject(aws, BUCKET, key, "needs tags");
      const failed = await waitFor("the first attempt", () =>
        fn.asyncInvoker!.invocations.slice(before).find((i) => i.logs.some((l) => l.includes(key))),
      );
      assert.ok(failed.error, "the invocation fails");
      const line = failed.logs.map((l) => JSON.parse(l)).find((r) => r.message === "failed");
      assert.equal(line?.error?.name, "ConfigurationError");
      assert.match(JSON.stringify(line), /AccessDenied/);
      // The embedded metric the deployed alarm watches.
      const emf = failed.logs.map((l) => JSON.parse(l)).find((r) => r._aws && r.ConfigurationErrors);
      const { MetricAlarms = [] } = await aws.cloudwatch.describeAlarms({
        AlarmNamePrefix: `${created.stackName}-ConfigurationErrorsAlarm`,
      });
      const [alarm] = MetricAlarms;
      const [definition] = emf._aws.CloudWatchMetrics;
      assert.equal(definition.Namespace, alarm!.Namespace);
      assert.ok(definition.Metrics.some((m: Json) => m.Name === alarm!.MetricName));
      assert.deepEqual(
        alarm!.Dimensions!.map((d) => [d.Name, emf[d.Name!]]),
        alarm!.Dimensions!.map((d) => [d.Name, d.Value]),
      );
    } finally {
      await aws.iam.putRolePolicy({
        RoleName: created.roleName,
        PolicyName: policyName,
        PolicyDocument: decodeURIComponent(original),
      });
    }
    const state = await settled(fn, BUCKET, key);
    assert.equal(state.token, uploadsOf(key)[0]?.fileToken, "uploaded by a retry");
  });

  test("versioned bucket: an event with its versionId (as S3 sends on AWS; moto's events carry none) pins the reads, allowed by the role (moto checks s3:GetObjectVersion, and GetObjectTagging/PutObjectTagging for the …Version calls)", async () => {
    const { aws } = stage;
    await aws.s3.send(
      new PutBucketVersioningCommand({ Bucket: BUCKET, VersioningConfiguration: { Status: "Enabled" } }),
    );
    // moto's event for this put would arrive first, without a version: the bucket stays silent meanwhile.
    const notification = await aws.s3.send(new GetBucketNotificationConfigurationCommand({ Bucket: BUCKET }));
    await aws.s3.send(new PutBucketNotificationConfigurationCommand({ Bucket: BUCKET, NotificationConfiguration: {} }));
    const key = `${PREFIX}versioned.txt`;
    let put: Awaited<ReturnType<typeof putObject>>;
    try {
      put = await putObject(aws, BUCKET, key, "version one", { tags: TO_DOCX });
    } finally {
      await aws.s3.send(
        new PutBucketNotificationConfigurationCommand({
          Bucket: BUCKET,
          NotificationConfiguration: { QueueConfigurations: notification.QueueConfigurations },
        }),
      );
    }
    assert.ok(put.VersionId);
    const record = {
      eventVersion: "2.1",
      eventSource: "aws:s3",
      awsRegion: created.region,
      eventTime: new Date().toISOString(),
      eventName: "ObjectCreated:Put",
      s3: {
        s3SchemaVersion: "1.0",
        bucket: { name: BUCKET, arn: `arn:aws:s3:::${BUCKET}` },
        object: {
          key: encodeURIComponent(key).replace(/%2F/g, "/"),
          size: 11,
          eTag: put.ETag!.replace(/"/g, ""),
          versionId: put.VersionId,
          sequencer: "0A1B2C3D4E5F678901",
        },
      },
    };
    fn.asyncInvoker!.push({ Records: [record] });
    const state = await settled(fn, BUCKET, key);
    assert.equal(state.token, uploadsOf(key)[0]?.fileToken);
    const line = fn.records().find((r) => r.message === "uploaded" && r.key === key);
    assert.equal(line?.versionId, put.VersionId, "the upload was pinned to the event's version");
  });

  test("KMS: the role may call what S3 calls on its behalf with the bucket key (GenerateDataKey for the copy, Decrypt for the read); moto's S3 calls no KMS, and moto checks KMS calls against Resource *", async () => {
    const { aws } = stage;
    const asRole = { ...aws.to, credentials: fn.roleCredentials };
    const data = await awsJson<{ CiphertextBlob: string }>(asRole, "kms", "GenerateDataKey", {
      KeyId: kmsKeyArn,
      KeySpec: "AES_256",
    });
    await awsJson(asRole, "kms", "Decrypt", { CiphertextBlob: data.CiphertextBlob, KeyId: kmsKeyArn });
    // The stack without kmsKeyArn has no KMS right at all.
    const other = { ...aws.to, credentials: fnExisting.roleCredentials };
    await assert.rejects(
      awsJson(other, "kms", "GenerateDataKey", { KeyId: kmsKeyArn, KeySpec: "AES_256" }),
      (err: AwsError) => err.status === 403 || /AccessDenied/.test(err.name),
    );
  });

  test("an existing bucket: osls's custom resource subscription (applied by the harness) delivers .pdf files only; the secret comes from Secrets Manager", async () => {
    await putObject(stage.aws, EXISTING, "contract.pdf", "%PDF contract", { tags: TO_DOCX });
    await putObject(stage.aws, EXISTING, "contract.txt", "not a pdf", { tags: TO_DOCX });
    const pdf = await settled(fnExisting, EXISTING, "contract.pdf");
    assert.equal(pdf.token, uploadsOf("contract.pdf")[0]?.fileToken);
    const txt = await objectState(stage.aws, EXISTING, "contract.txt");
    assert.equal(txt.token, undefined);
    assert.equal(uploadsOf("contract.txt").length, 0);
  });

  test("a persistent Lark outage: 3 attempts, the event in the on-failure queue, the object untouched; npm run backfill then finishes it", async (t) => {
    const { aws, lark, moto } = stage;
    const key = `${PREFIX}during-outage.txt`;
    lark.injectFault({ fault: { kind: "http", status: 503 }, path: "upload_all", times: 1_000_000 });
    try {
      await putObject(aws, BUCKET, key, "sent while Lark is down");
      const state = await settled(fn, BUCKET, key);
      assert.equal(state.token, undefined);
      assert.equal(state.tags["lark-upload-error"], undefined, "a transient failure is not the object's fault");
      assert.equal(uploadsOf(key).length, 0);
    } finally {
      lark.clearFaults();
    }
    const failureQueue = created.outputs.FailureQueueUrl!;
    const records = (await aws.sqs.drain(await aws.sqs.queueUrl(failureQueue.split("/").pop()!))).map((m) =>
      JSON.parse(m.Body),
    );
    const mine = records.filter((r) => JSON.stringify(r.requestPayload).includes("during-outage.txt"));
    assert.ok(mine.length >= 1, "the event is in the on-failure queue");
    const ofPut = mine.find((r) => r.requestPayload.Records[0].eventName === "ObjectCreated:Put");
    assert.equal(ofPut.requestContext.condition, "RetriesExhausted");
    assert.equal(ofPut.requestContext.approximateInvokeCount, 3);
    assert.equal(ofPut.responsePayload.errorType, "InvocationFailedError");

    // The documented redrive: a backfill of the prefix, from the deployer's machine, with the function's settings.
    const env = { ...deployerEnv(moto), ...pick(fn.fn.environment, /^LARK_/) };
    // moto's S3 signature check fails when the query holds an encoded "/" (a listing of prefix incoming/):
    // the deployer's backfill runs with IAM enforcement off. The function itself lists nothing.
    await moto.relaxIam();
    const backfill = await run("npm", ["run", "--silent", "backfill", "--", `s3://${BUCKET}/${PREFIX}`], env).finally(
      () => moto.enforceIam(),
    );
    t.diagnostic(backfill.stdout.trim().split("\n").slice(-3).join("\n"));
    assert.equal(backfill.code, 0, backfill.stderr);
    const after = await objectState(aws, BUCKET, key);
    const uploads = uploadsOf(key);
    assert.equal(uploads.length, 1);
    assert.equal(after.token, uploads[0]!.fileToken);
  });

  test("deploy/check.sh, the documented end-to-end check, shows the token", async () => {
    const check = await run(
      "bash",
      ["deploy/check.sh", "--region", stage.moto.region, "--bucket", BUCKET, "--prefix", PREFIX, "--timeout", "60"],
      deployerEnv(stage.moto),
    );
    assert.equal(check.code, 0, `${check.stdout}\n${check.stderr}`);
    const token = /uploaded: lark-file-token=(\S+)/.exec(check.stdout)?.[1];
    assert.ok(
      stage.lark.files.some((f) => f.fileToken === token),
      check.stdout,
    );
  });

  test("a refused object is tagged once: the ObjectTagging:Put its own tag write fires starts no loop", async () => {
    const key = `${PREFIX}bad-parent.txt`;
    await putObject(stage.aws, BUCKET, key, "refused", {
      tags: { "lark-parent-type": "nowhere", "lark-parent-node": "x" },
    });
    await waitFor("the error tag", async () => (await objectState(stage.aws, BUCKET, key)).tags["lark-upload-error"]);
    await new Promise((r) => setTimeout(r, 5000));
    const seen = fn.records().filter((r) => r.key === key && r.outcome).length;
    // The Put, moto's own ObjectTagging:Put for it, and the event of the error tag: no more.
    try {
      assert.ok(seen <= 3, `${seen} invocations for one refused object`);
    } finally {
      // Ends a loop, if there is one: a deleted object is skipped.
      await stage.aws.s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }));
      await fn.asyncInvoker!.idle();
    }
  });
});

function pick(env: Record<string, string>, pattern: RegExp): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter(([k]) => pattern.test(k)));
}

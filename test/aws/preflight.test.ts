/**
 * What deploy/preflight.cjs refuses on `serverless deploy`, against the account (moto), before any stack
 * exists: what the function would only find missing at run time. One line each, naming what to do.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { SSM } from "@aws-sdk/client-ssm";
import { serverlessError } from "../../local/aws/serverless";
import { serverlessDeploy } from "../../local/aws/stack";
import { type AwsStage, startAwsStage } from "./support";

let stage: AwsStage;

before(async () => {
  stage = await startAwsStage();
  const { aws, moto } = stage;
  // The secret where a user's CLI default put it: another region than the stack's.
  const elsewhere = new SSM({ ...aws.to, region: "us-east-1" });
  await elsewhere.putParameter({ Name: "/s3-to-lark/lark-app-secret", Type: "SecureString", Value: "s3cr3t" });
  elsewhere.destroy();
  await aws.s3.send(
    new CreateBucketCommand({
      Bucket: "plain-bucket",
      CreateBucketConfiguration: { LocationConstraint: moto.region as never },
    }),
  );
  const virginia = new S3Client({ ...aws.to, region: "us-east-1", forcePathStyle: true });
  await virginia.send(new CreateBucketCommand({ Bucket: "virginia-bucket" }));
  virginia.destroy();
});

after(async () => {
  await stage?.close();
});

const common = { larkAppId: "cli_example" };
const cases: [string, string, Record<string, string>, RegExp][] = [
  [
    "the SSM secret is in another region than the stack",
    "ssm",
    { ...common, bucket: "new-bucket" },
    /^SSM has no parameter \/s3-to-lark\/lark-app-secret in eu-west-1, the stack's region: create it there \(aws ssm put-parameter --region eu-west-1/,
  ],
  [
    "the Secrets Manager secret does not exist in the stack's region",
    "sm",
    { ...common, bucket: "new-bucket", larkAppSecretId: "s3-to-lark/app-secret" },
    /^Secrets Manager has no secret "s3-to-lark\/app-secret" in eu-west-1/,
  ],
  [
    "an existing bucket that does not exist",
    "nobucket",
    { ...common, bucket: "no-such-bucket", existingBucket: "true", larkAppSecretId: "x" },
    /^There is no bucket no-such-bucket: create it, or deploy with --param existingBucket=false\.$/,
  ],
  [
    "an existing bucket in another region",
    "otherregion",
    { ...common, bucket: "virginia-bucket", existingBucket: "true", larkAppSecretSsmParameter: "/elsewhere" },
    /^The bucket virginia-bucket is in us-east-1, the stack in eu-west-1: pass --region us-east-1\.$/,
  ],
];

test("refusals: one line each, and no stack left behind", async () => {
  const { moto, aws, workspace } = stage;
  await aws.ssm.putParameter({ Name: "/elsewhere", Type: "SecureString", Value: "s3cr3t" });
  await aws.secrets.createSecret({ Name: "x", SecretString: "s3cr3t" });
  const runs = await Promise.all(cases.map(([, name, params]) => serverlessDeploy(moto, workspace, name, params)));
  cases.forEach(([what, , , expected], i) => {
    const run = runs[i]!;
    const message = serverlessError(run);
    assert.notEqual(run.code, 0, `${what}: deployed`);
    assert.equal(message.split("\n").length, 1, `${what}: one line, got:\n${message}`);
    assert.match(message, expected, what);
  });
  for (const [, name] of cases)
    await assert.rejects(aws.cloudformation.describeStacks({ StackName: `s3-to-lark-${name}` }), /does not exist/);
});

test("sqs mode on an existing bucket whose events do not go to EventBridge is refused (moto never reports a bucket's EventBridge setting, so the accepted case is not tested)", async () => {
  const { moto, workspace } = stage;
  await stage.aws.ssm.putParameter({
    Name: "/s3-to-lark/lark-app-secret",
    Type: "SecureString",
    Value: "s3cr3t",
    Overwrite: true,
  });
  const run = await serverlessDeploy(moto, workspace, "noeventbridge", {
    ...common,
    bucket: "plain-bucket",
    existingBucket: "true",
    mode: "sqs",
  });
  assert.notEqual(run.code, 0);
  assert.match(
    serverlessError(run),
    /^The bucket plain-bucket does not send its events to EventBridge: turn that on first \(docs\/deploy.md, An existing bucket\)\.$/,
  );
});

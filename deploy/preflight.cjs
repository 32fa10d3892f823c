"use strict";
/**
 * An osls plugin (serverless.yml `plugins`) that checks a deployment before anything is built or sent, so a
 * mistake costs one line saying what to pass instead of a half-made stack or a function that fails at run time:
 *
 *   - when the template is built (package, deploy): the params (custom.preflight in serverless.yml);
 *   - on deploy, against the account, in the stack's region: the app secret exists there (the function reads
 *     it from its own region), an existing bucket is there, and in sqs mode sends its events to EventBridge.
 */

const MODES = ["direct", "sqs"];

class Preflight {
  constructor(serverless, _options, { log }) {
    this.serverless = serverless;
    this.log = log;
    this.provider = serverless.getProvider("aws");
    this.hooks = {
      "before:package:initialize": () => this.checkParams(),
      "before:deploy:deploy": () => this.checkAccount(),
    };
  }

  get params() {
    return this.serverless.service.custom.preflight;
  }

  fail(message) {
    throw new this.serverless.classes.Error(message);
  }

  checkParams() {
    const p = this.params;
    const region = this.provider.getRegion();
    if (!p.bucket) this.fail("Pass --param bucket=NAME: the S3 bucket whose new files go to Lark.");
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(p.bucket))
      this.fail(`--param bucket=${p.bucket} is not an S3 bucket name (3-63 characters: a-z 0-9 . -).`);
    if (!MODES.includes(p.mode)) this.fail(`Pass --param mode=direct or --param mode=sqs (got "${p.mode}").`);
    if (!["true", "false"].includes(String(p.existingBucket)))
      this.fail(`Pass --param existingBucket=true or --param existingBucket=false (got "${p.existingBucket}").`);
    if (!String(p.larkAppId).trim())
      this.fail("Pass --param larkAppId=cli_xxx: the App ID of the Lark custom app (docs/deploy.md, The Lark app).");
    if (!p.larkAppSecretId && !String(p.larkAppSecretSsmParameter).startsWith("/"))
      this.fail(
        `--param larkAppSecretSsmParameter must be a full parameter name starting with "/" (got "${p.larkAppSecretSsmParameter}").`,
      );
    if (p.mode === "sqs" && /[*\\]/.test(`${p.prefix}${p.suffix}`))
      this.fail('In sqs mode the prefix and suffix cannot hold "*" or "\\" (they become an EventBridge wildcard).');
    const keyRegion = /^arn:aws[a-z-]*:kms:([a-z0-9-]+):/.exec(p.kmsKeyArn)?.[1];
    if (p.kmsKeyArn && !keyRegion)
      this.fail(`--param kmsKeyArn must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID), got "${p.kmsKeyArn}".`);
    if (keyRegion && keyRegion !== region)
      this.fail(
        `The KMS key is in ${keyRegion}, the stack in ${region}: a bucket's key is in the bucket's region; pass --region ${keyRegion}.`,
      );
  }

  async checkAccount() {
    const p = this.params;
    const region = this.provider.getRegion();
    const config = await this.provider.getAwsSdkV3Config();
    const notFound = (err) => err?.$metadata?.httpStatusCode === 404 || /NotFound|NoSuch/.test(err?.name ?? "");

    if (p.larkAppSecretId) {
      const { SecretsManagerClient, DescribeSecretCommand } = require("@aws-sdk/client-secrets-manager");
      const client = new SecretsManagerClient(config);
      await client.send(new DescribeSecretCommand({ SecretId: p.larkAppSecretId })).catch((err) => {
        if (!notFound(err)) throw err;
        this.fail(
          `Secrets Manager has no secret "${p.larkAppSecretId}" in ${region}, the stack's region: create it there (--region ${region}) or deploy with --region REGION.`,
        );
      });
    } else {
      const { SSMClient, DescribeParametersCommand } = require("@aws-sdk/client-ssm");
      const client = new SSMClient(config);
      const name = p.larkAppSecretSsmParameter;
      // Describe, not Get: the check needs no read right on the value and never holds it.
      const out = await client.send(
        new DescribeParametersCommand({ ParameterFilters: [{ Key: "Name", Values: [name] }] }),
      );
      if (!out.Parameters?.length)
        this.fail(
          `SSM has no parameter ${name} in ${region}, the stack's region: create it there (aws ssm put-parameter --region ${region} ...) or deploy with --region REGION.`,
        );
    }

    if (p.existingBucket === "true" || p.existingBucket === true) {
      const {
        S3Client,
        GetBucketLocationCommand,
        GetBucketNotificationConfigurationCommand,
      } = require("@aws-sdk/client-s3");
      const s3 = new S3Client(config);
      const location = await s3.send(new GetBucketLocationCommand({ Bucket: p.bucket })).catch((err) => {
        if (!notFound(err)) throw err;
        this.fail(`There is no bucket ${p.bucket}: create it, or deploy with --param existingBucket=false.`);
      });
      // S3 reports us-east-1 as no constraint, and eu-west-1 as "EU" for buckets of the old API.
      const bucketRegion =
        { "": "us-east-1", EU: "eu-west-1" }[location.LocationConstraint ?? ""] ?? location.LocationConstraint;
      if (bucketRegion !== region)
        this.fail(
          `The bucket ${p.bucket} is in ${bucketRegion}, the stack in ${region}: pass --region ${bucketRegion}.`,
        );
      if (p.mode === "sqs") {
        const notification = await s3.send(new GetBucketNotificationConfigurationCommand({ Bucket: p.bucket }));
        if (!notification.EventBridgeConfiguration)
          this.fail(
            `The bucket ${p.bucket} does not send its events to EventBridge: turn that on first (docs/deploy.md, An existing bucket).`,
          );
      }
    }
  }
}

module.exports = Preflight;

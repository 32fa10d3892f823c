/**
 * cfn-lint, AWS's CloudFormation linter (a Python tool, like moto: not on npm), on every variant of the
 * template: both modes, a created and an existing bucket, with a key filter, KMS key, Secrets Manager secret
 * and alarm topic. No error and no warning; the warnings that remain on osls's own resources are suppressed
 * in serverless.yml (cfn-lint metadata) with the reason.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type Packaged, packageService } from "../../local/aws/serverless";

/**
 * What changes the template's structure is the mode and whether the bucket exists; the other params are
 * Parameters of one template, whose every Condition branch cfn-lint checks. The values here are real ones,
 * so the defaults are checked too.
 */
const VARIANTS: Record<string, Record<string, string>> = {
  "direct-created": {
    prefix: "incoming/",
    suffix: ".pdf",
    kmsKeyArn: "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
  },
  "direct-existing": {
    existingBucket: "true",
    larkAppSecretId: "s3-to-lark/app-secret",
    alarmTopicArn: "arn:aws:sns:us-east-1:123456789012:alarms",
  },
  "sqs-created": { mode: "sqs", prefix: "incoming/" },
  "sqs-existing": {
    mode: "sqs",
    existingBucket: "true",
    suffix: ".pdf",
    larkAppSecretId: "s3-to-lark/app-secret",
    alarmTopicArn: "arn:aws:sns:us-east-1:123456789012:alarms",
  },
};

let workspace: string;
let packaged: Packaged[];

before(async () => {
  workspace = await mkdtemp(join(tmpdir(), "s3-to-lark-cfn-lint-"));
  packaged = await Promise.all(
    Object.entries(VARIANTS).map(([name, params]) =>
      packageService(workspace, name, { bucket: "example-bucket", larkAppId: "cli_example", ...params }),
    ),
  );
});

after(async () => {
  if (workspace) await rm(workspace, { recursive: true, force: true });
});

test(`cfn-lint finds nothing in the ${Object.keys(VARIANTS).length} variants of the template`, async (t) => {
  const templates = packaged.map((p) => join(p.dir, "cloudformation-template-update-stack.json"));
  const { code, stdout, stderr } = await new Promise<{ code: number | string; stdout: string; stderr: string }>(
    (resolve) =>
      execFile("cfn-lint", ["--format", "parseable", ...templates], (err, stdout, stderr) =>
        resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr }),
      ),
  );
  assert.notEqual(
    code,
    "ENOENT",
    "cfn-lint is not on PATH. It is AWS's CloudFormation linter, a Python tool that npm cannot install: " +
      "`pip install cfn-lint` (CI has 1.51), then run `npm run test:aws` again.",
  );
  const version = await new Promise<string>((resolve) =>
    execFile("cfn-lint", ["--version"], (_, out) => resolve(out.trim())),
  );
  t.diagnostic(`${version}: ${packaged.map((p) => p.name).join(", ")}`);
  assert.equal(stdout.trim(), "", `cfn-lint findings:\n${stdout}${stderr}`);
  assert.equal(code, 0, stderr);
});

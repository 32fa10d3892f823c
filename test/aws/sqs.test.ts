/**
 * sqs mode, deployed into moto and run: S3 sends its events to EventBridge, the stack's rule puts them on a
 * FIFO queue in one message group, and the event source mapping (as deployed: batch size, partial batch
 * responses) feeds the deployed package on the Lambda-like host, with the role's credentials, IAM enforced.
 * Lambda's pollers are the harness's (event-sources.ts): five of them, as Lambda starts with, so anything
 * that lets two batches out at once, or throttles one behind the reserved concurrency, shows.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type RunningFunction, runFunction } from "../../local/aws/deployed-function";
import { type DeployedStack, deployStack } from "../../local/aws/stack";
import { type AwsStage, deployerEnv, objectState, putObject, run, startAwsStage, waitFor } from "./support";

const BUCKET = "fifo-inbox";
const PREFIX = "incoming/";
const TO_DOCX = { "lark-parent-type": "docx_file", "lark-parent-node": "doxcnTarget01" };
const BURST = 500;

let stage: AwsStage;
let stack: DeployedStack;
let fn: RunningFunction;
let queueUrl: string;
let dlqUrl: string;

before(async () => {
  stage = await startAwsStage();
  const { moto, aws, lark, workspace } = stage;
  await aws.ssm.putParameter({ Name: "/s3-to-lark/lark-app-secret", Type: "SecureString", Value: lark.appSecret });
  stack = await deployStack({
    moto,
    aws,
    workspace,
    stage: "fifo",
    params: {
      bucket: BUCKET,
      mode: "sqs",
      prefix: PREFIX,
      larkAppId: lark.appId,
      larkBaseUrl: lark.url,
      larkDefaultParentType: "docx_file",
      larkDefaultParentNode: "doxcnDefault",
    },
  });
  fn = await runFunction({ moto, aws, stack, dir: workspace });
  queueUrl = await aws.sqs.queueUrl(stack.outputs.UploadQueueUrl!.split("/").pop()!);
  dlqUrl = await aws.sqs.queueUrl(stack.outputs.DeadLetterQueueUrl!.split("/").pop()!);
  await moto.enforceIam();
});

after(async () => {
  await fn?.close();
  await stage?.close();
});

const uploadsOf = (key: string) => stage.lark.files.filter((f) => f.fileName === key.split("/").pop());

async function depth(url: string): Promise<number> {
  const a = await stage.aws.sqs.attributes(url);
  return Number(a.ApproximateNumberOfMessages) + Number(a.ApproximateNumberOfMessagesNotVisible);
}

describe("sqs mode, deployed into moto", () => {
  test("the rule, the FIFO queue and the event source mapping, as the APIs report them", async (t) => {
    t.diagnostic(`deployed in ${stack.deploySeconds.toFixed(1)} s`);
    const { aws } = stage;
    const rule = stack.physical.UploadRule!;
    const { EventPattern } = await aws.events.describeRule({ Name: rule });
    assert.deepEqual(JSON.parse(EventPattern!), {
      source: ["aws.s3"],
      "detail-type": ["Object Created", "Object Tags Added", "Object Restore Completed"],
      detail: { bucket: { name: [BUCKET] }, object: { key: [{ wildcard: `${PREFIX}*` }] } },
    });
    const { Targets = [] } = await aws.events.listTargetsByRule({ Rule: rule });
    assert.deepEqual(Targets[0]?.SqsParameters, { MessageGroupId: "uploads" });
    const queue = await aws.sqs.attributes(queueUrl);
    assert.equal(Targets[0]?.Arn, queue.QueueArn);
    assert.equal(queue.FifoQueue, "true");
    assert.equal(queue.ContentBasedDeduplication, "true");
    assert.equal(queue.VisibilityTimeout, "720");
    const redrive = JSON.parse(queue.RedrivePolicy!);
    assert.equal(Number(redrive.maxReceiveCount), 3);
    assert.equal(redrive.deadLetterTargetArn, (await aws.sqs.attributes(dlqUrl)).QueueArn);
    assert.deepEqual(
      JSON.parse(queue.Policy!).Statement[0].Condition.ArnEquals["aws:SourceArn"],
      `arn:aws:events:${stack.region}:${stack.accountId}:rule/${rule}`,
    );

    const mapping = stack.eventSource!;
    assert.deepEqual(
      [mapping.batchSize, mapping.reportBatchItemFailures, mapping.maximumConcurrency],
      [10, true, undefined],
    );
    assert.equal(mapping.queueArn, queue.QueueArn);
    const { State } = await aws.lambda.getEventSourceMapping({ UUID: mapping.uuid });
    assert.equal(State, "Disabled", "moto's own poller is off; the harness polls in Lambda's place");
  });

  test("files dropped into the bucket end with their tokens, one upload each", async () => {
    const keys = ["a.pdf", "b.pdf", "c.txt"].map((k) => `${PREFIX}${k}`);
    for (const key of keys) await putObject(stage.aws, BUCKET, key, `content of ${key}`, { tags: TO_DOCX });
    for (const key of keys) {
      const token = await waitFor(`the token of ${key}`, async () => (await objectState(stage.aws, BUCKET, key)).token);
      assert.deepEqual(
        uploadsOf(key).map((f) => f.fileToken),
        [token],
      );
    }
  });

  test("a persistent Lark outage: after 3 receives the messages are in the DLQ, the object untouched; npm run backfill then finishes it", async (t) => {
    const { aws, lark, moto } = stage;
    // Time compressed: 3 receives of the deployed 720 s visibility timeout would take 36 min. 2 s is shorter
    // than a failing invocation can be (4 Lark attempts with backoff for each message, one after another: the
    // two a tagged PutObject sends took 2.1-2.3 s), which 720 s never is. The messages then become visible
    // while the function still runs, which frees their group (SQS; moto's receive_message drops a visible
    // message from pending_messages), and a poller receives them into a throttle, one receive spent, as
    // Lambda's would. The burst counts only its own throttles.
    await aws.sqs.setAttributes(queueUrl, { VisibilityTimeout: "2" });
    const key = `${PREFIX}during-outage.txt`;
    lark.injectFault({ fault: { kind: "http", status: 503 }, path: "upload_all", times: 1_000_000 });
    try {
      await putObject(aws, BUCKET, key, "sent while Lark is down", { tags: TO_DOCX });
      await waitFor(
        "the upload queue to empty into the DLQ",
        async () => ((await depth(queueUrl)) ? undefined : true),
        120_000,
      );
    } finally {
      lark.clearFaults();
      await aws.sqs.setAttributes(queueUrl, { VisibilityTimeout: "720" });
    }
    const dead = await aws.sqs.drain(dlqUrl);
    const mine = dead.filter((m) => JSON.parse(m.Body).detail.object.key === key);
    assert.ok(
      mine.some((m) => JSON.parse(m.Body)["detail-type"] === "Object Created"),
      "the new file's event is in the DLQ",
    );
    for (const m of mine)
      assert.equal(m.Attributes?.ApproximateReceiveCount, "4", "3 failed receives, moved on the 4th");
    const state = await objectState(aws, BUCKET, key);
    assert.equal(state.token, undefined);
    assert.equal(state.tags["lark-upload-error"], undefined);
    assert.equal(uploadsOf(key).length, 0);

    await moto.relaxIam(); // as in direct.test.ts: moto cannot check the signature of a listing by prefix
    const backfill = await run("npm", ["run", "--silent", "backfill", "--", `s3://${BUCKET}/${PREFIX}`], {
      ...deployerEnv(moto),
      ...Object.fromEntries(Object.entries(fn.fn.environment).filter(([k]) => k.startsWith("LARK_"))),
    }).finally(() => moto.enforceIam());
    t.diagnostic(backfill.stdout.trim().split("\n").slice(-3).join("\n"));
    assert.equal(backfill.code, 0, backfill.stderr);
    const after = await objectState(aws, BUCKET, key);
    assert.deepEqual(
      uploadsOf(key).map((f) => f.fileToken),
      [after.token],
    );
  });

  test(`a burst of ${BURST} files: ${BURST} tokens, nothing in the DLQ, no concurrency or rate violation at Lark, one invocation at a time, none throttled`, async (t) => {
    const { aws, lark } = stage;
    // Lark's rate limit is the app's, whoever calls: the backfill just before uploaded within the last second,
    // and the burst's fifth upload in that second would be refused (429) on its account. Its window passes first.
    const lastUpload = Math.max(0, ...lark.requests.map((r) => r.startedAt));
    await new Promise((r) => setTimeout(r, Math.max(0, lastUpload + 1100 - Date.now())));
    const before = {
      ...lark.stats(),
      invocations: fn.host.stats.invocations,
      throttledBatches: fn.poller!.stats.throttledBatches,
    };
    const keys = Array.from({ length: BURST }, (_, i) => `${PREFIX}burst/file-${String(i).padStart(3, "0")}.txt`);
    const started = Date.now();
    for (let i = 0; i < keys.length; i += 25)
      await Promise.all(
        keys.slice(i, i + 25).map((key) => putObject(aws, BUCKET, key, `burst ${key}`, { tags: TO_DOCX })),
      );
    const putSeconds = (Date.now() - started) / 1000;
    const names = new Set(keys.map((k) => k.split("/").pop()));
    await waitFor(
      `${BURST} uploads`,
      () => (lark.files.filter((f) => names.has(f.fileName)).length >= BURST ? true : undefined),
      900_000,
    );
    const seconds = (Date.now() - started) / 1000;
    await waitFor("the upload queue to empty", async () => ((await depth(queueUrl)) ? undefined : true), 120_000);

    let tokens = 0;
    for (const key of keys) if ((await objectState(aws, BUCKET, key)).token) tokens++;
    const uploads = lark.files.filter((f) => names.has(f.fileName));
    const stats = lark.stats();
    const summary = {
      seconds: Number(seconds.toFixed(1)),
      putSeconds: Number(putSeconds.toFixed(1)),
      tokens,
      uploads: uploads.length,
      distinctUploads: new Set(uploads.map((f) => f.fileName)).size,
      dlq: await depth(dlqUrl),
      rateViolations: stats.rateViolations - before.rateViolations,
      concurrencyViolations: stats.concurrencyViolations - before.concurrencyViolations,
      invocations: fn.host.stats.invocations - before.invocations,
      maxConcurrent: fn.host.stats.maxConcurrent,
      throttledBatches: fn.poller!.stats.throttledBatches - before.throttledBatches,
    };
    t.diagnostic(JSON.stringify(summary));
    assert.equal(tokens, BURST);
    assert.equal(uploads.length, BURST, "one upload per file");
    assert.equal(summary.distinctUploads, BURST);
    assert.equal(summary.dlq, 0);
    assert.equal(summary.rateViolations, 0);
    assert.equal(summary.concurrencyViolations, 0);
    assert.equal(summary.maxConcurrent, 1);
    assert.equal(summary.throttledBatches, 0);
  });
});

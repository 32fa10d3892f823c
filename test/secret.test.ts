/** The app secret's sources, over real HTTP: SSM and Secrets Manager speak the AWS JSON protocol. */

import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, test } from "node:test";
import { ConfigurationError } from "../lib/errors";
import { secretReader } from "../lib/secret";

/** A minimal server for the AWS JSON protocol (SSM and Secrets Manager speak it), over real HTTP. */
async function awsJsonServer(answer: (target: string, body: any) => [number, unknown]) {
  const seen: { target: string; body: any }[] = [];
  const server = createServer((req, res) => {
    let data = "";
    req.on("data", (c) => (data += c));
    req.on("end", () => {
      const target = String(req.headers["x-amz-target"]);
      const body = JSON.parse(data || "{}");
      seen.push({ target, body });
      const [status, reply] = answer(target, body);
      res.writeHead(status, { "content-type": "application/x-amz-json-1.1" }).end(JSON.stringify(reply));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => new Promise((r) => server.close(r)),
  };
}

describe("the app secret's sources", () => {
  test("from an SSM SecureString, decrypted, read once per process", async () => {
    const ssm = await awsJsonServer(() => [
      200,
      { Parameter: { Name: "/s3-to-lark/secret", Type: "SecureString", Value: "from-ssm", Version: 1 } },
    ]);
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_SSM: ssm.url,
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "k",
      AWS_SECRET_ACCESS_KEY: "s",
    });
    try {
      const read = secretReader({ kind: "ssm", name: "/s3-to-lark/secret" });
      assert.equal(await read(), "from-ssm");
      assert.equal(await read(), "from-ssm");
      assert.equal(ssm.seen.length, 1);
      assert.equal(ssm.seen[0]!.target, "AmazonSSM.GetParameter");
      assert.deepEqual(ssm.seen[0]!.body, { Name: "/s3-to-lark/secret", WithDecryption: true });
    } finally {
      await ssm.close();
    }
  });

  test("from Secrets Manager; a missing secret is a configuration error that names it", async () => {
    const sm = await awsJsonServer((_t, body) =>
      body.SecretId === "lark"
        ? [200, { Name: "lark", SecretString: "from-sm" }]
        : [400, { __type: "ResourceNotFoundException", message: "no such secret" }],
    );
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_SECRETS_MANAGER: sm.url,
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "k",
      AWS_SECRET_ACCESS_KEY: "s",
    });
    try {
      assert.equal(await secretReader({ kind: "secretsmanager", id: "lark" })(), "from-sm");
      await assert.rejects(
        secretReader({ kind: "secretsmanager", id: "other" })(),
        (err: Error) =>
          err instanceof ConfigurationError && /secret other: ResourceNotFoundException/.test(err.message),
      );
    } finally {
      await sm.close();
    }
  });
});

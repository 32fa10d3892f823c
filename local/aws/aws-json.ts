/**
 * A signed call in the AWS JSON protocol, for the two services the harness needs whose SDK clients this
 * project does not have (SQS and KMS): a POST of the input as JSON with X-Amz-Target, signed with SigV4 by the
 * SDK's own signer. Replace with @aws-sdk/client-sqs and @aws-sdk/client-kms once they are dev dependencies.
 */
import { createHash, createHmac } from "node:crypto";
import { SignatureV4 } from "@smithy/signature-v4";
import type { Credentials } from "./moto";

export interface AwsEndpoint {
  endpoint: string;
  region: string;
  credentials: Credentials;
}

const PROTOCOLS = {
  sqs: { target: "AmazonSQS", contentType: "application/x-amz-json-1.0" },
  kms: { target: "TrentService", contentType: "application/x-amz-json-1.1" },
} as const;

export class AwsError extends Error {
  constructor(
    override readonly name: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export async function awsJson<T>(
  to: AwsEndpoint,
  service: keyof typeof PROTOCOLS,
  operation: string,
  input: object,
): Promise<T> {
  const url = new URL(to.endpoint);
  const body = JSON.stringify(input);
  const signer = new SignatureV4({ service, region: to.region, credentials: to.credentials, sha256: Sha256 });
  const request = await signer.sign({
    method: "POST",
    protocol: url.protocol,
    hostname: url.hostname,
    port: Number(url.port),
    path: "/",
    query: {},
    headers: {
      host: url.host,
      "content-type": PROTOCOLS[service].contentType,
      "x-amz-target": `${PROTOCOLS[service].target}.${operation}`,
    },
    body,
  });
  const res = await fetch(url, { method: "POST", headers: request.headers, body });
  const text = await res.text();
  if (!res.ok) {
    // An error in the protocol's JSON, or moto's authorisation errors, which come as XML whatever the protocol.
    const json = text.startsWith("{") ? JSON.parse(text) : {};
    const type = String(json.__type ?? /<Code>([^<]+)</.exec(text)?.[1] ?? res.status).replace(/^.*#/, "");
    const message = json.message ?? json.Message ?? /<Message>([^<]*)</.exec(text)?.[1] ?? text;
    throw new AwsError(type, `${service} ${operation}: ${type}: ${message}`, res.status);
  }
  return (text ? JSON.parse(text) : {}) as T;
}

/** SHA-256 and HMAC-SHA-256 in the shape the signer takes. */
type Data = string | ArrayBuffer | ArrayBufferView;
const bytes = (data: Data) =>
  typeof data === "string"
    ? data
    : ArrayBuffer.isView(data)
      ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
      : new Uint8Array(data);

class Sha256 {
  private readonly hash;
  constructor(secret?: Data) {
    this.hash = secret === undefined ? createHash("sha256") : createHmac("sha256", bytes(secret));
  }
  update(data: Data): void {
    this.hash.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
}

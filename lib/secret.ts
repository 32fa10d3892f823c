/**
 * The Lark app secret, read at run time from where the configuration says, once per cold start.
 * The SDK clients are imported only when used, so a plain-value setup loads neither.
 */
import type { SecretSource } from "./config";
import { ConfigurationError, TransientError } from "./errors";

export interface SecretReader {
  (): Promise<string>;
  /** Forget the value (Lark refused it: it may have been rotated); the next call reads it again. */
  forget(): void;
}

export function secretReader(source: SecretSource): SecretReader {
  let pending: Promise<string> | undefined;
  const reader = () => {
    pending ??= read(source).catch((err) => {
      pending = undefined; // a failed read is retried on the next call
      throw err;
    });
    return pending;
  };
  return Object.assign(reader, { forget: () => void (pending = undefined) });
}

async function read(source: SecretSource): Promise<string> {
  if (source.kind === "value") return source.value;
  try {
    if (source.kind === "ssm") {
      const { SSMClient, GetParameterCommand } = await import("@aws-sdk/client-ssm");
      const out = await new SSMClient({}).send(new GetParameterCommand({ Name: source.name, WithDecryption: true }));
      return nonEmpty(out.Parameter?.Value, `SSM parameter ${source.name}`);
    }
    const { SecretsManagerClient, GetSecretValueCommand } = await import("@aws-sdk/client-secrets-manager");
    const out = await new SecretsManagerClient({}).send(new GetSecretValueCommand({ SecretId: source.id }));
    return nonEmpty(out.SecretString, `secret ${source.id}`);
  } catch (err) {
    if (err instanceof ConfigurationError) throw err;
    const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
    const status = e.$metadata?.httpStatusCode ?? 0;
    const where = source.kind === "ssm" ? `SSM parameter ${source.name}` : `secret ${source.id}`;
    // Missing or forbidden will not fix itself; throttling and 5xx will.
    if (status >= 400 && status < 500 && status !== 429 && !/Throttl/i.test(e.name ?? "")) {
      throw new ConfigurationError(`cannot read the Lark app secret from ${where}: ${e.name}`, { cause: err });
    }
    throw new TransientError(`reading the Lark app secret from ${where} failed: ${e.name}`, { cause: err });
  }
}

function nonEmpty(value: string | undefined, what: string): string {
  if (!value) throw new ConfigurationError(`${what} is empty`);
  return value;
}

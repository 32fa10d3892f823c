/**
 * Lambda entry point: S3 (direct, via SQS or via EventBridge) -> Lark. Only adapts Lambda to lib/;
 * the runtime (clients, token cache, pacer) is built on the first invocation and kept for the next.
 */
import { createHandler } from "../lib/handler";
import { createRuntime, type Runtime } from "../lib/runtime";

let runtime: Runtime | undefined;

export const handler = createHandler({
  runtime: () => (runtime ??= createRuntime()),
  service: process.env.AWS_LAMBDA_FUNCTION_NAME,
});

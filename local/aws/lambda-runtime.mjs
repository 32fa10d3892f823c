// One Lambda execution environment, as the function sees it: started by lambda-host.ts in the unpacked
// package (cwd = LAMBDA_TASK_ROOT) with Lambda's environment variables, it loads the handler named by
// _HANDLER once (the cold start), then runs one invocation at a time as the host sends them, with a context
// like Lambda's (getRemainingTimeInMillis from the invocation's deadline). Plain JavaScript, loaded by node
// itself: no loader of ours stands between the function and Node, as none does in Lambda.
import { createRequire } from "node:module";
import { join } from "node:path";

const taskRoot = process.env.LAMBDA_TASK_ROOT ?? process.cwd();
const spec = process.env._HANDLER ?? "";

/** "functions/upload-to-lark.handler" -> the export `handler` of functions/upload-to-lark.js. */
function loadHandler() {
  const dot = spec.lastIndexOf(".");
  if (dot <= 0) throw Object.assign(new Error(`Bad handler ${spec}`), { name: "Runtime.MalformedHandlerName" });
  const file = join(taskRoot, `${spec.slice(0, dot)}.js`);
  let module;
  try {
    // No package.json in the package: a .js file is CommonJS, as Lambda loads it.
    module = createRequire(file)(file);
  } catch (err) {
    throw Object.assign(new Error(`Error: Cannot load ${file}: ${err?.message}`), {
      name: "Runtime.ImportModuleError",
    });
  }
  const handler = module[spec.slice(dot + 1)];
  if (typeof handler !== "function")
    throw Object.assign(new Error(`${spec} is undefined or not exported`), { name: "Runtime.HandlerNotFound" });
  return handler;
}

function errorOf(err) {
  const e = err instanceof Error ? err : new Error(String(err));
  return { errorType: e.name, errorMessage: e.message, stackTrace: (e.stack ?? "").split("\n").slice(1) };
}

let handler;
try {
  handler = loadHandler();
  process.send({ type: "ready" });
} catch (err) {
  process.send({ type: "init-error", error: errorOf(err) });
}

process.on("message", async (message) => {
  if (message.type !== "invoke") return;
  const { requestId, event, deadline } = message;
  const context = {
    callbackWaitsForEmptyEventLoop: true,
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: message.functionArn,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: requestId,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
  let reply;
  try {
    reply = { type: "result", requestId, payload: await handler(event, context) };
  } catch (err) {
    reply = { type: "result", requestId, error: errorOf(err) };
  }
  // Lambda's memory ceiling is checked by the host against the peak resident size.
  reply.maxRssBytes = process.resourceUsage().maxRSS * 1024;
  // The platform's END line, on the same pipe as the function's own lines: when the host reads it, it has
  // read everything the invocation wrote (stdout on a pipe is synchronous on Linux).
  process.stdout.write(`END RequestId: ${requestId}\n`);
  process.send(reply);
});

// Debian's headless chromium driven over the Chrome DevTools Protocol with Node's own WebSocket: enough of a
// browser for a test to load a page, wait for what it shows, read its DOM and take a screenshot. No browser is
// downloaded: a missing chromium fails with how to install it.

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const INSTALL = "apt-get update && apt-get install -y --no-install-recommends chromium";
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--remote-debugging-port=0",
];

export interface Page {
  navigate(url: string): Promise<void>;
  /** The value of a JavaScript expression evaluated in the page (awaited when it is a promise). */
  evaluate<T>(expression: string): Promise<T>;
  /** Evaluate `expression` until it is truthy; fail with `what` after `timeoutMs`. */
  waitFor(expression: string, what: string, timeoutMs?: number): Promise<void>;
  screenshot(): Promise<Buffer>;
}

export interface Browser {
  page: Page;
  close(): Promise<void>;
}

type Pending = { resolve: (value: any) => void; reject: (error: Error) => void };

export async function launchChromium(binary = process.env.CHROMIUM ?? "chromium"): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), "emulator-view-chromium-"));
  const child = spawn(binary, [...FLAGS, `--user-data-dir=${profile}`, "about:blank"], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  const cleanUp = () => rmSync(profile, { recursive: true, force: true });
  let endpoint: string;
  try {
    endpoint = await devtoolsEndpoint(child, binary);
  } catch (error) {
    child.kill("SIGKILL");
    cleanUp();
    throw error;
  }

  const socket = new WebSocket(endpoint);
  await new Promise((resolve, reject) => {
    socket.addEventListener("open", resolve, { once: true });
    socket.addEventListener("error", () => reject(new Error(`cannot reach chromium at ${endpoint}`)), { once: true });
  });
  let nextId = 1;
  const pending = new Map<number, Pending>();
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(String(event.data));
    const waiting = message.id === undefined ? undefined : pending.get(message.id);
    if (!waiting) return; // events: nothing here listens to them
    pending.delete(message.id);
    if (message.error) waiting.reject(new Error(`${message.error.message} (${message.error.code})`));
    else waiting.resolve(message.result);
  });
  const send = (method: string, params: object = {}, sessionId?: string): Promise<any> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      socket.send(JSON.stringify({ id, method, params, sessionId }));
    });

  const { targetId } = await send("Target.createTarget", { url: "about:blank" });
  const { sessionId } = await send("Target.attachToTarget", { targetId, flatten: true });
  const inPage = (method: string, params: object = {}) => send(method, params, sessionId);
  await inPage("Emulation.setDeviceMetricsOverride", { width: 1280, height: 900, deviceScaleFactor: 1, mobile: false });

  const evaluate = async <T>(expression: string): Promise<T> => {
    const answer = await inPage("Runtime.evaluate", { expression, returnByValue: true, awaitPromise: true });
    if (answer.exceptionDetails) throw new Error(`in the page: ${answer.exceptionDetails.exception?.description}`);
    return answer.result.value as T;
  };

  const page: Page = {
    navigate: async (url) => {
      await inPage("Page.navigate", { url });
    },
    evaluate,
    waitFor: async (expression, what, timeoutMs = 5000) => {
      const deadline = Date.now() + timeoutMs;
      while (!(await evaluate<boolean>(`Boolean(${expression})`).catch(() => false))) {
        if (Date.now() > deadline) throw new Error(`the page did not show ${what} within ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    screenshot: async () => {
      const { data } = await inPage("Page.captureScreenshot", { format: "png", captureBeyondViewport: true });
      return Buffer.from(data, "base64");
    },
  };

  return {
    page,
    close: async () => {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      await send("Browser.close").catch(() => {});
      socket.close();
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 2000))]);
      if (child.exitCode === null) child.kill("SIGKILL");
      cleanUp();
    },
  };
}

/** The browser's DevTools websocket URL, which chromium prints on stderr once it listens. */
function devtoolsEndpoint(child: ChildProcess, binary: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(() => reject(new Error(`chromium printed no DevTools URL in 10 s:\n${seen}`)), 10_000);
    child.once("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const missing = error.code === "ENOENT";
      reject(
        new Error(
          missing
            ? `${binary} is not installed. Install Debian's chromium (CI does): ${INSTALL}`
            : `cannot start ${binary}: ${error.message}`,
        ),
      );
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${binary} exited (${code}) before it listened:\n${seen}`));
    });
    child.stderr!.on("data", (chunk: Buffer) => {
      seen += chunk.toString();
      const url = /DevTools listening on (ws:\/\/\S+)/.exec(seen)?.[1];
      if (url) {
        clearTimeout(timer);
        resolve(url);
      }
    });
  });
}

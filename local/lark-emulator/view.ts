// A read-only web page of what the emulator holds (view.html), on its own port, bound to 127.0.0.1 only: the page
// at /, the emulator's state at /state (what GET /__emulator/state answers, plus which files' bytes can be shown),
// and those bytes at /files/<token>. The page polls /state every second, so it follows uploads as they arrive.

import { readFileSync } from "node:fs";
import http from "node:http";
import type { ReceivedFile } from "./files";
import { isImageName, mimeOf } from "./mime";

const PAGE = readFileSync(new URL("./view.html", import.meta.url));

/** What the view reads from the emulator. */
export interface Viewed {
  files: ReceivedFile[];
  state(): object;
}

type Headers = Record<string, string>;

export interface EmulatorView {
  url: string;
  close(): Promise<void>;
}

export async function startEmulatorView(emulator: Viewed, opts: { port?: number } = {}): Promise<EmulatorView> {
  const kept = () => emulator.files.filter((f) => f.bytes !== undefined);

  function answer(path: string): { status: number; type: string; body: string | Buffer; headers?: Headers } {
    if (path === "/") return { status: 200, type: "text/html; charset=utf-8", body: PAGE };
    if (path === "/state") {
      const state = {
        ...emulator.state(),
        kept: kept().map((f) => f.fileToken),
        images: kept()
          .filter((f) => isImageName(f.fileName))
          .map((f) => f.fileToken),
      };
      return { status: 200, type: "application/json; charset=utf-8", body: JSON.stringify(state) };
    }
    const token = /^\/files\/([A-Za-z0-9]+)$/.exec(path)?.[1];
    const file = kept().find((f) => f.fileToken === token);
    if (!file?.bytes) return { status: 404, type: "text/plain; charset=utf-8", body: "not found" };
    // A kept file is the user's: shown inline, but never run as a page of this origin (sandbox).
    const headers = {
      "content-security-policy": "sandbox",
      "content-disposition": `inline; filename*=UTF-8''${encodeURIComponent(file.fileName)}`,
    };
    return { status: 200, type: mimeOf(file.fileName), body: file.bytes, headers };
  }

  const server = http.createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const { status, type, body, headers } =
      req.method === "GET" ? answer(path) : { status: 405, type: "text/plain", body: "read only" };
    res.writeHead(status, {
      "content-type": type,
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
      ...headers,
    });
    res.end(body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

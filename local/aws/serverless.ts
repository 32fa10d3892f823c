/**
 * Runs osls (`node node_modules/osls/bin/serverless.js`, what `npx serverless` runs, minus npx's start-up) in
 * a throw-away copy of the project, so it neither writes into the working tree nor collides with another run.
 */
import { execFile } from "node:child_process";
import { cp, mkdir, readdir, readFile, symlink } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Json } from "./template";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SERVERLESS = join(ROOT, "node_modules", "osls", "bin", "serverless.js");

/** The project without its bulky or machine-local parts; node_modules is linked, not copied. */
export async function copyProject(to: string): Promise<void> {
  await mkdir(to, { recursive: true });
  const skip = new Set(["node_modules", ".git", ".local", ".serverless", ".esbuild", ".ci"]);
  for (const name of await readdir(ROOT)) {
    if (skip.has(name)) continue;
    await cp(join(ROOT, name), join(to, name), { recursive: true });
  }
  await symlink(join(ROOT, "node_modules"), join(to, "node_modules"), "dir");
}

export interface ServerlessRun {
  code: number;
  stdout: string;
  stderr: string;
  seconds: number;
}

/**
 * `serverless COMMAND ARGS --param k=v …` in `project`, with `env` as the whole environment (plus PATH and
 * HOME: osls caches its compiled config schema in ~/.serverless, and a fresh HOME costs ~5 s of CPU).
 */
export function runServerless(
  project: string,
  args: string[],
  params: Record<string, string>,
  env: Record<string, string>,
): Promise<ServerlessRun> {
  const argv = [SERVERLESS, ...args];
  for (const [k, v] of Object.entries(params)) argv.push("--param", `${k}=${v}`);
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      argv,
      {
        cwd: project,
        env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
        timeout: 300_000,
        maxBuffer: 16 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ code, stdout, stderr, seconds: (Date.now() - started) / 1000 });
      },
    );
  });
}

/** The message under "Error:" that osls prints on a failure (up to the next blank line): what a user reads. */
export function serverlessError(run: ServerlessRun): string {
  for (const text of [run.stderr, run.stdout]) {
    const at = text.lastIndexOf("Error:\n");
    if (at >= 0)
      return text
        .slice(at + "Error:\n".length)
        .split(/\n\s*\n/)[0]!
        .trim();
  }
  return "";
}

export interface Packaged {
  name: string;
  /** Where osls wrote the template, the state and the zip. */
  dir: string;
  /** The update-stack template as written. */
  raw: Json;
  rawText: string;
  seconds: number;
}

/**
 * `serverless package` of one variant, offline: no AWS credentials anywhere (environment, shared files,
 * instance metadata), as packaging must not need them. `region` is passed as a user passes it.
 */
export async function packageService(
  workspace: string,
  name: string,
  params: Record<string, string>,
  env: Record<string, string> = {},
): Promise<Packaged> {
  const project = join(workspace, `project-${name}`);
  const dir = join(workspace, `package-${name}`);
  await copyProject(project);
  const run = await runServerless(project, ["package", "--package", dir, "--region", "us-east-1"], params, {
    AWS_SHARED_CREDENTIALS_FILE: join(workspace, "no-aws-credentials"),
    AWS_CONFIG_FILE: join(workspace, "no-aws-config"),
    AWS_EC2_METADATA_DISABLED: "true",
    ...env,
  });
  if (run.code !== 0) throw new Error(`serverless package (${name}) failed:\n${run.stdout}\n${run.stderr}`);
  const rawText = await readFile(join(dir, "cloudformation-template-update-stack.json"), "utf8");
  return { name, dir, raw: JSON.parse(rawText), rawText, seconds: run.seconds };
}

// Runs before `npm start` and `npm test`: on a fresh clone (or after the lockfile changed) it installs exactly
// what the lockfile says, so those two commands are all a new user needs. Plain CommonJS: it runs before
// anything it would install (tsx, the Node 24 of the dev dependencies) exists.
const { spawnSync } = require("node:child_process");
const { statSync } = require("node:fs");
const { join } = require("node:path");

const root = join(__dirname, "..");
const mtime = (file) => {
  try {
    return statSync(join(root, file)).mtimeMs;
  } catch {
    return undefined;
  }
};

// npm writes node_modules/.package-lock.json at the end of every install.
const installed = mtime("node_modules/.package-lock.json");
const locked = mtime("package-lock.json");
if (installed === undefined || (locked !== undefined && locked > installed)) {
  process.stderr.write("Installing the dependencies the lockfile names (npm ci), once ...\n");
  // Inside an npm script npm_execpath is the npm that runs it; outside, the npm on PATH.
  const npm = process.env.npm_execpath;
  const [command, args] = npm ? [process.execPath, [npm]] : ["npm", []];
  const result = spawnSync(command, [...args, "ci", "--no-audit", "--no-fund", "--loglevel=warn"], {
    cwd: root,
    stdio: "inherit",
  });
  if (result.status !== 0) {
    process.stderr.write(
      `npm ci failed (${result.error?.message ?? `exit ${result.status}`}): run it yourself to see why.\n`,
    );
    process.exit(1);
  }
}

// Runs before `npm test`: the emulator's web view is tested in Debian's headless chromium (no browser download
// from anywhere else). Where it is missing and this machine can install Debian packages without a prompt (root,
// or sudo without a password), it installs it, once; elsewhere it says how, and the browser test alone fails.
const { spawnSync } = require("node:child_process");

const INSTALL = "apt-get update && apt-get install -y --no-install-recommends chromium";
const has = (command) => spawnSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" }).status === 0;
const say = (line) => process.stderr.write(`${line}\n`);

if (!process.env.CHROMIUM && !has("chromium")) {
  const root = process.getuid?.() === 0;
  const sudo = !root && has("sudo") && spawnSync("sudo", ["-n", "true"], { stdio: "ignore" }).status === 0;
  if (!has("apt-get") || !(root || sudo)) {
    say(`chromium is not installed, so the web view's browser test will fail. Install it: ${INSTALL}`);
  } else {
    say("Installing Debian's chromium for the web view's browser test, once ...");
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    const run = (args) => {
      const [command, rest] = root ? [args[0], args.slice(1)] : ["sudo", ["-n", ...args]];
      return spawnSync(command, rest, { env, stdio: ["ignore", "ignore", "inherit"] }).status === 0;
    };
    const done =
      run(["apt-get", "update", "-q"]) &&
      run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"]);
    if (!done) say(`Installing chromium failed, so the web view's browser test will fail. Try: ${INSTALL}`);
  }
}

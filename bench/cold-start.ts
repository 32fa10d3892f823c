/**
 * Cold start: the deployment bundle (esbuild: bundle, platform node, target node24, cjs, minify, the secret-store clients external as in serverless.yml), its
 * size and what it costs to load in a fresh node, against a bare `node -e 0`; and what each big
 * dependency adds, in bytes (bundle with it marked external) and in load time (bundle with it replaced
 * by an empty module, and the dependency bundled alone).
 */
import { spawnSync } from "node:child_process";
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BuildOptions, build, type Metafile, type Plugin } from "esbuild";
import { median, quantile, round } from "./util";

/**
 * The dependencies worth a look; each entry is what gets stubbed/external together. `alone`: also time
 * the library bundled by itself. The last entry is the three that lib/ could do without at load time.
 */
export const LIBRARIES: { label: string; modules: string[]; time: boolean; alone: boolean }[] = [
  { label: "@aws-sdk/client-s3", modules: ["@aws-sdk/client-s3"], time: true, alone: true },
  {
    label: "@aws-sdk/client-ssm + client-secrets-manager (dynamic imports)",
    modules: ["@aws-sdk/client-ssm", "@aws-sdk/client-secrets-manager"],
    time: true,
    alone: false,
  },
  { label: "undici", modules: ["undici"], time: true, alone: true },
  { label: "form-data (+ mime-types, mime-db, ...)", modules: ["form-data"], time: true, alone: false },
  { label: "adler-32", modules: ["adler-32"], time: false, alone: false },
  {
    label: "undici + form-data + ssm/secrets-manager together",
    modules: ["undici", "form-data", "@aws-sdk/client-ssm", "@aws-sdk/client-secrets-manager"],
    time: true,
    alone: false,
  },
];

/** As serverless.yml bundles: the secret-store clients come from the Lambda runtime, on first use only. */
const RUNTIME_PROVIDED = ["@aws-sdk/client-ssm", "@aws-sdk/client-secrets-manager"];
const DEPLOY: BuildOptions = {
  bundle: true,
  platform: "node",
  target: "node24",
  format: "cjs",
  minify: true,
  logLevel: "silent",
  external: RUNTIME_PROVIDED,
  // As serverless.yml: those clients are loaded with require(), which finds the runtime's copies on NODE_PATH.
  supported: { "dynamic-import": false },
};

export interface Variant {
  name: string;
  file?: string;
  bytes?: number;
}

export interface LibraryCost {
  label: string;
  /** Bundle bytes that go away when the library is marked external. */
  bytesInBundle: number;
  /** Median load time of the bundle with the library replaced by an empty module, and its ratio to bare node. */
  loadMsWithout?: number;
  ratioWithout?: number;
  /** Median load time of the full bundle minus the bundle with the library replaced by an empty module. */
  loadMsInBundle?: number;
  /** The library bundled alone (same settings): its size and load time above a bare node. */
  aloneBytes?: number;
  aloneLoadMs?: number;
}

export interface ColdStartResult {
  bundleBytes: number;
  bundleFile: string;
  runs: number;
  bareMs: { median: number; p25: number; p75: number; min: number };
  bundleMs: { median: number; p25: number; p75: number; min: number };
  ratio: number;
  /** min(bundle) / min(bare): background load only ever adds time, so the minima are a check on the medians. */
  ratioOfMinima: number;
  libraries: LibraryCost[];
  /** The bundle's bytes by package, largest first. */
  bytesByPackage: { name: string; bytes: number }[];
  /** Load time (ms, ratio to bare) of the full bundle with a V8 code cache, and of the bundle without
   * undici, form-data and the secret clients, with a code cache. */
  projections: { fullWithCodeCache: { ms: number; ratio: number }; leanWithCodeCache: { ms: number; ratio: number } };
  /** Bundle without any of the LIBRARIES (all external): the project's own code plus small helpers. */
  ownBytes: number;
  dir: string;
  cleanup(): Promise<void>;
}

function stub(modules: string[]): Plugin {
  const filter = new RegExp(`^(${modules.map((m) => m.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")).join("|")})$`);
  return {
    name: "stub",
    setup(b) {
      b.onResolve({ filter }, (args) => ({ path: args.path, namespace: "stub" }));
      b.onLoad({ filter: /.*/, namespace: "stub" }, () => ({ contents: "module.exports = {};", loader: "js" }));
    },
  };
}

function packageOf(input: string): string {
  const i = input.lastIndexOf("node_modules/");
  if (i < 0)
    return input.startsWith("lib/") || input.startsWith("functions/") ? "(project code: lib/, functions/)" : input;
  const rest = input.slice(i + "node_modules/".length).split("/");
  return rest[0]!.startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0]!;
}

function byPackage(meta: Metafile): { name: string; bytes: number }[] {
  const sums = new Map<string, number>();
  for (const out of Object.values(meta.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(out.inputs)) {
      const name = packageOf(input);
      sums.set(name, (sums.get(name) ?? 0) + bytesInOutput);
    }
  }
  return [...sums].map(([name, bytes]) => ({ name, bytes })).sort((a, b) => b.bytes - a.bytes);
}

/**
 * A V8 code cache for a bundle, made the way a packaging step would: run the bundle once in a fresh node
 * and save `script.createCachedData()` next to it, plus a loader that compiles the bundle with it. The
 * cache is only accepted by the same node/V8 build (Lambda's runtime version must match the packaging
 * one; a mismatch is detected by V8 and costs a normal compile, never a failure).
 */
async function withCodeCache(bundle: string): Promise<string> {
  const cache = `${bundle}.v8cache`;
  const loader = bundle.replace(/index\.js$/, "cached-loader.js");
  const wrap = (file: string) =>
    `const vm=require("vm"),fs=require("fs"),path=require("path"),Module=require("module");` +
    `const file=${JSON.stringify(file)};` +
    `const script=new vm.Script(Module.wrap(fs.readFileSync(file,"utf8")),{filename:file` +
    `,cachedData:fs.existsSync(${JSON.stringify(cache)})?fs.readFileSync(${JSON.stringify(cache)}):undefined});` +
    `const m={exports:{}};script.runInThisContext().call(m.exports,m.exports,require,m,file,path.dirname(file));`;
  await writeFile(
    loader,
    `${wrap(bundle)}if(script.cachedDataRejected)throw new Error("code cache rejected");module.exports=m.exports;\n`,
  );
  const make = `${wrap(bundle)}fs.writeFileSync(${JSON.stringify(cache)},script.createCachedData());`;
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const r = spawnSync(process.execPath, ["-e", make], { stdio: ["ignore", "ignore", "pipe"], env });
  if (r.status !== 0) throw new Error(`code cache for ${bundle}: ${r.stderr?.toString().slice(0, 500)}`);
  return loader;
}

/**
 * Wall time of a fresh node running `code`, in ms. NODE_OPTIONS is cleared so no loader (tsx) is added,
 * and NODE_EXTRA_CA_CERTS (set on this machine, not on Lambda) because it alone adds tens of ms to
 * every node start and would dilute the ratio.
 */
function timeNode(code: string): number {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  delete env.NODE_EXTRA_CA_CERTS;
  const started = performance.now();
  const r = spawnSync(process.execPath, ["-e", code], { stdio: ["ignore", "ignore", "pipe"], env });
  const ms = performance.now() - started;
  if (r.status !== 0) throw new Error(`node -e ${code} failed: ${r.stderr?.toString().slice(0, 500)}`);
  return ms;
}

const stats = (xs: number[]) => ({
  median: round(median(xs), 1),
  p25: round(quantile(xs, 0.25), 1),
  p75: round(quantile(xs, 0.75), 1),
  min: round(Math.min(...xs), 1),
});

/** `runs` rounds of every variant, fewer (at least 15) if the rounds take more than `budgetMs`. */
export async function measureColdStart(
  root: string,
  maxRuns: number,
  budgetMs: number,
  log: (m: string) => void,
): Promise<ColdStartResult> {
  const dir = await mkdtemp(join(tmpdir(), "s3-to-lark-bundle-"));
  const entry = join(root, "functions/upload-to-lark.ts");
  const out = (name: string) => join(dir, name, "index.js");

  const full = await build({
    ...DEPLOY,
    absWorkingDir: root,
    entryPoints: [entry],
    outfile: out("full"),
    metafile: true,
  });
  const bundleBytes = (await stat(out("full"))).size;
  const variants: Variant[] = [{ name: "bare" }, { name: "full", file: out("full"), bytes: bundleBytes }];

  const libraries: (LibraryCost & { index: number })[] = [];
  for (const [i, lib] of LIBRARIES.entries()) {
    const ext = out(`external-${i}`);
    await build({
      ...DEPLOY,
      absWorkingDir: root,
      entryPoints: [entry],
      outfile: ext,
      external: [...RUNTIME_PROVIDED, ...lib.modules],
    });
    const cost: LibraryCost & { index: number } = {
      label: lib.label,
      bytesInBundle: bundleBytes - (await stat(ext)).size,
      index: i,
    };
    if (lib.time) {
      const stubbed = out(`stubbed-${i}`);
      await build({
        ...DEPLOY,
        absWorkingDir: root,
        entryPoints: [entry],
        outfile: stubbed,
        plugins: [stub(lib.modules)],
      });
      variants.push({ name: `stubbed-${i}`, file: stubbed, bytes: (await stat(stubbed)).size });
    }
    if (lib.alone) {
      const alone = out(`alone-${i}`);
      await build({
        ...DEPLOY,
        absWorkingDir: root,
        stdin: {
          contents: lib.modules.map((m) => `require(${JSON.stringify(m)});`).join("\n"),
          resolveDir: root,
          loader: "js",
        },
        outfile: alone,
      });
      cost.aloneBytes = (await stat(alone)).size;
      variants.push({ name: `alone-${i}`, file: alone, bytes: cost.aloneBytes });
    }
    libraries.push(cost);
  }
  // Projections of the recommended changes: the full bundle with a V8 code cache, and the bundle without
  // undici, form-data and the secret clients (last LIBRARIES entry) with and without one.
  const leanIndex = LIBRARIES.length - 1;
  variants.push({ name: "full+cache", file: await withCodeCache(out("full")) });
  variants.push({ name: "lean+cache", file: await withCodeCache(out(`stubbed-${leanIndex}`)) });
  await build({
    ...DEPLOY,
    absWorkingDir: root,
    entryPoints: [entry],
    outfile: out("own"),
    external: [...RUNTIME_PROVIDED, ...LIBRARIES.flatMap((l) => l.modules)],
  });
  const ownBytes = (await stat(out("own"))).size;

  // Round-robin so that any drift of the machine spreads over every variant alike.
  const times = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  for (const v of variants) timeNode(v.file ? `require(${JSON.stringify(v.file)})` : "0"); // warm the page cache
  const timingStarted = performance.now();
  let runs = 0;
  for (let r = 0; r < maxRuns; r++, runs++) {
    if (r >= 15 && performance.now() - timingStarted > budgetMs) {
      log(`cold start: time budget used, stopping after ${r} rounds`);
      break;
    }
    for (const v of variants) times.get(v.name)!.push(timeNode(v.file ? `require(${JSON.stringify(v.file)})` : "0"));
    if ((r + 1) % 5 === 0) log(`cold start: ${r + 1}/${maxRuns} rounds of ${variants.length} variants`);
  }
  const med = (name: string) => median(times.get(name)!);
  for (const lib of libraries) {
    if (times.has(`stubbed-${lib.index}`)) {
      lib.loadMsWithout = round(med(`stubbed-${lib.index}`), 1);
      lib.ratioWithout = round(med(`stubbed-${lib.index}`) / med("bare"), 3);
      lib.loadMsInBundle = round(med("full") - med(`stubbed-${lib.index}`), 1);
    }
    if (times.has(`alone-${lib.index}`)) lib.aloneLoadMs = round(med(`alone-${lib.index}`) - med("bare"), 1);
  }
  const projections = {
    fullWithCodeCache: { ms: round(med("full+cache"), 1), ratio: round(med("full+cache") / med("bare"), 3) },
    leanWithCodeCache: { ms: round(med("lean+cache"), 1), ratio: round(med("lean+cache") / med("bare"), 3) },
  };
  const bare = stats(times.get("bare")!);
  const bundle = stats(times.get("full")!);
  return {
    bundleBytes,
    bundleFile: out("full"),
    runs,
    bareMs: bare,
    bundleMs: bundle,
    ratio: round(med("full") / med("bare"), 3),
    ratioOfMinima: round(bundle.min / bare.min, 3),
    libraries: libraries.map(({ index: _i, ...rest }) => rest),
    bytesByPackage: byPackage(full.metafile),
    projections,
    ownBytes,
    dir,
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

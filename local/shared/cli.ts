import { type ParseArgsConfig, parseArgs } from "node:util";

/**
 * The npm-script CLIs' common front: parse the arguments, and a `usage` that prints the problem and the
 * usage text to stderr and exits 2 (bad arguments) or 0 (--help).
 */
export function cli<O extends NonNullable<ParseArgsConfig["options"]>>(command: string, usageText: string, options: O) {
  const usage = (problem?: string): never => {
    if (problem) process.stderr.write(`npm run ${command}: ${problem}\n\n`);
    process.stderr.write(`${usageText}\n`);
    process.exit(problem ? 2 : 0);
  };
  const parse = () =>
    parseArgs({ allowPositionals: true, options: { ...options, help: { type: "boolean", short: "h" } } });
  let args: ReturnType<typeof parse>;
  try {
    args = parse();
  } catch (err) {
    return usage((err as Error).message);
  }
  if ((args.values as { help?: boolean }).help) usage();
  return { args, usage };
}

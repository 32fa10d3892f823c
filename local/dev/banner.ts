/**
 * What `npm start` prints once everything runs: first what a new user does next (drop a file in, watch,
 * see what Lark holds), then the other ways in, then where things run. It fits a first screen: about 20 lines,
 * none wider than 120 columns (a long command is continued with a backslash, so that it still pastes).
 */
import { TAG_TARGET } from "../../lib/contract";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "../local-s3";
import type { Paint } from "../shared/format";
import { formatMs } from "../shared/format";
import type { DemoTarget } from "./fixtures";

export interface BannerFacts {
  s3Endpoint: string;
  bucket: string;
  s3Dir: string;
  functionLog: string;
  /** The emulator, or the real Lark the function calls. */
  lark:
    | { emulator: true; url: string; view: string; appId: string; log: string }
    | { emulator: false; url: string; appId: string };
  /** Where untagged files go (as written back in `lark-target`), and whether it is the demo one; absent when nowhere. */
  defaultDestination?: { target: string; demo: boolean };
  tagWaitMs: number;
  demoTargets: DemoTarget[];
  /** An example of tags naming a destination, for the AWS CLI line. */
  exampleTagging: string;
  retries: number;
}

export function banner(facts: BannerFacts, paint: Paint): string[] {
  const { s3Endpoint, bucket, lark } = facts;
  const lines = [paint.bold(`s3-to-lark: local stack on s3://${bucket}`), "Next, in another shell:"];
  lines.push(`  1. drop a file in      npm run put -- ./report.pdf --wait`);
  lines.push(`  2. watch here          one line per object (the function's JSON logs: ${facts.functionLog})`);
  lines.push(`  3. see what Lark holds ${lark.emulator ? lark.view : "in your Lark tenant"}`);
  const wait = facts.tagWaitMs ? `, after ${formatMs(facts.tagWaitMs)} for tags (TAG_WAIT_MS)` : "";
  if (facts.defaultDestination) {
    const demo = facts.defaultDestination.demo ? " (a record of the demo base)" : "";
    lines.push(`Untagged: ${facts.defaultDestination.target}${demo}${wait}.`);
  } else {
    lines.push(
      paint.yellow(`No default destination: an untagged file is refused with missing-parent${wait}.`),
      paint.yellow(`  Tag files with ${TAG_TARGET}, or set LARK_DEFAULT_TARGET.`),
    );
  }
  if (facts.demoTargets.length) {
    lines.push("Place a file on a demo target:");
    for (const { file, target } of facts.demoTargets) lines.push(`  npm run put -- ${file} --target ${target}`);
  }
  const { accessKeyId, secretAccessKey } = LOCAL_CREDENTIALS;
  lines.push(
    "With the AWS CLI (any version), the tags in the same call:",
    `  export AWS_ACCESS_KEY_ID=${accessKeyId} AWS_SECRET_ACCESS_KEY=${secretAccessKey} AWS_REGION=${LOCAL_REGION}`,
    `  aws --endpoint-url ${s3Endpoint} s3api put-object --bucket ${bucket} --key report.pdf --body ./report.pdf \\`,
    `    --tagging '${facts.exampleTagging}'`,
    paint.dim(
      `  (AWS_ENDPOINT_URL_S3 for --endpoint-url: AWS CLI 2.13+ and 1.29+ only; older ones, e.g. Debian's 2.9, call AWS)`,
    ),
  );
  lines.push(
    `S3 (s3rver)     ${s3Endpoint}   objects in ${facts.s3Dir}/`,
    lark.emulator
      ? `Lark emulator   ${lark.url}   app ${lark.appId}, requests in ${lark.log}`
      : `Lark            ${lark.url}   app ${lark.appId}   (REAL Lark: the emulator is not started)`,
    `function        lib/handler.ts on new objects and tag changes, one event at a time, ${facts.retries} retries`,
  );
  return lines;
}

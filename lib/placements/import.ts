/**
 * A native Lark document made from the file by Lark's import: the file is uploaded as an import source, an
 * import task is created (within Lark's 5 minutes of the upload), and polled until Lark has made the document.
 *
 * One document per file, whatever fails: once a task exists, its ticket is parked on the object before the
 * invocation gives up for any reason (out of time, Lark unwell), and the next attempt polls that ticket instead
 * of importing again. A source that expired before its task was created is uploaded again, never imported twice.
 */
import { META_DOC_TYPE, META_FILE_TOKEN, META_TARGET, META_URL, type Placement } from "../contract";
import { RejectionError, TransientError } from "../errors";
import { importSource } from "../lark/imports";
import type { Target } from "../target";
import type { PlacementApis, PlacementJob } from "./index";
import { shareWithMembers } from "./share";

/** Lark's "import file token expired": the source was uploaded more than 5 minutes before the task. */
const SOURCE_EXPIRED = 1069913;
/** Lark allows 50 queries a second; one job is polled at most twice a second, less as it runs longer. */
const FIRST_POLL_MS = 500;
const MAX_POLL_MS = 5_000;

export async function importDocument(
  apis: PlacementApis,
  job: PlacementJob<Target & { kind: "import" }>,
): Promise<Placement> {
  const { target, retry, counter } = job;
  const { type, extension, title } = target.import!;
  let ticket = job.ticket;
  for (let sources = 0; ; ) {
    if (!ticket) {
      const { fileToken } = await job.upload(importSource({ name: target.name, size: target.size, extension, type }));
      sources++;
      try {
        ticket = await apis.imports.createTask(
          { fileToken, extension, type, title, folderToken: target.folderToken },
          retry,
          counter,
        );
      } catch (err) {
        if (err instanceof RejectionError && err.larkCode === SOURCE_EXPIRED && sources < 2) continue;
        throw err;
      }
    }
    const result = await pollOrPark(apis, job, ticket);
    if (result.status === "failed") {
      // Lark's own trouble: the job is dropped and the next attempt imports again.
      await job.dropTicket();
      throw new TransientError(`import job ${ticket} failed inside Lark (${result.jobStatus}: ${result.message})`);
    }
    if (result.warnings.length) job.onImportWarnings(result.warnings);
    await shareWithMembers(apis, job, result.token, type);
    return {
      [META_FILE_TOKEN]: result.token,
      [META_TARGET]: target.target,
      [META_DOC_TYPE]: type,
      [META_URL]: result.url,
    };
  }
}

type Finished =
  | { status: "done"; token: string; url: string; warnings: number[] }
  | { status: "failed"; jobStatus: number; message: string };

/**
 * Polls until the job ends, backing off. A job that is still running when the time is up, or that cannot be
 * asked about just now, is parked on the object: the invocation fails, and its retry polls the same job.
 */
async function pollOrPark(apis: PlacementApis, job: PlacementJob, ticket: string): Promise<Finished> {
  const { retry, counter } = job;
  try {
    for (let wait = FIRST_POLL_MS; ; wait = Math.min(MAX_POLL_MS, Math.round(wait * 1.5))) {
      const result = await apis.imports.result(ticket, retry, counter);
      if (result.status === "done") return result;
      if (result.status === "failed") {
        if (!result.transient) {
          throw new RejectionError(result.message || `Lark could not import the file (${result.jobStatus})`, {
            code: `lark-import-${result.jobStatus}`,
          });
        }
        return result;
      }
      if (Date.now() + wait >= retry.deadline) {
        throw new TransientError(`import job ${ticket} is still running; its ticket is parked for the retry`);
      }
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  } catch (err) {
    if (!(err instanceof RejectionError)) await job.parkTicket(ticket);
    throw err;
  }
}

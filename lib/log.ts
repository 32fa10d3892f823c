/**
 * Structured JSON logs, one line per record, the shape CloudWatch Logs Insights queries well.
 * Fields whose names look like credentials are masked here, whatever a caller passes. An error is written
 * with its cause chain (and, at debug level, its stack).
 */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
export type Level = (typeof LOG_LEVELS)[number];
export type Fields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: Fields): void;
  info(message: string, fields?: Fields): void;
  warn(message: string, fields?: Fields): void;
  error(message: string, fields?: Fields): void;
  child(fields: Fields): Logger;
  /** Whether debug lines are written: lets a caller skip building fields nobody reads. */
  readonly debugEnabled: boolean;
}

const SECRET_FIELD = /secret|password|authorization|access_?token|^token$/i;
/** A cause chain deeper than this is a loop or a library's wrapping habit, not information. */
const MAX_CAUSES = 5;

export function createLogger(base: Fields = {}, opts: { level?: Level; write?: (line: string) => void } = {}): Logger {
  const min = LOG_LEVELS.indexOf(opts.level ?? levelFromEnv());
  const write = opts.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const withStack = min === 0;
  const emit = (level: Level, message: string, fields?: Fields) => {
    if (LOG_LEVELS.indexOf(level) < min) return;
    const record = { level, time: new Date().toISOString(), message, ...base, ...fields };
    write(JSON.stringify(record, (key, value) => redact(key, value, withStack)));
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    child: (fields) => createLogger({ ...base, ...fields }, opts),
    debugEnabled: withStack,
  };
}

function redact(key: string, value: unknown, withStack: boolean): unknown {
  if (value instanceof Error) return describeError(value, withStack, 0);
  return key && SECRET_FIELD.test(key) && value !== undefined ? "[redacted]" : value;
}

function describeError(err: Error, withStack: boolean, depth: number): Fields {
  const { larkCode, code } = err as { larkCode?: number; code?: unknown };
  const out: Fields = { name: err.name, message: err.message };
  if (larkCode !== undefined) out.larkCode = larkCode;
  if (typeof code === "string") out.code = code;
  if (withStack && err.stack) out.stack = err.stack;
  const { cause } = err;
  if (cause !== undefined && depth < MAX_CAUSES) {
    out.cause = cause instanceof Error ? describeError(cause, withStack, depth + 1) : String(cause);
  }
  return out;
}

function levelFromEnv(): Level {
  const raw = (process.env.LOG_LEVEL ?? "info").trim().toLowerCase();
  return (LOG_LEVELS as readonly string[]).includes(raw) ? (raw as Level) : "info";
}

/**
 * Structured JSON logs, one line per record, the shape CloudWatch Logs Insights queries well.
 * Fields whose names look like credentials are masked here, whatever a caller passes.
 */
export type Level = "debug" | "info" | "warn" | "error";
export type Fields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: Fields): void;
  info(message: string, fields?: Fields): void;
  warn(message: string, fields?: Fields): void;
  error(message: string, fields?: Fields): void;
  child(fields: Fields): Logger;
}

const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const SECRET_FIELD = /secret|password|authorization|access_?token|^token$/i;

export function createLogger(base: Fields = {}, opts: { level?: Level; write?: (line: string) => void } = {}): Logger {
  const min = ORDER[opts.level ?? levelFromEnv()];
  const write = opts.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const emit = (level: Level, message: string, fields?: Fields) => {
    if (ORDER[level] < min) return;
    write(JSON.stringify({ level, time: new Date().toISOString(), message, ...base, ...fields }, redact));
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    child: (fields) => createLogger({ ...base, ...fields }, opts),
  };
}

function redact(key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message };
  return key && SECRET_FIELD.test(key) && value !== undefined ? "[redacted]" : value;
}

function levelFromEnv(): Level {
  const raw = (process.env.LOG_LEVEL ?? "info").toLowerCase();
  return raw in ORDER ? (raw as Level) : "info";
}

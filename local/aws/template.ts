/**
 * A CloudFormation template read the way CloudFormation reads it: Parameters (their values or defaults) and
 * Conditions evaluated, Fn::If and AWS::NoValue resolved, false-condition resources and outputs dropped.
 * Then, for a deployed stack, the remaining intrinsics (Ref, Fn::GetAtt, Fn::Sub, Fn::Join) resolved against
 * the physical resources, for what the harness has to apply itself (see stack.ts).
 */
import assert from "node:assert/strict";

// biome-ignore lint/suspicious/noExplicitAny: a template is any JSON; each use site reads the fields it knows
export type Json = any;

export interface Evaluated {
  resources: Record<string, Json>;
  outputs: Record<string, Json>;
  conditions: Record<string, boolean>;
}

/**
 * `override` forces conditions, to see another parameter choice without packaging again; `parameters` are the
 * stack's parameter values (the template's defaults otherwise).
 */
export function evaluate(
  template: Json,
  override: Record<string, boolean> = {},
  parameters: Record<string, string> = {},
): Evaluated {
  const declared: Record<string, Json> = template.Parameters ?? {};
  const conditions: Record<string, Json> = template.Conditions ?? {};
  const known = new Map<string, boolean>(Object.entries(override));
  const condition = (name: string): boolean => {
    if (!known.has(name)) {
      assert.ok(name in conditions, `unknown condition ${name}`);
      known.set(name, holds(conditions[name]));
    }
    return known.get(name)!;
  };
  const holds = (expr: Json): boolean => {
    if ("Condition" in expr) return condition(expr.Condition);
    if ("Fn::Equals" in expr) {
      const [a, b] = expr["Fn::Equals"].map(resolve);
      return JSON.stringify(a) === JSON.stringify(b);
    }
    if ("Fn::Not" in expr) return !holds(expr["Fn::Not"][0]);
    if ("Fn::And" in expr) return expr["Fn::And"].every(holds);
    if ("Fn::Or" in expr) return expr["Fn::Or"].some(holds);
    throw new Error(`unsupported condition ${JSON.stringify(expr)}`);
  };
  const NO_VALUE = Symbol("AWS::NoValue");
  const resolve = (value: Json): Json => {
    if (Array.isArray(value)) return value.map(resolve).filter((v) => v !== NO_VALUE);
    if (!value || typeof value !== "object") return value;
    if (value.Ref === "AWS::NoValue") return NO_VALUE;
    if (typeof value.Ref === "string" && value.Ref in declared)
      return parameters[value.Ref] ?? declared[value.Ref].Default ?? "";
    if (typeof value["Fn::Sub"] === "string") {
      // Only parameters are known here; anything else (resources, pseudo parameters) waits for resolveDeployed.
      const names = [...value["Fn::Sub"].matchAll(/\$\{([^}!]+)\}/g)].map((m) => m[1]!);
      if (names.length && names.every((n) => n in declared))
        return value["Fn::Sub"].replace(/\$\{([^}!]+)\}/g, (_: string, n: string) => resolve({ Ref: n }));
    }
    if ("Fn::If" in value) {
      const [name, yes, no] = value["Fn::If"];
      return resolve(condition(name) ? yes : no);
    }
    const out: Json = {};
    for (const [k, v] of Object.entries(value)) {
      const r = resolve(v);
      if (r !== NO_VALUE) out[k] = r;
    }
    return out;
  };
  const keep = (section: Record<string, Json> = {}) =>
    Object.fromEntries(
      Object.entries(section)
        .filter(([, r]) => !r.Condition || condition(r.Condition))
        .map(([id, r]) => [id, resolve(r)]),
    );
  const resources = keep(template.Resources);
  const outputs = keep(template.Outputs);
  for (const name of Object.keys(conditions)) condition(name);
  return { resources, outputs, conditions: Object.fromEntries(known) };
}

/** Where a stack lives and what its logical ids became. */
export interface Deployed {
  partition: string;
  region: string;
  accountId: string;
  stackName: string;
  /** Logical id -> physical id, and type. */
  physical: Record<string, string>;
  types: Record<string, string>;
}

/** Resolves Ref, Fn::GetAtt, Fn::Sub and Fn::Join in an evaluated value against the deployed stack. */
export function resolveDeployed(value: Json, at: Deployed): Json {
  if (Array.isArray(value)) return value.map((v) => resolveDeployed(v, at));
  if (!value || typeof value !== "object") return value;
  if (typeof value.Ref === "string") return ref(value.Ref, at);
  if (value["Fn::GetAtt"]) {
    const [id, attribute] =
      typeof value["Fn::GetAtt"] === "string" ? value["Fn::GetAtt"].split(".") : value["Fn::GetAtt"];
    return getAtt(id, attribute, at);
  }
  if (value["Fn::Join"]) {
    const [separator, parts] = value["Fn::Join"];
    return resolveDeployed(parts, at).join(separator);
  }
  if (value["Fn::Sub"] !== undefined) {
    const [text, vars = {}] = Array.isArray(value["Fn::Sub"]) ? value["Fn::Sub"] : [value["Fn::Sub"]];
    const own = resolveDeployed(vars, at);
    return text.replace(/\$\{([^}!]+)\}/g, (_: string, name: string) => {
      if (name in own) return own[name];
      const [id, attribute] = name.split(".");
      return attribute ? getAtt(id!, attribute, at) : ref(id!, at);
    });
  }
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveDeployed(v, at)]));
}

function ref(name: string, at: Deployed): string {
  const pseudo: Record<string, string> = {
    "AWS::Partition": at.partition,
    "AWS::Region": at.region,
    "AWS::AccountId": at.accountId,
    "AWS::StackName": at.stackName,
    "AWS::URLSuffix": "amazonaws.com",
  };
  const value = pseudo[name] ?? at.physical[name];
  if (value === undefined) throw new Error(`Ref ${name}: no such resource in stack ${at.stackName}`);
  return value;
}

function getAtt(id: string, attribute: string, at: Deployed): string {
  const physical = ref(id, at);
  const { partition: p, region: r, accountId: a } = at;
  const queueName = physical.split("/").pop()!;
  const attributes: Record<string, Record<string, string>> = {
    "AWS::Lambda::Function": { Arn: `arn:${p}:lambda:${r}:${a}:function:${physical}` },
    "AWS::SQS::Queue": { Arn: `arn:${p}:sqs:${r}:${a}:${queueName}`, QueueName: queueName, QueueUrl: physical },
    "AWS::IAM::Role": { Arn: `arn:${p}:iam::${a}:role/${physical}` },
    "AWS::Events::Rule": { Arn: `arn:${p}:events:${r}:${a}:rule/${physical}` },
    "AWS::S3::Bucket": { Arn: `arn:${p}:s3:::${physical}` },
    "AWS::Logs::LogGroup": { Arn: `arn:${p}:logs:${r}:${a}:log-group:${physical}:*` },
  };
  const value = attributes[at.types[id] ?? ""]?.[attribute];
  if (value === undefined) throw new Error(`Fn::GetAtt ${id}.${attribute} (${at.types[id]}) is not known here`);
  return value;
}

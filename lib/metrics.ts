/**
 * CloudWatch metrics in embedded metric format: one JSON line per invocation, which CloudWatch turns
 * into metrics without an API call (and so without latency or IAM permissions).
 */
export const NAMESPACE = "s3-to-lark";

type Unit = "Count" | "Bytes" | "Milliseconds";

export class Metrics {
  private readonly sums = new Map<string, { unit: Unit; value: number }>();
  private readonly rejections = new Map<string, number>();
  private readonly latencies: number[] = [];

  add(name: string, unit: Unit, value = 1): void {
    const entry = this.sums.get(name);
    if (entry) entry.value += value;
    else this.sums.set(name, { unit, value });
  }

  rejected(code: string): void {
    this.rejections.set(code, (this.rejections.get(code) ?? 0) + 1);
  }

  larkLatency(ms: number): void {
    this.latencies.push(Math.round(ms));
  }

  /** The EMF documents for this invocation: one without dimensions, one per rejection code. */
  flush(write: (line: string) => void = (l) => process.stdout.write(`${l}\n`), service: string): void {
    const Timestamp = Date.now();
    const values: Record<string, number | number[]> = {};
    const defs: { Name: string; Unit: Unit }[] = [];
    for (const [name, { unit, value }] of this.sums) {
      values[name] = value;
      defs.push({ Name: name, Unit: unit });
    }
    if (this.latencies.length) {
      values.LarkLatency = this.latencies;
      defs.push({ Name: "LarkLatency", Unit: "Milliseconds" });
    }
    if (defs.length) {
      write(
        JSON.stringify({
          _aws: { Timestamp, CloudWatchMetrics: [{ Namespace: NAMESPACE, Dimensions: [["Service"]], Metrics: defs }] },
          Service: service,
          ...values,
        }),
      );
    }
    for (const [code, count] of this.rejections) {
      write(
        JSON.stringify({
          _aws: {
            Timestamp,
            CloudWatchMetrics: [
              {
                Namespace: NAMESPACE,
                Dimensions: [["Service", "Code"]],
                Metrics: [{ Name: "Rejected", Unit: "Count" }],
              },
            ],
          },
          Service: service,
          Code: code,
          Rejected: count,
        }),
      );
    }
    this.sums.clear();
    this.rejections.clear();
    this.latencies.length = 0;
  }
}

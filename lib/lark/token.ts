/**
 * tenant_access_token, fetched with the app's id and secret and kept in the process across invocations
 * until 3 minutes before it expires, as Lark's own SDKs do. The token and the secret never leave this
 * module except in the Authorization header.
 */
import { ConfigurationError, RejectionError } from "../errors";
import type { SecretReader } from "../secret";
import type { LarkHttp } from "./http";
import { interpretReply } from "./reply";

const TOKEN_PATH = "/open-apis/auth/v3/tenant_access_token/internal";
const REFRESH_BEFORE_MS = 3 * 60_000;

export class TenantTokens {
  private cached?: { token: string; refreshAt: number };
  private pending?: Promise<string>;

  constructor(
    private readonly http: LarkHttp,
    private readonly appId: string,
    private readonly appSecret: SecretReader,
    private readonly now: () => number = Date.now,
  ) {}

  get(): Promise<string> {
    if (this.cached && this.now() < this.cached.refreshAt) return Promise.resolve(this.cached.token);
    // Concurrent callers share one fetch.
    this.pending ??= this.fetch().finally(() => (this.pending = undefined));
    return this.pending;
  }

  /** Lark rejected this token: forget it (unless a newer one already replaced it). */
  invalidate(token: string): void {
    if (this.cached?.token === token) this.cached = undefined;
  }

  private async fetch(): Promise<string> {
    const body = JSON.stringify({ app_id: this.appId, app_secret: await this.appSecret() });
    const reply = await this.http.send({
      method: "POST",
      path: TOKEN_PATH,
      headers: { "content-type": "application/json; charset=utf-8" },
      body,
    });
    let json: ReturnType<typeof interpretReply>;
    try {
      // No excerpt of an unparseable reply: a proxy echoing the request would put the secret in a log.
      json = interpretReply("tenant_access_token", reply, { echoBody: false });
    } catch (err) {
      // Whatever Lark refuses here is about the app, never about a file; a refused secret may have been
      // rotated since this process read it, so the next attempt reads it again.
      if (err instanceof RejectionError || err instanceof ConfigurationError) this.appSecret.forget();
      if (err instanceof RejectionError) {
        throw new ConfigurationError(`tenant_access_token: ${err.message}`, { cause: err, larkCode: err.larkCode });
      }
      throw err;
    }
    const token = json.tenant_access_token;
    const expire = Number(json.expire);
    if (typeof token !== "string" || !token || !Number.isFinite(expire)) {
      throw new ConfigurationError("tenant_access_token: the reply has no token or expiry");
    }
    this.cached = { token, refreshAt: this.now() + Math.max(0, expire * 1000 - REFRESH_BEFORE_MS) };
    return token;
  }
}

// One place that decides whether a login succeeds, shared by the HTTP API
// (password → token) and SMTP submission (password or token), so both are
// rate limited together.
import type { AccountDoc, Accounts } from './accounts.js';
import type { Sessions } from './sessions.js';
import type { LoginRateLimiter } from './rate-limit.js';
import { parseAddress } from './address.js';

export type LoginResult = { ok: true; account: AccountDoc } | { ok: false; retryAfter: number };

export class Authenticator {
  constructor(
    readonly accounts: Accounts,
    readonly sessions: Sessions,
    private readonly limiter: LoginRateLimiter,
  ) {}

  /**
   * Checks `secret` as the account password (and, when `acceptToken`, as one
   * of the account's bearer tokens). `retryAfter` > 0 means rate limited:
   * the secret was not even checked.
   */
  async login(address: string, secret: string, ip: string, acceptToken = false): Promise<LoginResult> {
    const normalized = parseAddress(address)?.address ?? String(address).toLowerCase();
    const wait = this.limiter.retryAfter(normalized, ip);
    if (wait > 0) return { ok: false, retryAfter: wait };
    if (acceptToken && (await this.sessions.verify(secret)) === normalized) {
      const account = await this.accounts.find(normalized);
      if (account) return { ok: true, account };
    }
    const account = await this.accounts.verifyPassword(normalized, secret);
    if (account) {
      this.limiter.recordSuccess(normalized);
      return { ok: true, account };
    }
    this.limiter.recordFailure(normalized, ip);
    return { ok: false, retryAfter: 0 };
  }
}

// One place that decides whether a login succeeds, shared by the HTTP API
// (password → token) and SMTP submission (password or token), so both are
// rate limited together.
import type { AccountDoc, Accounts } from './accounts.js';
import type { Sessions } from './sessions.js';
import type { LoginRateLimiter } from './rate-limit.js';
import { parseAddress } from './address.js';

export type LoginResult = { ok: true; account: AccountDoc } | { ok: false; retryAfter: number };

export type PasswordChangeResult =
  | { ok: true; revokedSessions: number; alreadyChanged: boolean }
  | { ok: false; reason: 'bad_token' | 'wrong_password'; retryAfter: 0 }
  | { ok: false; reason: 'rate_limited'; retryAfter: number };

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

  /**
   * Changes the login password. Needs both a live session of the account
   * (`token`) and the old password, which counts as a login attempt (same
   * limiter). Every other session of the account is ended; the caller's stays.
   * Idempotent for a client retrying after a crash: when the old password no
   * longer matches but the new one does, the change is already done.
   */
  async changePassword(token: string, address: string, oldPassword: string, newPassword: string, ip: string): Promise<PasswordChangeResult> {
    const normalized = parseAddress(address)?.address ?? String(address).toLowerCase();
    if ((await this.sessions.verify(token)) !== normalized) return { ok: false, reason: 'bad_token', retryAfter: 0 };
    const wait = this.limiter.retryAfter(normalized, ip);
    if (wait > 0) return { ok: false, reason: 'rate_limited', retryAfter: wait };
    let alreadyChanged = false;
    if (!(await this.accounts.verifyPassword(normalized, oldPassword))) {
      alreadyChanged = (await this.accounts.verifyPassword(normalized, newPassword)) !== null;
      if (!alreadyChanged) {
        this.limiter.recordFailure(normalized, ip);
        return { ok: false, reason: 'wrong_password', retryAfter: 0 };
      }
    }
    this.limiter.recordSuccess(normalized);
    if (!alreadyChanged) await this.accounts.changePassword(normalized, newPassword);
    const revokedSessions = await this.sessions.revokeAll(normalized, token);
    return { ok: true, revokedSessions, alreadyChanged };
  }
}

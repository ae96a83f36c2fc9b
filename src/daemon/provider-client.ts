// The daemon's client for its provider's HTTP API: registration, login
// (bearer token + the user's sync database URL), password change, logout
// everywhere, and service discovery.
import { UserError } from '../util/user-error.js';

export interface ProviderSession {
  token: string;
  expiresAt: string;
  /** The user's own database behind the provider's sync gateway. */
  couchUrl: string;
}

export interface ProviderInfo {
  domains: string[];
  /** Host and port of the authenticated submission server. */
  submission: { host: string; port: number };
}

/** The provider answered with an error status (the message is one sentence for the user). */
export class ProviderRefusedError extends UserError {
  override name = 'ProviderRefusedError';
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export class ProviderClient {
  private readonly base: string;

  constructor(baseUrl: string) {
    this.base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  }

  async register(address: string, password: string): Promise<void> {
    await this.request('POST', 'api/accounts', { address, password });
  }

  async login(address: string, password: string): Promise<ProviderSession> {
    return (await this.request('POST', 'api/sessions', { address, password })) as ProviderSession;
  }

  /** Needs a live session and the old password; the provider ends every other session of the account. */
  async changePassword(session: Pick<ProviderSession, 'token'>, address: string, oldPassword: string, newPassword: string): Promise<{ revokedSessions: number }> {
    return (await this.request('POST', 'api/password', { address, password: oldPassword, newPassword }, session.token)) as { revokedSessions: number };
  }

  /** Ends every session of the token's account at the provider, this one included. */
  async revokeAllSessions(session: Pick<ProviderSession, 'token'>): Promise<{ revoked: number }> {
    return (await this.request('DELETE', 'api/sessions/all', undefined, session.token)) as { revoked: number };
  }

  /**
   * Whether the provider still accepts a session's token: one read of the
   * user's database at its sync gateway. False on 401/403 (revoked by a
   * passphrase change or a logout elsewhere, or expired); null when the
   * provider cannot be asked (unreachable, or another answer).
   */
  async sessionAccepted(session: Pick<ProviderSession, 'token' | 'couchUrl'>): Promise<boolean | null> {
    try {
      const res = await fetch(session.couchUrl, { headers: { authorization: `Bearer ${session.token}` }, signal: AbortSignal.timeout(30_000) });
      await res.body?.cancel();
      if (res.ok) return true;
      return res.status === 401 || res.status === 403 ? false : null;
    } catch {
      return null;
    }
  }

  async info(): Promise<ProviderInfo> {
    const info = (await this.request('GET', 'api/config')) as ProviderInfo;
    // The provider announces its own view of the host; from here, reach it where we reach the API.
    const host = info.submission.host === '0.0.0.0' || info.submission.host === '::' ? new URL(this.base).hostname : info.submission.host;
    return { ...info, submission: { host, port: info.submission.port } };
  }

  private async request(method: string, path: string, body?: unknown, token?: string): Promise<unknown> {
    let res: Response;
    try {
      const headers: Record<string, string> = body ? { 'content-type': 'application/json' } : {};
      if (token) headers.authorization = `Bearer ${token}`;
      res = await fetch(new URL(path, this.base), {
        method,
        headers,
        body: body ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new UserError(`cannot reach the provider at ${this.base} (${cause})`);
    }
    const text = await res.text();
    let json: { reason?: string; error?: string } & Record<string, unknown> = {};
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      // not JSON: report the status below
    }
    if (!res.ok) {
      const reason = json.reason ?? json.error ?? `HTTP ${res.status}`;
      throw new ProviderRefusedError(`the provider refused ${method} ${path}: ${reason}`, res.status);
    }
    return json;
  }
}

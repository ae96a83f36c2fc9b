// The daemon's client for its provider's HTTP API: registration, login
// (bearer token + the user's sync database URL), and service discovery.
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

  async info(): Promise<ProviderInfo> {
    const info = (await this.request('GET', 'api/config')) as ProviderInfo;
    // The provider announces its own view of the host; from here, reach it where we reach the API.
    const host = info.submission.host === '0.0.0.0' || info.submission.host === '::' ? new URL(this.base).hostname : info.submission.host;
    return { ...info, submission: { host, port: info.submission.port } };
  }

  private async request(method: string, path: string, body?: unknown): Promise<unknown> {
    let res: Response;
    try {
      res = await fetch(new URL(path, this.base), {
        method,
        headers: body ? { 'content-type': 'application/json' } : {},
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

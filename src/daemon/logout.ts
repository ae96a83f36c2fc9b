// `sealmail account logout`: ends every session of an account at the provider
// (all devices, e.g. after a lost laptop or a leaked session file) and deletes
// this device's cached session. The cached token is used when it still works;
// otherwise the passphrase logs in once to get a token to revoke with.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { accountDir } from './account.js';
import type { AccountConfig } from './config.js';
import { providerPassword } from './credentials.js';
import { ProviderClient, ProviderRefusedError, type ProviderSession } from './provider-client.js';
import { UserError } from '../util/user-error.js';

export interface LogoutOptions {
  config: AccountConfig;
  dataDir: string;
  /** Asked only when the cached session no longer works. */
  passphrase: () => Promise<string>;
  loginCost?: number;
}

function readCachedSession(file: string): ProviderSession | null {
  if (!existsSync(file)) return null;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as ProviderSession;
  } catch {
    return null;
  }
}

/** Returns how many sessions the provider ended. */
export async function logoutEverywhere(opts: LogoutOptions): Promise<number> {
  const { address, providerUrl } = opts.config;
  const file = join(accountDir(opts.dataDir, address), 'session.json');
  const client = new ProviderClient(providerUrl);
  let revoked: number | null = null;
  const cached = readCachedSession(file);
  if (cached) {
    try {
      revoked = (await client.revokeAllSessions(cached)).revoked;
    } catch (err) {
      // Expired or already revoked: log in below.
      if (!(err instanceof ProviderRefusedError && err.status === 401)) throw err;
    }
  }
  if (revoked === null) {
    const password = await providerPassword(address, await opts.passphrase(), opts.loginCost);
    let session: ProviderSession;
    try {
      session = await client.login(address, password);
    } catch (err) {
      if (err instanceof ProviderRefusedError && err.status === 401) throw new UserError(`wrong passphrase for ${address} (or no such account at ${providerUrl})`);
      throw err;
    }
    revoked = (await client.revokeAllSessions(session)).revoked;
  }
  rmSync(file, { force: true });
  return revoked;
}

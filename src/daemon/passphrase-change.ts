// `sealmail passphrase change` in the daemon. The one passphrase serves twice
// (credentials.ts): it unwraps the storage secret and derives the provider
// login password, so a change must update both, and the copy of the wrapped
// secret a new device restores from.
//
// Order, and what a crash in between leaves:
//   1. the current passphrase is checked against the local wrapped secret and
//      the new wrapping is computed (nothing changed yet);
//   2. the provider switches the login password (proof: this session's token
//      and the old derived password) and ends every other session;
//   3. the new wrapping replaces the local one (one local write);
//   4. live sync pushes it to the provider; we wait until it is there.
// A crash between 2 and 3 leaves the OLD passphrase working on this device
// (the store opens with it and the daemon keeps using its cached session,
// which the change did not end); `sealmail passphrase change` run again with
// the old passphrase as current finishes the job (the provider accepts the
// retry: its password already matches the new one). A crash after 3 leaves
// the NEW passphrase working: the restarted daemon logs in with it and its
// sync pushes the re-wrapped secret.
// Other devices lose their sessions in step 2, before they could pull the new
// wrapping: restarted with the new passphrase, each logs in and takes the
// provider's wrapping (Soledad.open with a remote).
import { setTimeout as sleep } from 'node:timers/promises';
import { SECRET_DOC_ID, type WrappedSecret } from '../soledad/index.js';
import type { AccountRuntime } from './account.js';
import { providerPassword } from './credentials.js';
import { ProviderClient, ProviderRefusedError, type ProviderSession } from './provider-client.js';
import { UserError } from '../util/user-error.js';
import { logger } from '../util/log.js';

export interface PassphraseChangeOptions {
  /** scrypt cost of the provider login password (tests use small ones). */
  loginCost?: number;
  /** How long to wait for the re-wrapped secret to reach the provider. */
  pushTimeoutMs?: number;
}

export async function changePassphrase(account: AccountRuntime, current: string, next: string, opts: PassphraseChangeOptions = {}): Promise<string> {
  const { address, providerUrl } = account.config;
  const log = logger('passphrase', { account: address });
  const [oldPassword, newPassword] = await Promise.all([
    providerPassword(address, current, opts.loginCost),
    providerPassword(address, next, opts.loginCost),
  ]);
  const provider = new ProviderClient(providerUrl);
  let revoked = 0;
  const wrapped = await account.soledad.changePassphrase(current, next, undefined, async () => {
    try {
      revoked = (await provider.changePassword(account.session, address, oldPassword, newPassword)).revokedSessions;
    } catch (err) {
      if (err instanceof ProviderRefusedError && err.status === 401) {
        throw new UserError('the provider no longer accepts this device\'s session; restart the daemon (it logs in again), then retry; nothing changed');
      }
      if (err instanceof ProviderRefusedError && err.status === 403) {
        throw new UserError('the provider refused the current passphrase (was it changed on another device?); nothing changed');
      }
      throw err;
    }
  });
  log.info({ revokedSessions: revoked }, 'provider login password changed, storage secret re-wrapped');
  const pushed = await waitForRemoteSecret(account.session, wrapped, opts.pushTimeoutMs ?? 60_000);
  const others = revoked > 0 ? ` ${revoked} other session(s) at the provider ended: restart the daemon of each other device with the new passphrase.` : '';
  if (!pushed) {
    return `passphrase changed.${others} The provider has not received the re-wrapped secret yet; it goes with the next sync (until then a new device cannot log in).`;
  }
  return `passphrase changed (this device and the provider).${others}`;
}

/** True once the provider's copy of the wrapped secret is the new one. */
async function waitForRemoteSecret(session: ProviderSession, wrapped: WrappedSecret, timeoutMs: number): Promise<boolean> {
  const url = `${session.couchUrl.replace(/\/$/, '')}/${SECRET_DOC_ID}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url, { headers: { authorization: `Bearer ${session.token}` }, signal: AbortSignal.timeout(10_000) });
      if (res.ok && ((await res.json()) as { data?: string }).data === wrapped.data) return true;
      if (!res.bodyUsed) await res.body?.cancel();
    } catch {
      // provider unreachable for now: keep waiting
    }
    if (Date.now() > deadline) return false;
    await sleep(300);
  }
}

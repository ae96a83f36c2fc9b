// `sealmail install-service` / `uninstall-service`: the systemd user unit.
import { spawnSync } from 'node:child_process';
import { resolve, join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Command } from 'commander';
import { renderUnit, unitPath, writeUnit, removeUnit, UNIT_NAME } from '../daemon/service.js';
import { readPassphraseFile } from '../daemon/passphrase.js';
import { resolvePaths } from '../daemon/paths.js';
import { loadConfig } from '../daemon/config.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ENTRY = join(ROOT, 'bin', 'sealmail.js');

/** SEALMAIL_NO_SYSTEMCTL=1 only writes/removes the unit file (tests, containers, packaging). */
function hasSystemd(): boolean {
  if (process.env.SEALMAIL_NO_SYSTEMCTL) return false;
  const r = spawnSync('systemctl', ['--user', 'show-environment'], { stdio: 'ignore' });
  return r.status === 0;
}

function run(args: string[]): void {
  console.log(`$ systemctl --user ${args.join(' ')}`);
  const r = spawnSync('systemctl', ['--user', ...args], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`systemctl --user ${args.join(' ')} failed (exit ${r.status})`);
}

/**
 * Which accounts the credential serves: an account with its own
 * passphraseFile keeps reading that (passphrase.ts), so a quickstart's two
 * accounts can each keep their own passphrase under the service.
 */
function credentialUse(configFile: string): string {
  const accounts = loadConfig(configFile)?.accounts ?? [];
  const served = accounts.filter((a) => !a.passphraseFile).map((a) => a.address);
  if (accounts.length === 0) return 'the passphrase file is the passphrase of every account without a passphrase file of its own';
  if (served.length === 0) return 'note: every account reads its own passphrase file, so the service does not use this one';
  return `the passphrase file is the passphrase of ${served.join(', ')} (accounts with a passphrase file of their own keep reading it)`;
}

export function registerService(program: Command): void {
  program
    .command('install-service')
    .description(`write the systemd user unit ${UNIT_NAME} and enable it (Restart=on-failure)`)
    .option('--passphrase-file <file>', 'hand this 0600 file to the service as a systemd credential')
    .option('--no-enable', 'only write the unit file')
    .action((opts: { passphraseFile?: string; enable: boolean }) => {
      if (opts.passphraseFile) readPassphraseFile(opts.passphraseFile); // checks existence and mode
      const paths = resolvePaths();
      const path = unitPath();
      writeUnit(
        path,
        renderUnit({
          node: process.execPath,
          entry: ENTRY,
          documentation: pathToFileURL(join(ROOT, 'README.md')).href,
          passphraseFile: opts.passphraseFile ? resolve(opts.passphraseFile) : undefined,
          environment: { SEALMAIL_CONFIG_DIR: paths.configDir, SEALMAIL_DATA_DIR: paths.dataDir },
        }),
      );
      console.log(`wrote ${path}`);
      if (opts.passphraseFile) console.log(credentialUse(paths.configFile));
      const commands = [['daemon-reload'], ['enable', '--now', UNIT_NAME]];
      if (opts.enable && hasSystemd()) {
        for (const c of commands) run(c);
        console.log(`sealmail runs as a service now; logs: journalctl --user -u ${UNIT_NAME} -f`);
      } else {
        console.log(opts.enable ? 'systemd (user instance) is not available here; to enable the service later run:' : 'to enable the service run:');
        for (const c of commands) console.log(`  systemctl --user ${c.join(' ')}`);
      }
    });
  program
    .command('uninstall-service')
    .description(`stop, disable and remove the systemd user unit ${UNIT_NAME}`)
    .action(() => {
      if (hasSystemd()) {
        spawnSync('systemctl', ['--user', 'disable', '--now', UNIT_NAME], { stdio: 'inherit' });
      }
      const path = unitPath();
      console.log(removeUnit(path) ? `removed ${path}` : `no unit at ${path}`);
      if (hasSystemd()) run(['daemon-reload']);
    });
}

// Where sealmail keeps its files (XDG Base Directory spec): configuration
// under $XDG_CONFIG_HOME/sealmail, data under $XDG_DATA_HOME/sealmail.
// Directories are created 0700 and files 0600: they hold the wrapped storage
// secret, the local password and the encrypted local store.
import { mkdirSync, chmodSync, writeFileSync, renameSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, dirname } from 'node:path';

export interface SealmailPaths {
  configDir: string;
  dataDir: string;
  configFile: string;
}

export function resolvePaths(env: NodeJS.ProcessEnv = process.env): SealmailPaths {
  const home = env.HOME ?? homedir();
  const configHome = env.XDG_CONFIG_HOME || join(home, '.config');
  const dataHome = env.XDG_DATA_HOME || join(home, '.local', 'share');
  const configDir = env.SEALMAIL_CONFIG_DIR || join(configHome, 'sealmail');
  const dataDir = env.SEALMAIL_DATA_DIR || join(dataHome, 'sealmail');
  return { configDir, dataDir, configFile: join(configDir, 'config.json') };
}

/** mkdir -p with mode 0700 on every directory we create, and on the leaf even if it existed. */
export function ensurePrivateDir(dir: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  return dir;
}

/** Writes a file atomically (temp file + rename) with mode 0600. */
export function writePrivateFile(path: string, data: string | Buffer): void {
  ensurePrivateDir(dirname(path));
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

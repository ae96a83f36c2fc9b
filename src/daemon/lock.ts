// The daemon's data-directory lock. proper-lockfile treats a lock as stale
// only once its mtime is 30 s old, so after a crash (SIGKILL, power loss) a
// restart was refused for up to half a minute. The lock holder's pid is kept
// beside the lock: when that process no longer exists the lock is taken over
// at once; a live holder still gets "already running".
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import { writePrivateFile } from './paths.js';
import { UserError } from '../util/user-error.js';
import { logger } from '../util/log.js';

const log = logger('daemon');

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

function recordedPid(file: string): number | null {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** Locks `dataDir` for this process; resolves with the release function. */
export async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const lockfilePath = join(dataDir, 'daemon.lock');
  const pidFile = join(dataDir, 'daemon.pid');
  const take = () => lockfile.lock(dataDir, { lockfilePath, stale: 30_000, update: 10_000 });
  let release: () => Promise<void>;
  try {
    release = await take();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw err;
    const holder = recordedPid(pidFile);
    if (holder === null || holder === process.pid || processExists(holder)) {
      throw new UserError(`another sealmail daemon is already running on ${dataDir}`);
    }
    log.warn({ pid: holder }, 'the previous daemon did not stop cleanly; taking over its lock');
    rmSync(lockfilePath, { recursive: true, force: true });
    try {
      release = await take();
    } catch (again) {
      if ((again as NodeJS.ErrnoException).code === 'ELOCKED') throw new UserError(`another sealmail daemon is already running on ${dataDir}`);
      throw again;
    }
  }
  writePrivateFile(pidFile, `${process.pid}\n`);
  return async () => {
    rmSync(pidFile, { force: true });
    await release();
  };
}

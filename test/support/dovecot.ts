// A real Dovecot (2.3.x, the Debian package) as the reference IMAP server for
// differential tests. Each call gets its own config, maildir, state and log
// in a temp dir and a free loopback port; stop() kills it and removes the dir.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface DovecotInstance {
  host: string;
  port: number;
  user: string;
  password: string;
  /** The temp dir holding config, maildir and dovecot.log (for debugging). */
  dir: string;
  stop(): Promise<void>;
}

const DOVECOT = '/usr/sbin/dovecot';

/** A port that was free a moment ago (Dovecot cannot listen on port 0 and tell us). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** uid/gid of a system user from /etc/passwd, or null. */
function systemUser(name: string): { uid: number; gid: number } | null {
  const line = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(name + ':'));
  if (!line) return null;
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

interface Identity {
  /** uid/gid the mail processes run as (Dovecot refuses uid 0 for mail). */
  mailUid: number;
  mailGid: number;
  /** Extra settings for the internal/login users when not running as root. */
  users: string;
}

function identity(): Identity {
  const uid = process.getuid?.() ?? 0;
  if (uid === 0) {
    // As root, Dovecot's own defaults (dovecot / dovenull, Debian package) work;
    // the mail processes must not be root, so they run as the dovecot user.
    const dv = systemUser('dovecot');
    if (!dv) throw new Error('running as root needs the "dovecot" system user (Debian package dovecot-core)');
    return { mailUid: dv.uid, mailGid: dv.gid, users: '' };
  }
  const name = os.userInfo().username;
  const gid = process.getgid?.() ?? uid;
  const group =
    fs
      .readFileSync('/etc/group', 'utf8')
      .split('\n')
      .map((l) => l.split(':'))
      .find((f) => Number(f[2]) === gid)?.[0] ?? name;
  return {
    mailUid: uid,
    mailGid: gid,
    users: [
      `default_internal_user = ${name}`,
      `default_internal_group = ${group}`,
      `default_login_user = ${name}`,
      'service auth {\n  user = $default_internal_user\n}',
      'service auth-worker {\n  user = $default_internal_user\n}',
    ].join('\n'),
  };
}

function config(dir: string, port: number, id: Identity): string {
  return `
protocols = imap
listen = 127.0.0.1
base_dir = ${dir}/run
state_dir = ${dir}/state
instance_name = sealmail-test-${port}
log_path = ${dir}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 0
first_valid_gid = 0
${id.users}
mail_location = maildir:${dir}/mail/%u
mail_uid = ${id.mailUid}
mail_gid = ${id.mailGid}
protocol imap {
  mail_max_userip_connections = 100
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = ${port}
  }
  inet_listener imaps {
    port = 0
  }
  chroot =
}
service anvil {
  chroot =
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${dir}/passwd
}
userdb {
  driver = static
  args = uid=${id.mailUid} gid=${id.mailGid} home=${dir}/mail/%u
}
`;
}

/**
 * Waits until a LOGIN succeeds, not just until the greeting: Dovecot's auth
 * process starts after imap-login and, on a loaded machine, answers the first
 * logins with "NO [UNAVAILABLE] Temporary authentication failure" (seen in a
 * bench run while other Dovecots were starting).
 */
async function waitUntilLoginWorks(port: number, child: ChildProcess, logFile: string, user: string, password: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    const ok = await new Promise<boolean>((resolve) => {
      const sock = net.connect(port, '127.0.0.1');
      let seen = '';
      let sent = false;
      sock.on('data', (d) => {
        seen += d.toString('latin1');
        if (!sent && seen.startsWith('* OK')) {
          sent = true;
          sock.write(`r LOGIN ${user} ${password}\r\n`);
        }
        const done = /\r\nr (OK|NO|BAD)/.exec(seen);
        if (done) {
          sock.end('z LOGOUT\r\n');
          resolve(done[1] === 'OK');
        }
      });
      sock.setTimeout(2000, () => {
        sock.destroy();
        resolve(false);
      });
      sock.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  const logText = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '';
  child.kill('SIGKILL');
  throw new Error(`dovecot did not accept a login on port ${port}:\n${logText}`);
}

/** Starts a private Dovecot on 127.0.0.1 with one user (passwd-file auth, maildir). */
export async function startDovecot(): Promise<DovecotInstance> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sealmail-dovecot-'));
  // Dovecot's internal users must be able to traverse the dir.
  fs.chmodSync(dir, 0o755);
  for (const sub of ['run', 'state', 'mail']) fs.mkdirSync(path.join(dir, sub));
  const user = 'tester';
  const password = 'secret-' + Math.random().toString(36).slice(2);
  fs.writeFileSync(path.join(dir, 'passwd'), `${user}:{PLAIN}${password}\n`);
  // Dovecot's auth process (user dovecot) reads it; a chmod, since the process umask (077 after a daemon started in this process) masks writeFileSync's mode.
  fs.chmodSync(path.join(dir, 'passwd'), 0o644);
  const id = identity();
  fs.chownSync(path.join(dir, 'mail'), id.mailUid, id.mailGid);
  const port = await freePort();
  const confFile = path.join(dir, 'dovecot.conf');
  fs.writeFileSync(confFile, config(dir, port, id));
  const logFile = path.join(dir, 'dovecot.log');
  const child = spawn(DOVECOT, ['-F', '-c', confFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    await waitUntilLoginWorks(port, child, logFile, user, password);
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(`${(err as Error).message}\n${stderr}`);
  }
  let stopped = false;
  // never leave a Dovecot behind if the test process dies without stop()
  const killOnExit = () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', killOnExit);
  return {
    host: '127.0.0.1',
    port,
    user,
    password,
    dir,
    async stop() {
      if (stopped) return;
      stopped = true;
      process.removeListener('exit', killOnExit);
      if (child.exitCode === null) {
        const exited = new Promise<void>((r) => child.once('exit', () => r()));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(timer);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

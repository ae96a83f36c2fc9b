// Free TCP ports on 127.0.0.1 for servers whose port must be known before
// they start (a child process, a persisted configuration).
//
// The ports are drawn at random from below Linux's ephemeral range
// (net.ipv4.ip_local_port_range, 32768–60999 by default), not with
// listen(0): a port listen(0) hands out is free only until it is closed, and
// in the ephemeral range the kernel gives it next to any process that
// connects or listens on port 0 — with test files running in parallel, a
// daemon then found "its" port taken. Below the range only another test's
// random draw can collide, and a bind check weeds out ports in use. Each
// test process draws from its own slice of the range first (by pid): a
// daemon that a test kills and restarts on its configured ports leaves them
// free for a moment, and another test file's draw must not land there
// (seen once in CI: the crash test's restarted daemon found its SMTP port taken).
// Slices can still coincide (pid modulo the slice count), so under
// scripts/run-tests.mjs every port handed out is also claimed in a directory
// the whole run shares (SEALMAIL_TEST_PORT_CLAIMS), a file per port created
// exclusively: no two test processes of one run ever get the same port (seen
// in CI: a daemon restarted on its ports found its IMAP port taken by
// another file's draw from the same slice).
import { openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import net from 'node:net';

const LOW = 20_000;
const HIGH = 32_000;

/** Ports this process handed out already: never twice. */
const given = new Set<number>();

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

const SLICE = 40;
const SLICES = Math.floor((HIGH - LOW) / SLICE);
/** This process's own ports, tried in order before any other. */
const ownSlice = LOW + (process.pid % SLICES) * SLICE;
let nextOwn = 0;

function candidate(): number {
  if (nextOwn < SLICE) return ownSlice + nextOwn++;
  return LOW + Math.floor(Math.random() * (HIGH - LOW));
}

/** Claims the port for this process in the run's shared directory; false when another test process has it. */
function claim(port: number): boolean {
  const dir = process.env.SEALMAIL_TEST_PORT_CLAIMS;
  if (!dir) return true;
  try {
    closeSync(openSync(join(dir, String(port)), 'wx'));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

export async function freePorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < count) {
    const port = candidate();
    if (given.has(port)) continue;
    given.add(port);
    if (!claim(port) || !(await bindable(port))) continue;
    ports.push(port);
  }
  return ports;
}

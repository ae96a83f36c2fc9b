// `npm start`: the daemon from the sources (through tsx), with libuv's thread
// pool sized as the systemd unit sizes it (src/daemon/service.ts,
// threadPoolSize: the cores, 2 to 4). Only the environment sizes the pool,
// and the pool starts while node loads an ES module entry (its file reads
// run on it), so this entry is CommonJS: it sets the variable first, then
// loads tsx and the CLI. A UV_THREADPOOL_SIZE already set is kept.
'use strict';
const { availableParallelism } = require('node:os');
const { join } = require('node:path');
const { pathToFileURL } = require('node:url');

if (process.env.UV_THREADPOOL_SIZE === undefined) {
  // Same rule as threadPoolSize in src/daemon/service.ts (test/cli/service.test.ts checks they agree).
  process.env.UV_THREADPOOL_SIZE = String(Math.max(2, Math.min(4, availableParallelism())));
}

import('tsx/esm/api')
  .then(({ register }) => {
    register();
    return import(pathToFileURL(join(__dirname, '..', 'src', 'cli', 'main.ts')).href);
  })
  .catch((err) => {
    process.stderr.write(`sealmail: ${err && err.message ? err.message : err}\n`);
    process.exit(1);
  });

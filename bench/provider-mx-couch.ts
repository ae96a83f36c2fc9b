// A CouchDB-protocol server in its own process for bench/provider-mx.ts (the
// scale-out shape: MX and database on different processes). Not a benchmark
// itself; runs only when forked as the main module. argv: <dataDir>
import { startEmbeddedCouch } from '../src/provider/couchdb/embedded.js';
import { isMain } from './result.js';

if (process.send && isMain(import.meta.url)) {
  const couch = await startEmbeddedCouch({ dataDir: process.argv[2]! });
  process.send({ url: couch.url });
  process.on('disconnect', () => void couch.close().then(() => process.exit(0)));
}

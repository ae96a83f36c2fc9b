// An HTTP proxy in front of the provider's API that notes what the daemon
// downloads, so a test can tell whether sync after an outage fetched again
// what it already had. PouchDB pulls a batch of changes with
// POST /{db}/_bulk_get {"docs":[{"id","rev"}]} and then each attachment with
// GET /{db}/{id}/{name}; batches are pulled one after another, each stored
// and checkpointed before the next is requested. A download counts once its
// response was received in full. The Host header is passed through, so the
// URLs the provider hands out keep pointing at the proxy.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface BulkGet {
  /** Running count of completed responses when this one completed. */
  event: number;
  db: string;
  docIds: string[];
}

export interface CountingProxy {
  port: number;
  /** "db id rev" or "db id @attachment" -> the events at which it was downloaded. */
  downloads: Map<string, number[]>;
  bulkGets: BulkGet[];
  /** Downloads (keys of `downloads`) fetched more than once. */
  downloadedTwice(): string[];
  /** The last requests, "event status METHOD path", for diagnostics. */
  trace: string[];
  close(): Promise<void>;
}

/** What a request downloads: [db, doc id, "rev" or "@attachment"] triples. */
function downloadsOf(method: string, url: string, body: Buffer): Array<[string, string, string]> {
  const u = new URL(url, 'http://proxy');
  const parts = u.pathname.split('/').slice(1).map(decodeURIComponent);
  const db = parts[0] ?? '';
  if (method === 'POST' && parts[1] === '_bulk_get') {
    try {
      const parsed = JSON.parse(body.toString('utf8')) as { docs?: Array<{ id: string; rev?: string }> };
      return (parsed.docs ?? []).map((d) => [db, d.id, d.rev ?? '?']);
    } catch {
      return [];
    }
  }
  if (method !== 'GET' || parts.length < 2 || parts[1]!.startsWith('_')) return [];
  if (parts.length >= 3) return [[db, parts[1]!, `@${parts.slice(2).join('/')}`]];
  const openRevs = u.searchParams.get('open_revs');
  if (openRevs) {
    try {
      return (JSON.parse(openRevs) as string[]).map((rev) => [db, parts[1]!, rev]);
    } catch {
      return [[db, parts[1]!, openRevs]];
    }
  }
  return [];
}

export async function startCountingProxy(listenPort: number, targetPort: number): Promise<CountingProxy> {
  const downloads = new Map<string, number[]>();
  const bulkGets: BulkGet[] = [];
  const trace: string[] = [];
  let event = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const fetched = downloadsOf(req.method ?? 'GET', req.url ?? '/', body);
      const isBulkGet = req.method === 'POST' && /^\/[^/]+\/_bulk_get/.test(req.url ?? '');
      const upstream = http.request(
        { host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
          up.on('end', () => {
            const ok = (up.statusCode ?? 500) < 300 && !up.destroyed;
            if (ok) event++;
            trace.push(`${event} ${up.statusCode} ${req.method} ${(req.url ?? '').split('?')[0]}`);
            if (trace.length > 4000) trace.splice(0, 2000);
            if (!ok) return;
            if (isBulkGet) bulkGets.push({ event, db: fetched[0]?.[0] ?? '', docIds: fetched.map(([, id]) => id) });
            for (const [db, id, what] of fetched) {
              const key = `${db} ${id} ${what}`;
              downloads.set(key, [...(downloads.get(key) ?? []), event]);
            }
          });
          up.on('error', () => res.destroy());
        },
      );
      upstream.on('error', () => {
        // The provider is down: answer like a dead gateway would.
        if (!res.headersSent) res.writeHead(502).end();
        else res.destroy();
      });
      res.on('close', () => upstream.destroy());
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listenPort, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    downloads,
    bulkGets,
    trace,
    downloadedTwice: () => [...downloads].filter(([, at]) => at.length > 1).map(([k]) => k),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

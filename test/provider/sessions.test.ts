import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedCouch } from '../../src/provider/couchdb/embedded.js';
import { CouchClient } from '../../src/provider/store/couch-client.js';
import { Sessions, SESSIONS_DB } from '../../src/provider/accounts/sessions.js';

test('sessions: only a hash of the token is stored; expired records are swept, live ones kept', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sealmail-'));
  const couch = await startEmbeddedCouch({ dataDir: dir });
  const client = new CouchClient(couch.url);
  try {
    const short = await Sessions.open(client, 1);
    const long = await Sessions.open(client, 3600_000);
    const expired = await Promise.all(Array.from({ length: 3 }, () => short.issue('a@example.org')));
    const live = await long.issue('b@example.org');
    await new Promise((r) => setTimeout(r, 20));

    const all = (await (await client.request('GET', `${SESSIONS_DB}/_all_docs?include_docs=true`)).json()) as { rows: Array<{ id: string; doc: Record<string, unknown> }> };
    // The design document (the by-address view) is no session.
    all.rows = all.rows.filter((r) => !r.id.startsWith('_design/'));
    assert.equal(all.rows.length, 4);
    for (const row of all.rows) assert.ok(!JSON.stringify(row).includes(live.token) && !expired.some((e) => JSON.stringify(row).includes(e.token)));

    assert.equal(await long.verify(expired[0]!.token), null);
    assert.equal(await long.sweepExpired(), 3);
    assert.equal(await long.sweepExpired(), 0);
    assert.equal(await long.verify(live.token), 'b@example.org');
    const left = (await (await client.request('GET', `${SESSIONS_DB}/_all_docs`)).json()) as { rows: Array<{ id: string }> };
    assert.equal(left.rows.filter((r) => !r.id.startsWith('_design/')).length, 1);
  } finally {
    client.close();
    await couch.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

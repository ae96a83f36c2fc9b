import { startHarness } from '../harness.js';
import { LATIN1, MIXED, PLAIN } from './messages.js';
const h = await startHarness();
await h.store.append('INBOX', PLAIN);
await h.store.append('INBOX', MIXED);
await h.store.append('INBOX', LATIN1);
const logs: string[] = [];
const c = await h.client({ logger: { debug: (o: any) => o.msg && logs.push(o.msg + ' ' + (o.src ?? '') + ' ' + JSON.stringify(o.data ?? '')), info: () => {}, warn: () => {}, error: (o: any) => logs.push('ERR ' + JSON.stringify(o)) } } as any);
await c.mailboxOpen('INBOX');
try { console.log(await c.search({ subject: 'résumé' }, { uid: true })); } catch (e) { console.log('E', e); }
try { await c.fetchAll('1:*', { uid: true, flags: true, size: true, internalDate: true, envelope: true, bodyStructure: true, source: true }); } catch (e) { console.log('E', (e as any).responseText ?? e); }
try { await c.fetchOne('2', { bodyParts: ['1', '2', '2.1', 'HEADER.FIELDS (SUBJECT CC)', '1.MIME'], headers: ['from'] }); } catch (e) { console.log('E', (e as any).responseText ?? e); }
console.log(logs.filter((l) => /C:|S:|ERR/.test(l) || true).slice(-30).join('\n'));
await h.close();

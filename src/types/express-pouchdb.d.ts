// express-pouchdb ships no types. Only the surface sealmail uses is declared.
declare module 'express-pouchdb' {
  import type { Express } from 'express';
  interface ExpressPouchOptions {
    mode?: 'fullCouchDB' | 'minimumForPouchDB' | 'custom';
    configPath?: string;
    logPath?: string;
    inMemoryConfig?: boolean;
    overrideMode?: { include?: string[]; exclude?: string[] };
  }
  function expressPouchDB(pouch: unknown, opts?: ExpressPouchOptions): Express & { setPouchDB(p: unknown): Promise<void> };
  export default expressPouchDB;
}

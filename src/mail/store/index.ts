// The Soledad-backed MailStore (see ../mailstore.ts for the contract).
export { openMailStore, type OpenMailStoreOptions, type OpenedMailStore } from './open.js';
export type { DeliverOptions, DeliverResult } from './mail-store.js';
export type { DeliveryItem, DeliveryOutcome, DeliveredItem } from './batch-delivery.js';
export { mergeEntry, mergeMailbox, MAIL_MERGE_RULES } from './merge.js';
export type { EntryDoc, MailboxDoc, FlagState } from './documents.js';
export type { Analyzer } from './content.js';
export { DEFAULT_MAILBOXES } from './mailbox-names.js';

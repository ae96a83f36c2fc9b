// The keymanager's public surface (the only module besides the provider's MX that imports openpgp).
export { KeyManager, type KeyManagerOptions } from './keymanager.js';
export { buildEncrypted, buildSigned, openMessage, type KeyInput, type OpenedMessage, type OpenKeys, type SignatureResult } from './pgpmime.js';
export { preparePgpSource, type PgpSource } from './pgpmime-build.js';
export { crlfStream, splitHead, MimeLimitError } from './mime-stream.js';
export { parseAutocryptHeader, formatAutocryptHeader } from './autocrypt.js';
export { wkdHash, wkdUrls, type LookupOptions, type ProviderDirectoryOptions, type WkdOptions } from './lookup.js';
export { normalizeAddress } from './keyring.js';
export type { KeyAlgorithm } from './keys.js';
export * from './types.js';

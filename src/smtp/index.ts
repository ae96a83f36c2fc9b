// The local SMTP gateway and the persistent outgoing queue.
export { startSmtpGateway, type Account, type SmtpGateway, type SmtpGatewayOptions } from './gateway.js';
export { OutgoingQueue, OUTGOING_DOC, type OutgoingItem, type OutgoingQueueOptions, type BackoffOptions } from './queue.js';
export type { RelayConfig } from './relay.js';
export type { GatewayKeys } from './compose.js';
export { SmtpError } from './errors.js';
export { buildBounce } from './bounce.js';

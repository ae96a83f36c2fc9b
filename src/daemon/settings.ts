// What the user pastes into Thunderbird (or any IMAP/SMTP client), and the
// Thunderbird autoconfig XML (`sealmail settings --autoconfig FILE`).
import type { AccountConfig, SealmailConfig } from './config.js';

/**
 * The settings block. `password: false` leaves the local password out, for
 * output that may be kept (a log file, the journal of the systemd service).
 */
export function settingsText(config: SealmailConfig, account: AccountConfig, fingerprint?: string, opts: { password?: boolean } = {}): string {
  return [
    `Account ${account.address}`,
    `  Incoming (IMAP):  server ${config.imap.host}  port ${config.imap.port}  connection security: STARTTLS (or none: it is localhost)`,
    `  Outgoing (SMTP):  server ${config.smtp.host}  port ${config.smtp.port}  connection security: STARTTLS (or none: it is localhost)`,
    `  Authentication:   normal password`,
    `  Username:         ${account.address}`,
    `  Password:         ${opts.password === false ? 'not printed here, as this output may be logged: `sealmail settings` shows it' : account.localPassword}`,
    ...(fingerprint ? [`  Certificate:      self-signed by your sealmail daemon; accept it when Thunderbird asks if its SHA-256 fingerprint is`, `                    ${fingerprint}`] : []),
  ].join('\n');
}

const xml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Mozilla autoconfig format (https://wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat). */
export function autoconfigXml(config: SealmailConfig, account: AccountConfig): string {
  const domain = account.address.slice(account.address.indexOf('@') + 1);
  return `<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="${xml(domain)}">
    <domain>${xml(domain)}</domain>
    <displayName>sealmail (${xml(account.address)})</displayName>
    <displayShortName>sealmail</displayShortName>
    <incomingServer type="imap">
      <hostname>${xml(config.imap.host)}</hostname>
      <port>${config.imap.port}</port>
      <socketType>STARTTLS</socketType>
      <authentication>password-cleartext</authentication>
      <username>${xml(account.address)}</username>
    </incomingServer>
    <outgoingServer type="smtp">
      <hostname>${xml(config.smtp.host)}</hostname>
      <port>${config.smtp.port}</port>
      <socketType>STARTTLS</socketType>
      <authentication>password-cleartext</authentication>
      <username>${xml(account.address)}</username>
    </outgoingServer>
  </emailProvider>
</clientConfig>
`;
}

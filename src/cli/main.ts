// The `sealmail` command. Subcommands are wired here as the daemon grows.
const [command = 'help'] = process.argv.slice(2);

if (command === 'start') {
  console.log('sealmail: the daemon is not assembled yet; nothing was started.');
  console.log('The components (Soledad store, mail model, IMAP, SMTP, provider) are being built — see README.md.');
  process.exit(0);
}
console.log('usage: sealmail start');

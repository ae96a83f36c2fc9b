# A Thunderbird-like IMAP session driven by python3 imaplib (run by
# thunderbird.test.ts). Prints one JSON object with what it observed; the
# Node test asserts on it. Usage: IMAP_PORT=.. IMAP_USER=.. IMAP_PASS=.. python3 this.py
import imaplib, json, os, re, socket, sys

port = int(os.environ['IMAP_PORT'])
out = {}

m = imaplib.IMAP4('127.0.0.1', port)
out['login'] = m.login(os.environ['IMAP_USER'], os.environ['IMAP_PASS'])[0]
typ, caps = m.capability()
out['caps'] = caps[0].decode().split()
typ, boxes = m.list('""', '"*"')
out['list'] = [b.decode() for b in boxes]

# SELECT with CONDSTORE (RFC 7162 3.1.8), as Thunderbird does when advertised
typ, data = m._simple_command('SELECT', 'INBOX', '(CONDSTORE)')
out['select'] = typ
m.state = 'SELECTED'  # imaplib only tracks its own select()
out['exists'] = int(m.untagged_responses.get('EXISTS', [b'0'])[-1])
hms = m.untagged_responses.get('OK', [])
out['highestmodseq'] = any(b'HIGHESTMODSEQ' in x for x in hms)

typ, data = m.uid('FETCH', '1:*', '(FLAGS)')
out['flags'] = [d.decode() for d in data if d]

typ, data = m.uid('FETCH', '1:*', '(UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])')
headers = []
for d in data:
    if isinstance(d, tuple):
        headers.append({'meta': d[0].decode(), 'header': d[1].decode('latin1')})
out['headers'] = headers

typ, data = m.uid('FETCH', '1', '(UID RFC822.SIZE BODY.PEEK[])')
body = [d for d in data if isinstance(d, tuple)][0]
out['body_len'] = len(body[1])
out['body_size_item'] = int(re.search(rb'RFC822.SIZE (\d+)', body[0]).group(1))

typ, data = m.uid('FETCH', '1', '(FLAGS)')
out['seen_after_peek'] = b'\\Seen' in data[0]

typ, data = m.uid('STORE', '1', '+FLAGS', '(\\Seen)')
out['store'] = [d.decode() for d in data if d]

typ, data = m.uid('COPY', '1', 'Trash')
out['copy'] = typ
out['copyuid'] = [x.decode() for x in m.untagged_responses.get('COPYUID', [])]
typ, data = m.uid('STORE', '1', '+FLAGS', '(\\Deleted)')
typ, data = m.expunge()
out['expunge'] = [d.decode() for d in data if d]

typ, data = m.uid('SEARCH', None, 'UNSEEN')
out['unseen'] = data[0].decode()

# IDLE (RFC 2177): another client appends; this one must see EXISTS at once.
tag = m._new_tag()
m.send(tag + b' IDLE\r\n')
out['idle_cont'] = m.readline().decode().strip()
other = imaplib.IMAP4('127.0.0.1', port)
other.login(os.environ['IMAP_USER'], os.environ['IMAP_PASS'])
other.append('INBOX', None, None, b'Subject: new while idle\r\n\r\nhello\r\n')
other.logout()
m.sock.settimeout(5)
out['idle_push'] = m.readline().decode().strip()
m.send(b'DONE\r\n')
while True:
    line = m.readline().decode().strip()
    if line.startswith(tag.decode()):
        out['idle_done'] = line
        break
m.sock.settimeout(None)

m.select('Trash')
typ, data = m.fetch('1:*', '(BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
out['trash'] = [d[1].decode() for d in data if isinstance(d, tuple)]
out['logout'] = m.logout()[0]
print(json.dumps(out))

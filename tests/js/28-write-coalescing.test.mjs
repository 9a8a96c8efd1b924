// Packets queued for one WebSocket in one loop turn leave in one write:
// `authenticate` makes the server queue the `authenticated` event, the ack
// and (presence-broadcast yes) presence_updated and presence:update to the
// socket itself in one turn; they must arrive in the first chunk the client
// reads, as whole consecutive frames.  A raw TCP client sees the chunks.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import crypto from 'node:crypto';
import { useDaemon, withLogs } from './lib/daemon.mjs';
import { mint } from './lib/token.mjs';
import { CHAT_CONF } from './lib/chat.mjs';

// A masked client text frame.
function frame(text) {
	const p = Buffer.from(text);
	const mask = crypto.randomBytes(4);
	let h;
	if (p.length < 126) {
		h = Buffer.from([0x81, 0x80 | p.length]);
	} else if (p.length < 65536) {
		h = Buffer.from([0x81, 0x80 | 126, p.length >> 8, p.length & 255]);
	} else {
		h = Buffer.alloc(10);
		h[0] = 0x81;
		h[1] = 0x80 | 127;
		h.writeBigUInt64BE(BigInt(p.length), 2);
	}
	const body = Buffer.alloc(p.length);
	for (let i = 0; i < p.length; i++)
		body[i] = p[i] ^ mask[i & 3];
	return Buffer.concat([h, mask, body]);
}

// Whole unmasked server frames in buf: [texts, bytes left over].
function parse(buf) {
	const out = [];
	let off = 0;
	while (off + 2 <= buf.length) {
		let len = buf[off + 1] & 0x7f, h = 2;
		if (len === 126) {
			if (off + 4 > buf.length)
				break;
			len = buf.readUInt16BE(off + 2);
			h = 4;
		} else if (len === 127) {
			if (off + 10 > buf.length)
				break;
			len = Number(buf.readBigUInt64BE(off + 2));
			h = 10;
		}
		if (off + h + len > buf.length)
			break;
		out.push(buf.subarray(off + h, off + h + len).toString());
		off += h + len;
	}
	return [out, buf.length - off];
}

// A raw WebSocket: chunks() resolves each chunk as it is read.
function rawWs(port) {
	const sock = net.connect(port, '127.0.0.1');
	const chunks = [];
	const waiters = [];
	sock.on('data', (b) => {
		const w = waiters.shift();
		if (w)
			w(b);
		else
			chunks.push(b);
	});
	const next = () => chunks.length ? Promise.resolve(chunks.shift()) :
	    new Promise((r) => waiters.push(r));
	sock.write('GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n' +
	    `Host: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
	    'Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' +
	    '\r\nSec-WebSocket-Version: 13\r\n\r\n');
	return { sock, next };
}

describe('write coalescing', () => {
	// The stalled reader below is sent 21 MB: raise the output bound
	// (32-hostile-memory tests it) so it is not disconnected.
	const d = useDaemon({ workers: 1, extraConf: [...CHAT_CONF,
	    'max-output-buffer 64m'] });

	// A raw WebSocket past the Socket.IO connect, however it is chunked.
	async function session() {
		const c = rawWs(d.port);
		let buf = Buffer.alloc(0), connectSent = false;
		for (;;) {
			buf = Buffer.concat([buf, await c.next()]);
			const i = buf.indexOf('\r\n\r\n');
			if (i < 0)
				continue;
			assert.match(buf.toString('latin1', 0, 12),
			    /^HTTP\/1\.1 101/);
			const [texts] = parse(buf.subarray(i + 4));
			if (!connectSent && texts.some((t) => t.startsWith('0{'))) {
				c.sock.write(frame('40'));
				connectSent = true;
			}
			if (texts.some((t) => t.startsWith('40{')))
				return c;
		}
	}

	it('a reader that stalls gets every byte of a large burst, in order',
	    withLogs(async () => {
		const c = await session();
		try {
			await new Promise((r) => c.sock.write(frame(
			    '421["authenticate","' + mint({ userId: '881',
			    displayName: 'Slow', role: 'user' }) + '"]'), r));
			// Stop reading: the server's writes fill the socket
			// buffers and the rest waits in lws.
			c.sock.pause();
			const N = 24, SIZE = 900000;
			const bodies = [];
			const out = [];
			for (let k = 0; k < N; k++) {
				bodies.push(String.fromCharCode(97 + k).repeat(SIZE));
				out.push(frame(`42${100 + k}["echo","${bodies[k]}"]`));
			}
			c.sock.write(Buffer.concat(out));
			await new Promise((r) => setTimeout(r, 1500));
			c.sock.resume();
			let buf = Buffer.alloc(0);
			const acks = [];
			while (acks.length < N) {
				buf = Buffer.concat([buf, await c.next()]);
				const [texts, rest] = parse(buf);
				buf = buf.subarray(buf.length - rest);
				for (const t of texts)
					if (/^43\d+\[/.test(t) && Number(t.slice(2,
					    t.indexOf('['))) >= 100)
						acks.push(t);
			}
			for (let k = 0; k < N; k++)
				assert.equal(acks[k], `43${100 + k}["${bodies[k]}"]`,
				    `ack ${k} (of ${acks[k].length} bytes)`);
		} finally {
			c.sock.destroy();
		}
	}));

	it('the packets of one loop turn arrive as frames of one write',
	    withLogs(async () => {
		const c = rawWs(d.port);
		try {
			// Up to and including the Socket.IO connect, however
			// it is chunked.
			let buf = Buffer.alloc(0), connectSent = false;
			for (;;) {
				buf = Buffer.concat([buf, await c.next()]);
				const i = buf.indexOf('\r\n\r\n');
				if (i < 0)
					continue;
				assert.match(buf.toString('latin1', 0, 12),
				    /^HTTP\/1\.1 101/);
				const [texts] = parse(buf.subarray(i + 4));
				if (!connectSent && texts.some((t) =>
				    t.startsWith('0{'))) {
					c.sock.write(frame('40'));
					connectSent = true;
				}
				if (texts.some((t) => t.startsWith('40{')))
					break;
			}
			c.sock.write(frame('421["authenticate","' + mint({
			    userId: '880', displayName: 'Burst', role: 'user' }) +
			    '"]'));
			const [got, rest] = parse(await c.next());
			assert.equal(rest, 0, 'a frame was split across writes');
			const kinds = got.map((t) => t.startsWith('431') ? 'ack' :
			    JSON.parse(t.slice(2))[0]);
			assert.ok(kinds.includes('ack'), JSON.stringify(got));
			assert.ok(kinds.includes('authenticated'),
			    JSON.stringify(got));
			assert.ok(got.length >= 3, `one write carried ${got.length} ` +
			    `packets: ${JSON.stringify(kinds)}`);
		} finally {
			c.sock.destroy();
		}
	}));
});

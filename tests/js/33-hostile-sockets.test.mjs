// Hostile sockets (issue 11, items 2, 3, 7, 13): what one client can pin
// or provoke without (or with) a token, each bound asserted while a
// well-behaved socket.io-client on the same daemon keeps working.
//
//  * binary attachments: refused before authentication, bounded in bytes
//    (max-payload for a packet and all its attachments) and in time
//    (attachment-timeout); worker RSS stays bounded;
//  * unauthenticated sessions: the Engine.IO transport is closed at
//    auth-timeout from the session's start (a new CONNECT does not move
//    it); max-unauthenticated and max-unauthenticated-per-ip refuse new
//    sessions at once with 503;
//  * unknown event names go through the rate limit and the flood
//    disconnect;
//  * a lone UTF-16 surrogate in a string refuses the one event with
//    invalid_payload, the session lives.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import WebSocket from 'ws';
import { useDaemon, withLogs, sleep } from './lib/daemon.mjs';
import { ask, askAll, until } from './lib/client.mjs';
import { CHAT_CONF, openTab, login, ok, refused, createChannel, send,
    history, disconnected, assertNoWorkerDied } from './lib/chat.mjs';
import { mint } from './lib/token.mjs';
import { PATH, eioQuery, decodePayload, request, closesWithin }
    from './lib/raw.mjs';

const ALICE = { userId: '501', displayName: 'Alice', role: 'admin' };
const MALLORY = { userId: '666', displayName: 'Mallory', role: 'user' };

const PH = (n) => ({ _placeholder: true, num: n });

// Sum of VmRSS (bytes) of the daemon's workers.
function workersRss(d) {
	let sum = 0;
	for (const pid of d.workerPids()) {
		const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(
		    `/proc/${pid}/status`, 'utf8'));
		if (m)
			sum += Number(m[1]) * 1024;
	}
	return sum;
}

/*
 * A raw WebSocket Engine.IO session from localAddress (default 127.0.0.1).
 * Queues incoming messages; opened resolves the open packet or rejects
 * (with .status) when the upgrade is refused.  Pings are answered.
 */
function rawWs(port, { localAddress = '127.0.0.1' } = {}) {
	const ws = new WebSocket(`ws://127.0.0.1:${port}${PATH}?` +
	    eioQuery(null, 'websocket'), { localAddress,
	    perMessageDeflate: false });
	const queue = [];
	const waiters = [];
	const c = { ws, texts: [] };
	c.closed = new Promise((resolve) => {
		ws.on('close', (code) => {
			c.isClosed = true;
			for (const w of waiters.splice(0))
				w(null);
			resolve({ code });
		});
	});
	ws.on('error', () => {});
	ws.on('message', (data, isBinary) => {
		if (isBinary)
			return;
		const t = data.toString('utf8');
		if (t === '2') {
			ws.send('3');
			return;
		}
		c.texts.push(t);
		const w = waiters.shift();
		if (w)
			w(t);
		else
			queue.push(t);
	});
	// Next text message (null once closed); rejects after timeoutMs.
	c.next = (timeoutMs = 10000) => {
		if (queue.length)
			return Promise.resolve(queue.shift());
		if (c.isClosed)
			return Promise.resolve(null);
		return new Promise((resolve, reject) => {
			const timer = setTimeout(() => {
				const i = waiters.indexOf(w);
				if (i >= 0)
					waiters.splice(i, 1);
				reject(new Error(`no message within ${timeoutMs} ms`));
			}, timeoutMs);
			const w = (t) => {
				clearTimeout(timer);
				resolve(t);
			};
			waiters.push(w);
		});
	};
	// Next text message matching re.
	c.until = async (re, timeoutMs = 10000) => {
		for (;;) {
			const t = await c.next(timeoutMs);
			if (t === null)
				throw new Error(`closed before ${re}`);
			if (re.test(t))
				return t;
		}
	};
	c.opened = new Promise((resolve, reject) => {
		ws.on('unexpected-response', (req, res) => {
			const e = new Error(`upgrade refused: ${res.statusCode}`);
			e.status = res.statusCode;
			res.resume();
			req.destroy();
			reject(e);
		});
		ws.on('error', reject);
		ws.on('close', () => reject(new Error('closed')));
		c.next().then((t) => t && t[0] === '0' ? resolve(t) :
		    reject(new Error(`no open packet: ${t}`)), reject);
	});
	c.opened.catch(() => {});
	c.send = (d) => ws.send(d);
	c.close = () => ws.terminate();
	return c;
}

// rawWs joined to "/" (with auth, when given, as the CONNECT payload).
async function rawSocket(port, { auth, localAddress } = {}) {
	const c = rawWs(port, { localAddress });
	await c.opened;
	c.send(auth ? `40${JSON.stringify(auth)}` : '40');
	await c.until(/^40\{/);
	if (auth?.token)
		await c.until(/^42\["authenticated"/);
	return c;
}

// Status of a polling handshake from localAddress.
function pollingHandshake(port, localAddress) {
	return new Promise((resolve, reject) => {
		const req = http.request({ host: '127.0.0.1', port, localAddress,
		    path: `${PATH}?${eioQuery(null)}`, agent: false }, (res) => {
			const chunks = [];
			res.on('data', (b) => chunks.push(b));
			res.on('end', () => resolve({ status: res.statusCode,
			    body: Buffer.concat(chunks).toString() }));
		});
		req.on('error', reject);
		req.setTimeout(10000, () => req.destroy(new Error('timeout')));
		req.end();
	});
}

// The well-behaved client still works: an event round trip and a message.
async function stillWorks(alice, channelId, text) {
	assert.equal(alice.connected, true, 'well-behaved client connected');
	await ok(alice, 'channel:list');
	const m = await send(alice, channelId, text);
	assert.equal(m.message, text);
}

describe('binary attachments (attachment-timeout 2s)', () => {
	let alice, ch;
	const sockets = [];
	const raws = [];

	// Under ASan freed memory waits in a quarantine (256 MB by default)
	// before reuse: keep it small so RSS measures what is held.
	const d = useDaemon({ workers: 2, extraConf: [...CHAT_CONF,
	    'attachment-timeout 2s', 'max-connections-per-user 100'],
	    env: { ASAN_OPTIONS: [process.env.ASAN_OPTIONS,
	    'quarantine_size_mb=8'].filter(Boolean).join(':') },
	    sockets, teardown: () => {
		raws.forEach((r) => r.close());
	} });
	before(async () => {
		alice = await login(d, ALICE);
		sockets.push(alice);
		ch = await createChannel(alice);
	});

	it('before authentication a packet announcing attachments closes ' +
	    'the connection at once', withLogs(async () => {
		const c = await rawSocket(d.port);
		raws.push(c);
		c.send(`451-${JSON.stringify(['x', PH(0)])}`);
		assert.equal(await closesWithin(c, 5000), true,
		    'connection closed');
		await stillWorks(alice, ch.id, 'after unauthenticated binary');
	}));

	it('30 sockets announcing 10 attachments and sending 9 of 900 kB: ' +
	    'each closed at max-payload, worker RSS bounded',
	    withLogs(async (t) => {
		const frame = Buffer.alloc(900000, 0x61);
		const text = `4510-${JSON.stringify(['file',
		    ...Array.from({ length: 10 }, (_, i) => PH(i))])}`;
		const rss0 = workersRss(d);
		for (let i = 0; i < 30; i++) {
			const c = await rawSocket(d.port, { auth: { token: mint(
			    MALLORY) } });
			raws.push(c);
			c.send(text);
			for (let k = 0; k < 9; k++)
				c.send(frame);
			assert.equal(await closesWithin(c, 15000), true,
			    `connection ${i} closed`);
		}
		const grown = workersRss(d) - rss0;
		t.diagnostic(`worker RSS grew by ${(grown / 1048576).toFixed(1)} ` +
		    'MiB');
		// Before: ~8 MB pinned per socket, +240 MB for 30.
		assert.ok(grown < 64 * 1024 * 1024,
		    `worker RSS grew by ${(grown / 1048576).toFixed(1)} MiB`);
		await stillWorks(alice, ch.id, 'after the attachment flood');
	}));

	it('the rest of the attachments not there within ' +
	    'attachment-timeout: the connection is closed',
	    withLogs(async () => {
		const c = await rawSocket(d.port, { auth: { token: mint(
		    MALLORY) } });
		raws.push(c);
		c.send(`452-${JSON.stringify(['file', PH(0), PH(1)])}`);
		c.send(Buffer.from('only the first'));
		// Pings are answered: only the deadline can close it.
		assert.equal(await closesWithin(c, 15000), true,
		    'connection closed');
		await stillWorks(alice, ch.id, 'after the attachment timeout');
	}));

	it('complete attachments still arrive (authenticated)',
	    withLogs(async () => {
		const buf = Buffer.from([1, 2, 3, 250]);
		const r = await ask(alice, 'echo', { f: buf });
		assert.ok(Buffer.from(r.f).equals(buf), 'attachment echoed');
		const body = (await request(d.port, { path: '/metrics' })).body;
		const n = body.split('\n').filter((l) =>
		    l.startsWith('confabd_attachment_disconnects_total{'))
		    .reduce((a, l) => a + Number(l.split(' ')[1]), 0);
		assert.ok(n >= 32, `confabd_attachment_disconnects_total ${n}`);
		assertNoWorkerDied(d);
	}));
});

const AUTH_TIMEOUT =
    /^42\["auth:error","Authentication timeout","[1-9][0-9]*"\]$/;

describe('unauthenticated sessions closed at auth-timeout 2s', () => {
	let alice, ch;
	const sockets = [];
	const raws = [];

	const d = useDaemon({ workers: 2, extraConf: [...CHAT_CONF,
	    'auth-timeout 2s'], sockets, teardown: () => {
		raws.forEach((r) => r.close());
	} });
	before(async () => {
		alice = await login(d, ALICE);
		sockets.push(alice);
		ch = await createChannel(alice);
	});

	it('WebSocket: auth:error, DISCONNECT, then the transport closes',
	    withLogs(async () => {
		const c = await rawSocket(d.port);
		raws.push(c);
		assert.equal(await closesWithin(c, 12000), true,
		    'transport closed');
		// With its offset (connection state recovery), last.
		const i = c.texts.findIndex((t) => AUTH_TIMEOUT.test(t));
		assert.ok(i >= 0, `auth:error: ${JSON.stringify(c.texts)}`);
		assert.equal(c.texts[i + 1], '41', 'then DISCONNECT');
		await stillWorks(alice, ch.id, 'after auth timeout (ws)');
	}));

	it('WebSocket: a new CONNECT every 300 ms does not extend it',
	    withLogs(async () => {
		const c = await rawSocket(d.port);
		raws.push(c);
		let stop = false;
		(async () => {
			while (!stop && !c.isClosed) {
				await sleep(300);
				if (c.isClosed)
					break;
				c.send('41');
				c.send('40');
			}
		})();
		const closed = await closesWithin(c, 12000);
		stop = true;
		assert.equal(closed, true, 'transport closed');
		assert.ok(c.texts.filter((t) => /^40\{/.test(t)).length >= 3,
		    'CONNECTs were answered meanwhile');
	}));

	it('a session that never joins "/" is closed too', withLogs(async () => {
		const c = rawWs(d.port);
		raws.push(c);
		await c.opened;
		assert.equal(await closesWithin(c, 12000), true,
		    'transport closed');
	}));

	it('polling: the close packet follows auth:error; the session is ' +
	    'gone', withLogs(async () => {
		const h = await request(d.port, { query: eioQuery(null) });
		assert.equal(h.status, 200);
		const sid = JSON.parse(h.body.slice(1)).sid;
		const p = await request(d.port, { method: 'POST',
		    query: eioQuery(sid), body: '40' });
		assert.equal(p.status, 200);
		const seen = [];
		const deadline = Date.now() + 12000;
		let closedPacket = false;
		while (!closedPacket && Date.now() < deadline) {
			const r = await request(d.port, { query: eioQuery(sid),
			    timeoutMs: 15000 });
			assert.equal(r.status, 200, `GET: ${r.status} ${r.body}`);
			for (const pk of decodePayload(r.body)) {
				seen.push(pk.type + (pk.data ?? ''));
				if (pk.type === '1')
					closedPacket = true;
				if (pk.type === '2')
					await request(d.port, { method: 'POST',
					    query: eioQuery(sid), body: '3' });
			}
		}
		assert.equal(closedPacket, true, `close packet: ${seen}`);
		assert.ok(seen.some((t) => AUTH_TIMEOUT.test(t)),
		    `auth:error before the close: ${seen}`);
		const after = await request(d.port, { query: eioQuery(sid) });
		assert.equal(after.status, 400, 'session unknown afterwards');
		await stillWorks(alice, ch.id, 'after auth timeout (polling)');
	}));

	it('polling: a session that never polls again leaves the count of ' +
	    'unauthenticated connections at auth-timeout', withLogs(async () => {
		const gauge = async () => (await request(d.port,
		    { path: '/metrics' })).body.split('\n').filter((l) =>
		    l.startsWith('confabd_unauthenticated_connections{'))
		    .reduce((s, l) => s + Number(l.split(' ')[1]), 0);
		// Whatever earlier tests left closing is gone first.
		await until(async () => (await gauge()) === 0, 8000,
		    'no unauthenticated connection before', 100);
		const h = await request(d.port, { query: eioQuery(null) });
		assert.equal(h.status, 200);
		assert.equal(await gauge(), 1, 'counted after the handshake');
		// Its close waits (30 s) for a GET to carry the close packet;
		// its place must not.
		await until(async () => (await gauge()) === 0, 6000,
		    'place freed at auth-timeout', 100);
	}));

	it('an authenticated client is not timed out', withLogs(async () => {
		await sleep(2500);
		await stillWorks(alice, ch.id, 'after auth-timeout passed');
	}));
});

describe('max-unauthenticated 6, max-unauthenticated-per-ip 3', () => {
	let alice, ch;
	const sockets = [];
	const raws = [];

	const refusedOpen = async (localAddress) => {
		const c = rawWs(d.port, { localAddress });
		raws.push(c);
		await assert.rejects(c.opened, (e) => e.status === 503,
		    `WebSocket from ${localAddress} refused with 503`);
		const h = await pollingHandshake(d.port, localAddress);
		assert.equal(h.status, 503, `polling from ${localAddress}`);
	};
	const admitted = async (localAddress) => {
		const c = rawWs(d.port, { localAddress });
		raws.push(c);
		await c.opened;
		return c;
	};

	const d = useDaemon({ workers: 2, extraConf: [...CHAT_CONF,
	    'auth-timeout 60s', 'max-unauthenticated 6',
	    'max-unauthenticated-per-ip 3'], sockets, teardown: () => {
		raws.forEach((r) => r.close());
	} });
	before(async () => {
		alice = await login(d, ALICE);
		sockets.push(alice);
		ch = await createChannel(alice);
	});

	it('the 4th from one address and the 7th of the host are refused ' +
	    'at once; authenticating or leaving frees a place',
	    withLogs(async () => {
		const a = [];
		for (let i = 0; i < 3; i++)
			a.push(await admitted('127.0.0.1'));
		await refusedOpen('127.0.0.1');
		const b = [];
		for (let i = 0; i < 3; i++)
			b.push(await admitted('127.0.0.2'));
		await refusedOpen('127.0.0.3');
		await stillWorks(alice, ch.id, 'while the caps are reached');

		// One of them authenticates: one place for the host.
		b[0].send(`40${JSON.stringify({ token: mint(MALLORY) })}`);
		await b[0].until(/^42\["authenticated"/);
		const c = await admitted('127.0.0.3');
		await refusedOpen('127.0.0.4');
		// One from 127.0.0.1 leaves: a place for that address.
		a[0].close();
		await until(async () => {
			const x = rawWs(d.port, { localAddress: '127.0.0.1' });
			raws.push(x);
			try {
				await x.opened;
				return true;
			} catch {
				return false;
			}
		}, 10000, 'a place after a close', 200);
		void c;
		const body = (await request(d.port, { path: '/metrics' })).body;
		const n = body.split('\n').filter((l) =>
		    l.startsWith('confabd_unauthenticated_refused_total{'))
		    .reduce((s, l) => s + Number(l.split(' ')[1]), 0);
		assert.ok(n >= 6, `confabd_unauthenticated_refused_total ${n}`);
		await stillWorks(alice, ch.id, 'after the caps');
	}));
});

describe('rate-limit 5 1 applies to unknown event names', () => {
	let alice, ch;
	const sockets = [];

	const d = useDaemon({ workers: 2, extraConf: [...CHAT_CONF,
	    'rate-limit 5 1'], sockets });
	before(async () => {
		alice = await login(d, ALICE);
		sockets.push(alice);
		ch = await createChannel(alice);
	});

	for (const authed of [false, true]) {
		it(`${authed ? 'authenticated' : 'unauthenticated'}: made-up ` +
		    'names are rate limited, then the socket is disconnected',
		    withLogs(async () => {
			const s = authed ? await login(d, MALLORY) :
			    await openTab(d);
			sockets.push(s);
			// One at a time: events sent after the server's
			// DISCONNECT would be a protocol error closing the
			// whole connection, as in the reference server.
			const codes = [];
			for (let i = 0; i < 40 && s.connected; i++) {
				const r = await s.timeout(3000).emitWithAck(
				    `made-up-${i}`).catch(() => null);
				if (r)
					codes.push(r.error?.code);
			}
			await disconnected(s, 10000);
			assert.ok(codes.includes('rate_limited'),
			    `codes: ${codes.join(',')}`);
			assert.ok(codes.filter((c) => c === 'unknown_event')
			    .length <= 7, `codes: ${codes.join(',')}`);
			assert.equal(s.events.disconnects.at(-1).reason,
			    'io server disconnect');
			await sleep(1200);	/* alice's own bucket refills */
			await stillWorks(alice, ch.id, 'after the flood');
		}));
	}
});

describe('lone UTF-16 surrogates', () => {
	let alice, ch;
	const sockets = [];

	const d = useDaemon({ workers: 2, extraConf: CHAT_CONF, sockets });
	before(async () => {
		alice = await login(d, ALICE);
		sockets.push(alice);
		ch = await createChannel(alice);
	});

	it('the event is refused with invalid_payload, the session lives',
	    withLogs(async () => {
		const pidsBefore = d.workerPids();
		await refused(alice, 'chat:send_message', [{ channelId: ch.id,
		    message: 'half a pair: \ud800' }], 'invalid_payload');
		await refused(alice, 'update_presence', [{ status: 'online',
		    statusMessage: '\udc00' }], 'invalid_payload');
		// Before authentication too (auth:error is its error event).
		const s = await openTab(d);
		sockets.push(s);
		await refused(s, 'authenticate', ['\ud83d'], 'invalid_payload');
		assert.equal(s.connected, true, 'unauthenticated socket lives');
		// A valid pair is fine.
		await send(alice, ch.id, 'pair \ud83d\ude00');
		const h = await history(alice, ch.id);
		assert.ok(!h.some((x) => x.message.startsWith('half a pair')),
		    'nothing stored');
		assert.ok(h.some((x) => x.message === 'pair \ud83d\ude00'));
		const [r] = await askAll(alice, 'whoami');
		assert.ok(r.sid);
		await stillWorks(alice, ch.id, 'after lone surrogates');
		assertNoWorkerDied(d, pidsBefore);
	}));
});

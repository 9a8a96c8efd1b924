// Hostile clients and memory (issue 11, items 1 and 15): a client that asks
// for a lot and never reads what it is sent is bounded by max-output-buffer
// (closed as a slow consumer, counted in /metrics), over long-polling (it
// POSTs chat:get_messages and never GETs) and over WebSocket (it stops
// reading); the worker's memory stays bounded meanwhile and well-behaved
// clients on the same worker keep sending and receiving.  A WebSocket closed
// by the heartbeat while its peer does not read is torn down at once (the
// peer sees a reset) and its backlog freed.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { useDaemon, withLogs, sleep } from './lib/daemon.mjs';
import { closeAll, until } from './lib/client.mjs';
import { CHAT_CONF, login, ok, createChannel, send,
    waitFor } from './lib/chat.mjs';
import { mint } from './lib/token.mjs';
import * as raw from './lib/raw.mjs';

const ASAN = !!process.env.CF_TEST_ASAN;
// ASan keeps freed memory in quarantine (256 MiB by default): keep it small
// here, or the RSS of a correct worker grows with all it ever allocated,
// and allow for it where memory must come back.
const QUARANTINE_MB = 8;
const ENV = ASAN ? { ASAN_OPTIONS: [process.env.ASAN_OPTIONS,
    `quarantine_size_mb=${QUARANTINE_MB}`].filter(Boolean).join(':') } : {};
const MB = 1024 * 1024;
// Worker RSS growth allowed during an attack: the unmodified daemon grows
// by 20 to 40 MiB in these runs, a bounded one by 1 to 8.
const BOUND = (ASAN ? 32 : 16) * MB;
const ADMIN = { userId: '1', displayName: 'Admin', role: 'admin' };
const BODY = 'x'.repeat(4000);	// max-message-length characters

// Resident memory of the daemon's workers, in bytes.
function workersRss(d) {
	let kb = 0;
	for (const pid of d.workerPids()) {
		const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(
		    `/proc/${pid}/status`, 'utf8'));
		kb += m ? Number(m[1]) : 0;
	}
	return kb * 1024;
}

// The sum over workers of a /metrics counter.
async function metric(d, name) {
	const r = await raw.request(d.port, { path: '/metrics' });
	assert.equal(r.status, 200, `/metrics: ${r.status}`);
	let n = 0;
	for (const l of r.body.split('\n'))
		if (l.startsWith(`${name}{`))
			n += Number(l.slice(l.lastIndexOf(' ') + 1));
	return n;
}

// A public channel of 100 messages of 4000 characters: each page of
// chat:get_messages {limit: 100} is about 420 KB.
async function seed(d) {
	const admin = await login(d, ADMIN);
	const ch = await createChannel(admin, { isPrivate: false });
	for (let i = 0; i < 100; i++)
		await send(admin, ch.id, BODY);
	// The well-behaved clients talk elsewhere: the pages stay large.
	const chatter = await createChannel(admin, { isPrivate: false });
	return { admin, ch, chatter };
}

function getMessages(ackId, channelId) {
	return `42${ackId}["chat:get_messages",{"channelId":${channelId},` +
	    '"limit":100}]';
}

/*
 * A well-behaved pair of socket.io-client tabs on the channel: one sends
 * a message every 200 ms (and has it acked), the other must receive each
 * as chat:new_message.  stop() resolves how many made the round trip and
 * throws on the first failure.
 */
async function wellBehaved(d, channelId, n) {
	const a = await login(d, { userId: String(500 + n),
	    displayName: `Good ${n}`, role: 'user' });
	const b = await login(d, { userId: String(600 + n),
	    displayName: `Peer ${n}`, role: 'user' });
	await ok(a, 'join_channel', channelId);
	await ok(b, 'join_channel', channelId);
	let running = true, done = 0, failure = null;
	const loop = (async () => {
		while (running) {
			const text = `good ${n} ${done}`;
			try {
				const since = b.rec.length;
				await send(a, channelId, text);
				await waitFor(b, 'chat:new_message', (m) =>
				    m.message === text, 10000, since);
				done++;
			} catch (e) {
				failure = e;
				return;
			}
			await sleep(200);
		}
	})();
	return {
		async stop() {
			running = false;
			await loop;
			closeAll([a, b]);
			if (failure)
				throw failure;
			return done;
		},
	};
}

// A polling session past the Socket.IO connect, authenticated, in the
// channel (the answers are read once, here; never again afterwards).
async function pollingSession(d, user, channelId) {
	const { sid } = await raw.handshake(d.port);
	let r = await raw.post(d.port, sid, raw.encodePayload(['40',
	    `421["authenticate","${mint(user)}"]`]));
	assert.equal(r.status, 200, `POST: ${r.status} ${r.body}`);
	await raw.pollUntil(d.port, sid, (t) => t.startsWith('31['));
	r = await raw.post(d.port, sid, `422["join_channel",${channelId}]`);
	assert.equal(r.status, 200, `POST: ${r.status} ${r.body}`);
	const j = await raw.pollUntil(d.port, sid, (t) => t.startsWith('32['));
	assert.match(j, /"ok":true/, j);
	return sid;
}

// A masked client text frame; opcode 9 (a ping) when ping is set.
function frame(text, ping = false) {
	const p = Buffer.from(text);
	const mask = crypto.randomBytes(4);
	let h;
	if (p.length < 126) {
		h = Buffer.from([ping ? 0x89 : 0x81, 0x80 | p.length]);
	} else {
		h = Buffer.from([0x81, 0x80 | 126, p.length >> 8,
		    p.length & 255]);
	}
	const body = Buffer.alloc(p.length);
	for (let i = 0; i < p.length; i++)
		body[i] = p[i] ^ mask[i & 3];
	return Buffer.concat([h, mask, body]);
}

/*
 * A raw WebSocket session, authenticated and in the channel, as a client
 * that then stops reading: .closed resolves once the connection is gone
 * (a write fails or the server's FIN or reset is seen).
 */
async function wsSession(d, user, channelId) {
	const sock = net.connect(d.port, '127.0.0.1');
	const c = { sock, closeFrame: null };
	let buf = Buffer.alloc(0), head = true;
	const texts = [];
	let wake = null;
	sock.on('data', (b) => {
		buf = Buffer.concat([buf, b]);
		if (head) {
			const i = buf.indexOf('\r\n\r\n');
			if (i < 0)
				return;
			assert.match(buf.toString('latin1', 0, 12),
			    /^HTTP\/1\.1 101/);
			buf = buf.subarray(i + 4);
			head = false;
		}
		for (;;) {
			if (buf.length < 2)
				break;
			let len = buf[1] & 0x7f, h = 2;
			if (len === 126) {
				if (buf.length < 4)
					break;
				len = buf.readUInt16BE(2);
				h = 4;
			} else if (len === 127) {
				if (buf.length < 10)
					break;
				len = Number(buf.readBigUInt64BE(2));
				h = 10;
			}
			if (buf.length < h + len)
				break;
			const payload = buf.subarray(h, h + len);
			if ((buf[0] & 0x0f) === 8) {
				c.closeFrame = { code: payload.readUInt16BE(0),
				    reason: payload.subarray(2).toString() };
			} else {
				texts.push(payload.toString());
			}
			buf = buf.subarray(h + len);
		}
		if (wake)
			wake();
	});
	sock.on('error', () => {});
	const closed = new Promise((r) => sock.on('close', () => r(Date.now())));
	const expect = async (re) => {
		const deadline = Date.now() + 10000;
		for (;;) {
			const i = texts.findIndex((t) => re.test(t));
			if (i >= 0)
				return texts.splice(0, i + 1).pop();
			if (Date.now() > deadline)
				throw new Error(`no ${re} (${texts.length} frames)`);
			await new Promise((r) => {
				wake = r;
				setTimeout(r, 100);
			});
		}
	};
	sock.write('GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n' +
	    `Host: 127.0.0.1:${d.port}\r\nUpgrade: websocket\r\n` +
	    'Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' +
	    '\r\nSec-WebSocket-Version: 13\r\n\r\n');
	await expect(/^0\{/);
	sock.write(frame('40'));
	await expect(/^40\{/);
	sock.write(frame(`421["authenticate","${mint(user)}"]`));
	await expect(/^431\[/);
	sock.write(frame(`422["join_channel",${channelId}]`));
	assert.match(await expect(/^432\[/), /"ok":true/);
	c.closed = closed;
	c.gone = () => sock.destroyed;
	return c;
}

describe('slow consumers (max-output-buffer)', () => {
	let ch, chatter, admin;

	// One worker: every client below shares it.  The rate limit is
	// raised so that only the output bound can stop anyone.
	const d = useDaemon({ workers: 1, env: ENV,
	    extraConf: [...CHAT_CONF, 'rate-limit 1000 1'], teardown: () => {
		if (admin)
			admin.close();
	} });
	before(async () => {
		({ admin, ch, chatter } = await seed(d));
	});

	it('a polling client that POSTs chat:get_messages and never GETs is ' +
	    'closed; the worker stays bounded; others keep chatting',
	    withLogs(async () => {
		const good = await wellBehaved(d, chatter.id, 1);
		const before = workersRss(d);
		const metric0 = await metric(d, 'confabd_slow_consumer_disconnects_total');
		const mark = d.logMark();
		let peak = before, closed = 0, posts = 0, ack = 10;
		let sid = await pollingSession(d, { userId: '701',
		    displayName: 'Hostile poll', role: 'user' }, ch.id);
		// 8 s at 20 chat:get_messages a second (2 per POST), never a
		// GET; a closed session is replaced by a new one.
		const end = Date.now() + 8000;
		while (Date.now() < end) {
			const r = await raw.post(d.port, sid, raw.encodePayload([
			    getMessages(ack++, ch.id), getMessages(ack++, ch.id)]));
			posts++;
			peak = Math.max(peak, workersRss(d));
			if (r.aborted || r.status !== 200) {
				closed++;
				// Its session is gone, not just this request.
				const g = await raw.poll(d.port, sid);
				assert.equal(g.status, 400, `GET after close: ${g.status}`);
				assert.equal(JSON.parse(g.body).code, 1, g.body);
				sid = await pollingSession(d, { userId: '701',
				    displayName: 'Hostile poll', role: 'user' },
				    ch.id);
			}
			await sleep(100);
		}
		peak = Math.max(peak, workersRss(d));
		const rounds = await good.stop();
		const growth = peak - before;
		process.stderr.write(`# polling: ${posts} POSTs, ${closed} ` +
		    `slow-consumer closes, worker RSS +${(growth / MB).toFixed(1)} ` +
		    `MiB (${(before / MB).toFixed(1)} -> ${(peak / MB).toFixed(1)}), ` +
		    `${rounds} good round trips\n`);
		assert.ok(closed >= 1, `the hostile session was never closed ` +
		    `(${posts} POSTs, RSS +${(growth / MB).toFixed(1)} MiB)`);
		assert.ok(growth < BOUND, `worker RSS grew by ` +
		    `${(growth / MB).toFixed(1)} MiB`);
		assert.ok(rounds >= 5, `only ${rounds} good round trips`);
		assert.ok(await metric(d, 'confabd_slow_consumer_disconnects_total') -
		    metric0 >= closed, 'confabd_slow_consumer_disconnects_total');
		await d.waitForLog(/slow consumer/, 5000, mark);
	}));

	it('a WebSocket client that stops reading is closed; the worker ' +
	    'stays bounded; others keep chatting', withLogs(async () => {
		const good = await wellBehaved(d, chatter.id, 2);
		const before = workersRss(d);
		const metric0 = await metric(d, 'confabd_slow_consumer_disconnects_total');
		const user = { userId: '702', displayName: 'Hostile ws',
		    role: 'user' };
		let peak = before, ack = 10, closed = 0;
		let c = await wsSession(d, user, ch.id);
		c.sock.pause();
		// 8 s at 20 chat:get_messages a second, never reading; a
		// closed connection is replaced by a new one.
		const end = Date.now() + 8000;
		while (Date.now() < end) {
			if (c.gone()) {
				closed++;
				c = await wsSession(d, user, ch.id);
				c.sock.pause();
			}
			c.sock.write(Buffer.concat([
			    frame(getMessages(ack++, ch.id)),
			    frame(getMessages(ack++, ch.id))]));
			peak = Math.max(peak, workersRss(d));
			await sleep(100);
		}
		if (await Promise.race([c.closed, sleep(3000).then(() => 0)]))
			closed++;
		peak = Math.max(peak, workersRss(d));
		c.sock.destroy();
		const rounds = await good.stop();
		const growth = peak - before;
		process.stderr.write(`# websocket: ${ack - 10} requests, ` +
		    `${closed} slow-consumer closes, worker RSS ` +
		    `+${(growth / MB).toFixed(1)} MiB (${(before / MB).toFixed(1)} ` +
		    `-> ${(peak / MB).toFixed(1)}), ${rounds} good round trips\n`);
		assert.ok(closed >= 1, `the hostile WebSocket was never closed ` +
		    `(${ack - 10} requests, RSS +${(growth / MB).toFixed(1)} MiB)`);
		assert.ok(growth < BOUND, `worker RSS grew by ` +
		    `${(growth / MB).toFixed(1)} MiB`);
		assert.ok(rounds >= 5, `only ${rounds} good round trips`);
		assert.ok(await metric(d, 'confabd_slow_consumer_disconnects_total') -
		    metric0 >= closed, 'confabd_slow_consumer_disconnects_total');
	}));

	it('a polling response carries at most 256 KiB of a backlog; ' +
	    'several GETs drain it', withLogs(async () => {
		const sid = await pollingSession(d, { userId: '708',
		    displayName: 'Backlog', role: 'user' }, ch.id);
		// Two pages (about 420 KB each) wait for the next GET.
		await raw.post(d.port, sid, raw.encodePayload([
		    getMessages(3, ch.id), getMessages(4, ch.id)]));
		await sleep(500);
		const acks = [], sizes = [];
		while (acks.length < 2 && sizes.length < 10) {
			const g = await raw.poll(d.port, sid);
			assert.equal(g.status, 200, `GET: ${g.status}`);
			const packets = raw.decodePayload(g.body);
			sizes.push(Buffer.byteLength(g.body));
			// Larger than the cap only as one packet.
			assert.ok(Buffer.byteLength(g.body) <= 256 * 1024 ||
			    packets.length === 1, `a body of ${packets.length} ` +
			    `packets and ${Buffer.byteLength(g.body)} bytes`);
			for (const pk of packets)
				if (pk.type === '4' && /^3[34]\[/.test(pk.data))
					acks.push(pk.data.slice(0, 2));
		}
		assert.deepEqual(acks, ['33', '34']);
		assert.equal(sizes.length, 2, `bodies of ${sizes} bytes`);
	}));

	it('max-output-buffer reloads on SIGHUP: below one page, a reader ' +
	    'still gets every page, a client that does not read two is closed',
	    withLogs(async () => {
		const mark = d.logMark();
		await fsp.appendFile(d.confPath, 'max-output-buffer 64k\n');
		d.signal('SIGHUP');
		await d.waitForLog(/worker=0 .*configuration reloaded/, 10000,
		    mark);
		// A page (about 420 KB) always fits in an empty queue.
		const s = await login(d, { userId: '703',
		    displayName: 'Reader', role: 'user' });
		await ok(s, 'join_channel', ch.id);
		const name = 'confabd_slow_consumer_disconnects_total';
		const metric0 = await metric(d, name);
		for (let i = 0; i < 5; i++) {
			const r = await ok(s, 'chat:get_messages',
			    { channelId: ch.id, limit: 100 });
			assert.equal(r.messages.length, 100);
		}
		assert.ok(s.connected);
		assert.equal(await metric(d, name), metric0);
		s.close();
		// Two pages queued: over 64k (not over the 1m default).
		const sid = await pollingSession(d, { userId: '706',
		    displayName: 'Two pages', role: 'user' }, ch.id);
		// (The POST itself is answered before the pages when they
		// are read in another loop turn.)
		await raw.post(d.port, sid, raw.encodePayload([
		    getMessages(3, ch.id), getMessages(4, ch.id)]));
		await until(async () => await metric(d, name) === metric0 + 1,
		    10000, name);
		const g = await raw.poll(d.port, sid);
		assert.equal(g.status, 400, `GET after close: ${g.status}`);
		await d.waitForLog(/session \S+: slow consumer .*max-output-buffer 65536/,
		    5000, mark);
		// A WebSocket that reads but asks for two pages in one write
		// is told why it is closed.
		const c = await wsSession(d, { userId: '707',
		    displayName: 'Greedy', role: 'user' }, ch.id);
		c.sock.write(Buffer.concat([frame(getMessages(3, ch.id)),
		    frame(getMessages(4, ch.id))]));
		await Promise.race([c.closed, sleep(10000)]);
		assert.ok(c.gone(), 'still open');
		assert.deepEqual(c.closeFrame, { code: 1013,
		    reason: 'slow consumer' });
	}));
});

describe('a heartbeat close of a client that does not read', () => {
	let ch, admin;

	// A bound too large to matter: the heartbeat closes it.
	const d = useDaemon({ workers: 1, env: ENV,
	    extraConf: [...CHAT_CONF, 'rate-limit 1000 1',
	    'max-output-buffer 512m', 'ping-interval 3s', 'ping-timeout 3s'],
	    teardown: () => {
		if (admin)
			admin.close();
	} });
	before(async () => {
		({ admin, ch } = await seed(d));
	});

	it('tears the connection down at once and frees its backlog',
	    withLogs(async () => {
		const before = workersRss(d);
		const c = await wsSession(d, { userId: '704',
		    displayName: 'Stalled', role: 'user' }, ch.id);
		const opened = Date.now();
		c.sock.pause();
		// About 17 MB of answers, most of it left in the worker.
		const reqs = [];
		for (let i = 0; i < 40; i++)
			reqs.push(frame(getMessages(10 + i, ch.id)));
		c.sock.write(Buffer.concat(reqs));
		await sleep(2000);
		const peak = workersRss(d);
		// The ping went out 3 s after the open; unanswered, it times
		// out 3 s later.  Probe the connection with WebSocket pings
		// (lws answers them, the session does not see them): once the
		// server has reset it, a write fails.
		const deadline = opened + 6000 + (ASAN ? 10000 : 3000);
		while (!c.gone() && Date.now() < deadline) {
			c.sock.write(frame('', true));
			await sleep(250);
		}
		const gone = c.gone() ? Date.now() : null;
		await sleep(1000);
		const after = workersRss(d);
		c.sock.destroy();
		process.stderr.write(`# heartbeat: worker RSS ` +
		    `${(before / MB).toFixed(1)} -> ${(peak / MB).toFixed(1)} ` +
		    `MiB with the backlog, ${(after / MB).toFixed(1)} MiB after; ` +
		    (gone ? `connection closed ${gone - opened - 6000} ms after ` +
		    'the ping timeout\n' : 'connection still open\n'));
		assert.ok(peak - before > 8 * MB, 'no backlog was built ' +
		    `(RSS +${((peak - before) / MB).toFixed(1)} MiB)`);
		assert.ok(gone, 'the connection is still open ' +
		    `${Date.now() - opened} ms after the open`);
		assert.ok(after - before < (peak - before) / 2 +
		    (ASAN ? QUARANTINE_MB * MB : 0), 'the backlog ' +
		    `was not freed: RSS ${(before / MB).toFixed(1)} -> ` +
		    `${(peak / MB).toFixed(1)} -> ${(after / MB).toFixed(1)} MiB`);
		// And the worker still serves.
		const s = await login(d, { userId: '705', displayName: 'After',
		    role: 'user' });
		await ok(s, 'join_channel', ch.id);
		s.close();
	}));
});

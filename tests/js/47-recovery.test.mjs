// Connection state recovery (issue 16, doc/events.md "Connection state
// recovery"), with the official client's own protocol (pid in the CONNECT
// reply, an offset trailing every event, {pid, offset} in the next
// CONNECT): a transport killed from the client side (engine.close() on
// WebSocket and polling, a TCP reset) while messages, typing, receipts and
// a call offer flow comes back as the same socket, with every missed event
// in order, then live ones; no one sees it leave.  Not recovered: past
// recovery-window, over recovery-max-events, an expired or revoked token,
// after its worker was killed -9; recovery-window 0 turns it off.
import { describe, it, after } from 'node:test';
import net from 'node:net';
import assert from 'node:assert/strict';
import { useDaemon, withLogs, sleep } from './lib/daemon.mjs';
import { apiCall } from './lib/api.mjs';
import { useTwoHosts } from './lib/hosts.mjs';
import { wsOpen } from './lib/raw.mjs';
import { until } from './lib/client.mjs';
import { CHAT_CONF, openTab, login, auth, ok, refused, waitFor, mark,
    createChannel, history } from './lib/chat.mjs';
import { mint } from './lib/token.mjs';

const KEY = 'recovery-test-key-0123456789-abcdefgh';
// Reconnect after ~gapMs (the client's own backoff, made short and fixed).
const again = (gapMs) => ({ reconnection: true, reconnectionDelay: gapMs,
    reconnectionDelayMax: gapMs, randomizationFactor: 0 });
const PRESENCE = ['presence_updated', 'presence:update', 'user_left',
    'user_joined'];

function user(n, role = 'user') {
	return { userId: String(n), displayName: `User ${n}`, role };
}

// The recorded events of s since index `since`, as [event, first arg].
const since = (s, i) => s.rec.slice(i).map((r) => [r.event, r.args[0]]);

// The value of a metric line (name{labels}) on d.
async function metric(d, line) {
	const text = await (await fetch(`${d.url}/metrics`)).text();
	let sum = 0, seen = false;
	for (const l of text.split('\n')) {
		const sp = l.lastIndexOf(' ');
		const name = l.slice(0, sp).replace(/worker="\d+",?/, '')
		    .replace('{}', '');
		if (name === line) {
			sum += Number(l.slice(sp + 1));
			seen = true;
		}
	}
	assert.ok(seen, `metric ${line} in ${text.slice(0, 200)}`);
	return sum;
}

// A tab that reconnects by itself, logged in as claims.
async function tab(d, claims, gapMs, opts = {}) {
	return login(d, claims, { opts: { ...again(gapMs), ...opts } });
}

// Resolves when s connects again; the disconnect reason first.
function reconnect(s) {
	return new Promise((resolve) => s.once('connect', resolve));
}

describe('connection state recovery', () => {
	const sockets = [];
	const d = useDaemon({ workers: 1, extraConf: [...CHAT_CONF,
	    'rate-limit 10000 1', 'presence-coalesce 0',
	    `api-key backend ${KEY}`], sockets, closeEach: true });

	/*
	 * Alice's transport dies by `kill`; during the gap Bob sends a
	 * message, types, reads, and calls her; after it one more message.
	 */
	async function gapScenario(transports, kill) {
		const alice = await tab(d, user(701, 'admin'), 600,
		    { transports });
		const bob = await login(d, user(702));
		sockets.push(alice, bob);
		const c = await createChannel(alice, { memberIds: [702] });
		await ok(alice, 'join_channel', c.id);
		await ok(bob, 'join_channel', c.id);
		const before = await ok(bob, 'chat:send_message',
		    { channelId: c.id, message: 'before' });
		await waitFor(alice, 'chat:new_message', (m) =>
		    m.id === before.message.id);
		const id = alice.id;
		const m = await mark([alice, bob]);
		const dropped = new Promise((r) => alice.once('disconnect', r));
		const back = reconnect(alice);
		kill(alice);
		const reason = await dropped;
		await until(async () => await metric(d,
		    'confabd_recovery_held') === 1, 3000, 'held');
		const m1 = await ok(bob, 'chat:send_message',
		    { channelId: c.id, message: 'during' });
		await ok(bob, 'chat:typing', { channelId: c.id, isTyping: true });
		await ok(bob, 'message_read', { channelId: c.id,
		    messageId: m1.message.id });
		const call = await ok(bob, 'call:invite', { targetUserId: 701,
		    callType: 'audio', offer: { type: 'offer', sdp: 'v=0' } });
		await back;
		assert.equal(alice.recovered, true, 'socket.recovered');
		assert.equal(alice.id, id, 'the same socket id');
		const m2 = await ok(bob, 'chat:send_message',
		    { channelId: c.id, message: 'after' });
		await waitFor(alice, 'chat:new_message', (x) =>
		    x.id === m2.message.id, 5000, m.get(alice));
		await sleep(200);
		// Every missed event once, in order, then the live one.
		assert.deepEqual(since(alice, m.get(alice)).map(([e, a]) =>
		    [e, a.message ?? a.isTyping ?? a.messageId ?? a.callId]), [
			['chat:new_message', 'during'],
			['chat:user_typing', true],
			['message_read_receipt', m1.message.id],
			['call:incoming', call.callId],
			['chat:new_message', 'after'],
		]);
		// Each carries its offset, last, increasing.
		const offs = alice.rec.slice(m.get(alice)).map((r) => r.offset);
		for (const o of offs)
			assert.match(o, /^[1-9][0-9]*$/);
		for (let i = 1; i < offs.length; i++)
			assert.ok(BigInt(offs[i]) > BigInt(offs[i - 1]), offs);
		// Nobody saw Alice leave or come back.
		assert.deepEqual(since(bob, m.get(bob)).filter(([e]) =>
		    PRESENCE.includes(e)), []);
		// Still authenticated, still in the channel: no new login.
		await ok(alice, 'chat:send_message', { channelId: c.id,
		    message: 'still me' });
		await waitFor(bob, 'chat:new_message', (x) =>
		    x.message === 'still me');
		await ok(alice, 'call:end', { callId: call.callId });
		return reason;
	}

	it('engine.close() on a WebSocket: the same socket, every missed ' +
	    'event in order, then live ones', withLogs(async () => {
		const ok0 = await metric(d, 'confabd_recovery_succeeded_total');
		const r0 = await metric(d, 'confabd_recovery_replayed_total');
		const reason = await gapScenario(['websocket'],
		    (s) => s.io.engine.close());
		assert.equal(reason, 'forced close');
		assert.equal(await metric(d,
		    'confabd_recovery_succeeded_total'), ok0 + 1);
		assert.equal(await metric(d, 'confabd_recovery_replayed_total'),
		    r0 + 4);
	}));

	it('engine.close() on long-polling', withLogs(async () => {
		await gapScenario(['polling'], (s) => s.io.engine.close());
	}));

	it('a TCP reset of the WebSocket', withLogs(async () => {
		const reason = await gapScenario(['websocket'], (s) =>
		    s.io.engine.transport.ws._socket.resetAndDestroy());
		assert.equal(reason, 'transport close');
	}));

	it('held, a socket stops typing at once (isTyping false to the ' +
	    'channel); recovered, it is in the channel still', withLogs(async () => {
		const alice = await tab(d, user(705, 'admin'), 800);
		const bob = await login(d, user(706));
		sockets.push(alice, bob);
		const c = await createChannel(alice, { memberIds: [706] });
		await ok(alice, 'join_channel', c.id);
		await ok(bob, 'join_channel', c.id);
		await ok(alice, 'chat:typing', { channelId: c.id, isTyping: true });
		await waitFor(bob, 'chat:user_typing', (t) => t.userId === 705 &&
		    t.isTyping === true);
		const m = await mark([bob]);
		const back = reconnect(alice);
		alice.io.engine.close();
		const t = await waitFor(bob, 'chat:user_typing', (x) =>
		    x.userId === 705 && x.isTyping === false, 2000, m.get(bob));
		assert.equal(t.channelId, c.id);
		await back;
		assert.equal(alice.recovered, true);
		const x = await ok(bob, 'chat:send_message', { channelId: c.id,
		    message: 'still there?' });
		await waitFor(alice, 'chat:new_message', (v) =>
		    v.id === x.message.id);
	}));

	it('a revoked token is not recovered: a fresh socket that must log ' +
	    'in again', withLogs(async () => {
		const alice = await tab(d, user(711), 800);
		const bob = await login(d, user(712));
		sockets.push(alice, bob);
		const id = alice.id;
		const f0 = await metric(d, 'confabd_recovery_attempts_total');
		const back = reconnect(alice);
		alice.io.engine.close();
		await sleep(100);
		const r = await apiCall(d, 'POST', '/users/711/revoke',
		    { key: KEY });
		assert.equal(r.status, 200, r.text);
		await back;
		assert.equal(alice.recovered, false);
		assert.notEqual(alice.id, id);
		assert.equal(await metric(d, 'confabd_recovery_attempts_total'),
		    f0 + 1);
		await refused(alice, 'channel:list', [], 'not_authenticated');
	}));

	it('an expired token is not recovered', withLogs(async () => {
		// A token that expires within the gap.
		const a2 = await openTab(d, { opts: again(2600) });
		sockets.push(a2);
		await auth(a2, mint(user(721), { ttlSec: 2 }));
		const f0 = await metric(d, 'confabd_recovery_auth_failed_total');
		const back = reconnect(a2);
		a2.io.engine.close();
		await back;
		assert.equal(a2.recovered, false);
		assert.equal(await metric(d,
		    'confabd_recovery_auth_failed_total'), f0 + 1);
	}));
});

// The worker slot of an Engine.IO session id (byte 0, doc/events.md).
const slotOf = (sid) => Buffer.from(sid, 'base64url')[0];

describe('connection state recovery across workers', () => {
	const sockets = [];
	const d = useDaemon({ workers: 2, extraConf: [...CHAT_CONF,
	    'rate-limit 10000 1', 'presence-coalesce 0'], sockets,
	    closeEach: true });

	/*
	 * Drop alice, and while she is away Bob sends, types, reads; she
	 * must come back recovered with exactly that, on whichever worker
	 * her new session landed.  Resolves that worker's slot.
	 */
	async function dropAndBack(alice, bob, c, n) {
		const m = await mark([alice, bob]);
		const back = reconnect(alice);
		alice.io.engine.close();
		await until(async () => await metric(d,
		    'confabd_recovery_held') === 1, 3000, 'held');
		const x = await ok(bob, 'chat:send_message',
		    { channelId: c.id, message: `gap ${n}` });
		await ok(bob, 'chat:typing', { channelId: c.id,
		    isTyping: n % 2 === 0 });
		await ok(bob, 'message_read', { channelId: c.id,
		    messageId: x.message.id });
		await back;
		assert.equal(alice.recovered, true, `recovered (${n})`);
		const y = await ok(bob, 'chat:send_message',
		    { channelId: c.id, message: `live ${n}` });
		await waitFor(alice, 'chat:new_message', (v) =>
		    v.id === y.message.id, 5000, m.get(alice));
		assert.deepEqual(since(alice, m.get(alice)).map(([e, a]) =>
		    [e, a.message ?? a.isTyping ?? a.messageId]), [
			['chat:new_message', `gap ${n}`],
			['chat:user_typing', n % 2 === 0],
			['message_read_receipt', x.message.id],
			['chat:new_message', `live ${n}`],
		]);
		assert.deepEqual(since(bob, m.get(bob)).filter(([e]) =>
		    PRESENCE.includes(e)), []);
		return slotOf(alice.io.engine.id);
	}

	it('the new session lands on another worker: the socket is served ' +
	    'from the one that held it, nothing missed, nothing twice; its ' +
	    'own sends work; dropped again it comes back again',
	    withLogs(async () => {
		const alice = await tab(d, user(801, 'admin'), 300);
		const bob = await login(d, user(802));
		sockets.push(alice, bob);
		const owner = slotOf(alice.io.engine.id);
		const id = alice.id;
		const c = await createChannel(alice, { memberIds: [802] });
		await ok(alice, 'join_channel', c.id);
		await ok(bob, 'join_channel', c.id);
		const landed = new Set();
		for (let n = 0; n < 30 && !landed.has(1 - owner); n++)
			landed.add(await dropAndBack(alice, bob, c, n));
		assert.ok(landed.has(1 - owner), 'a session on the other worker');
		assert.equal(alice.id, id);
		// Served through the other worker: sends, acks, its channels.
		const mine = await ok(alice, 'chat:send_message',
		    { channelId: c.id, message: 'from afar' });
		await waitFor(bob, 'chat:new_message', (v) =>
		    v.id === mine.message.id);
		const h = await history(alice, c.id);
		assert.ok(h.some((v) => v.id === mine.message.id));
		// Dropped while served from afar: held again, recovered again.
		await dropAndBack(alice, bob, c, 100);
		assert.equal(alice.id, id);
		assert.ok(await metric(d,
		    'confabd_recovery_succeeded_total') >= 2);
	}));

	it('lying CONNECTs (forged, malformed, foreign pids and offsets): ' +
	    'each connects afresh at once, nothing taken over, nothing ' +
	    'crashes; the real owner keeps its socket', withLogs(async () => {
		const alice = await tab(d, user(821, 'admin'), 300);
		sockets.push(alice);
		const pid = alice._pid;
		const pids = d.workerPids();
		const rand = (n) => Buffer.from(Array.from({ length: n },
		    () => Math.floor(Math.random() * 256))).toString('base64url');
		// A pid of slot 0/1 of this generation, random otherwise.
		const forged = (slot) => Buffer.from([slot, 1,
		    ...Buffer.from(rand(13), 'base64url')]).toString('base64url');
		const host = pid.slice(21);
		const lies = [
			{ pid: `${forged(0)}.${host}`, offset: '1' },
			{ pid: `${forged(1)}.${host}`, offset: '99999999999' },
			{ pid: `${forged(7)}.${host}` },
			{ pid: `${forged(1)}.no-such-host` },
			{ pid: pid.slice(0, 20) },
			{ pid: 'x'.repeat(300), offset: 'y'.repeat(300) },
			{ pid: 42, offset: [] },
			{ pid: '', offset: '' },
			{ pid: `${pid}x` },
			{ pid, offset: 'not a number' },
			{ pid, offset: '-1' },
			{ pid, offset: '18446744073709551616' },
		];
		for (const lie of lies) {
			const c = wsOpen(d.port);
			await c.opened;
			await c.next();
			const t0 = Date.now();
			c.send('40' + JSON.stringify(lie));
			const r = await c.nextText(4000);
			const reply = JSON.parse(r.text.slice(2));
			assert.match(r.text, /^40\{/, JSON.stringify(lie));
			assert.notEqual(reply.sid, alice.id, JSON.stringify(lie));
			assert.notEqual(reply.pid, pid);
			assert.ok(Date.now() - t0 < 3000, 'answered without delay');
			c.close();
		}
		// alice's own pid with a bad offset was refused: her socket is
		// live (not held), so nothing was taken from her.
		await ok(alice, 'channel:list');
		assert.deepEqual(d.workerPids().sort(), pids.sort());
	}));

	it('the worker that held it is killed -9 while another serves it: ' +
	    'the session ends, the client connects afresh', withLogs(async () => {
		const alice = await tab(d, user(811, 'admin'), 300);
		sockets.push(alice);
		const owner = slotOf(alice.io.engine.id);
		const bob = await login(d, user(812));
		sockets.push(bob);
		const c = await createChannel(alice, { memberIds: [812] });
		await ok(alice, 'join_channel', c.id);
		await ok(bob, 'join_channel', c.id);
		for (let n = 0; n < 30 && slotOf(alice.io.engine.id) === owner;
		    n++)
			await dropAndBack(alice, bob, c, n);
		assert.notEqual(slotOf(alice.io.engine.id), owner);
		const pids = d.workerPids();
		// The pid of the worker in slot `owner`: a tab that lands there.
		let victim = null;
		for (let i = 0; i < 40 && victim === null; i++) {
			const t = await openTab(d);
			sockets.push(t);
			if (slotOf(t.io.engine.id) === owner)
				victim = t.who.pid;
		}
		assert.ok(pids.includes(victim));
		const back = reconnect(alice);
		process.kill(victim, 'SIGKILL');
		await back;
		assert.equal(alice.recovered, false);
		await auth(alice, mint(user(811, 'admin')));
		await ok(alice, 'channel:list');
	}));
});

/*
 * A load balancer in front of two hosts: every new TCP connection goes to
 * the port `to` names at that moment.
 */
async function balancer(ports) {
	const lb = { to: ports[0], conns: new Set() };
	lb.server = net.createServer((c) => {
		const up = net.connect(lb.to, '127.0.0.1');
		lb.conns.add(c);
		lb.conns.add(up);
		c.pipe(up).pipe(c);
		const end = () => {
			c.destroy();
			up.destroy();
		};
		c.on('error', end).on('close', end);
		up.on('error', end).on('close', end);
	});
	await new Promise((r) => lb.server.listen(0, '127.0.0.1', r));
	lb.url = `http://127.0.0.1:${lb.server.address().port}`;
	lb.close = () => {
		for (const c of lb.conns)
			c.destroy();
		lb.server.close();
	};
	return lb;
}

describe('connection state recovery across hosts (Redis)', () => {
	const h = useTwoHosts({ extraConf: ['presence-coalesce 0'] });
	let lb = null;
	after(() => lb?.close());

	it('the reconnect reaches the other host: the socket is served from ' +
	    'the host that held it, every missed event once, in order',
	    withLogs(async () => {
		lb = await balancer([h.a.port, h.b.port]);
		const alice = await login({ url: lb.url }, user(901, 'admin'),
		    { opts: again(300) });
		h.sockets.push(alice);
		const bob = await h.on(h.b, user(902));
		const id = alice.id;
		const c = await createChannel(alice, { memberIds: [902] });
		await ok(alice, 'join_channel', c.id);
		await ok(bob, 'join_channel', c.id);
		const m = await mark([alice, bob]);
		// The next connections go to host b.
		lb.to = h.b.port;
		const back = reconnect(alice);
		alice.io.engine.close();
		await until(async () => await metric(h.a,
		    'confabd_recovery_held') === 1, 3000, 'held on a');
		const x = await ok(bob, 'chat:send_message',
		    { channelId: c.id, message: 'while away' });
		await ok(bob, 'chat:typing', { channelId: c.id, isTyping: true });
		await ok(bob, 'message_read', { channelId: c.id,
		    messageId: x.message.id });
		await back;
		assert.equal(alice.recovered, true);
		assert.equal(alice.id, id);
		const y = await ok(bob, 'chat:send_message',
		    { channelId: c.id, message: 'live' });
		await waitFor(alice, 'chat:new_message', (v) =>
		    v.id === y.message.id, 5000, m.get(alice));
		await sleep(200);
		assert.deepEqual(since(alice, m.get(alice)).map(([e, a]) =>
		    [e, a.message ?? a.isTyping ?? a.messageId]), [
			['chat:new_message', 'while away'],
			['chat:user_typing', true],
			['message_read_receipt', x.message.id],
			['chat:new_message', 'live'],
		]);
		assert.deepEqual(since(bob, m.get(bob)).filter(([e]) =>
		    PRESENCE.includes(e)), []);
		// Alice's own events travel b -> a and back.
		const mine = await ok(alice, 'chat:send_message',
		    { channelId: c.id, message: 'via b' });
		await waitFor(bob, 'chat:new_message', (v) =>
		    v.id === mine.message.id);
		assert.equal(await metric(h.b,
		    'confabd_recovery_attempts_total'), 1);
		assert.equal(await metric(h.a,
		    'confabd_recovery_succeeded_total'), 1);
		// Host a stops: the session on b ends; the client connects
		// afresh (on b) and must log in again.
		const again2 = reconnect(alice);
		await h.a.stop();
		h.a = null;
		await again2;
		assert.equal(alice.recovered, false);
		await refused(alice, 'channel:list', [], 'not_authenticated');
	}));
});

describe('connection state recovery: bounds', () => {
	const sockets = [];
	const d = useDaemon({ workers: 1, extraConf: [...CHAT_CONF,
	    'rate-limit 10000 1', 'presence-coalesce 0',
	    'recovery-window 1s', 'recovery-max-events 3'], sockets,
	    closeEach: true });

	it('past recovery-window: not recovered, and the others saw it ' +
	    'leave when the window ended', withLogs(async () => {
		const alice = await tab(d, user(731, 'admin'), 1800);
		const bob = await login(d, user(732));
		sockets.push(alice, bob);
		const c = await createChannel(alice, { memberIds: [732] });
		await ok(alice, 'join_channel', c.id);
		await ok(bob, 'join_channel', c.id);
		const m = await mark([bob]);
		const t0 = Date.now();
		const back = reconnect(alice);
		alice.io.engine.close();
		await waitFor(bob, 'user_left', (x) => x.userId === 731, 3000,
		    m.get(bob));
		const left = Date.now() - t0;
		assert.ok(left >= 900, `left after ${left} ms, window 1 s`);
		await back;
		assert.equal(alice.recovered, false);
		assert.ok(await metric(d,
		    'confabd_recovery_dropped_total{reason="window"}') >= 1);
		assert.ok(await metric(d,
		    'confabd_recovery_failed_total{reason="unknown"}') >= 1);
	}));

	it('over recovery-max-events: given up at once, not recovered; ' +
	    'the client falls back to chat:get_messages', withLogs(async () => {
		const alice = await tab(d, user(741, 'admin'), 700);
		const bob = await login(d, user(742));
		sockets.push(alice, bob);
		const c = await createChannel(alice, { memberIds: [742] });
		await ok(alice, 'join_channel', c.id);
		await ok(bob, 'join_channel', c.id);
		const last = await ok(bob, 'chat:send_message',
		    { channelId: c.id, message: 'seen' });
		await waitFor(alice, 'chat:new_message', (x) =>
		    x.id === last.message.id);
		const b0 = await metric(d,
		    'confabd_recovery_dropped_total{reason="bound"}');
		const m = await mark([bob]);
		const back = reconnect(alice);
		alice.io.engine.close();
		// Held (the server saw the close) before anything is missed.
		await until(async () => await metric(d,
		    'confabd_recovery_held') === 1, 3000, 'held');
		for (let i = 0; i < 4; i++)
			await ok(bob, 'chat:send_message', { channelId: c.id,
			    message: `missed ${i}` });
		await waitFor(bob, 'user_left', (x) => x.userId === 741, 3000,
		    m.get(bob));
		await back;
		assert.equal(alice.recovered, false);
		assert.equal(await metric(d,
		    'confabd_recovery_dropped_total{reason="bound"}'), b0 + 1);
		await auth(alice, mint(user(741)));
		const page = await ok(alice, 'chat:get_messages',
		    { channelId: c.id, after: last.message.id });
		assert.deepEqual(page.messages.map((x) => x.message),
		    ['missed 0', 'missed 1', 'missed 2', 'missed 3']);
	}));
});

describe('connection state recovery: a worker killed -9', () => {
	const sockets = [];
	const d = useDaemon({ workers: 1, extraConf: [...CHAT_CONF,
	    'presence-coalesce 0'], sockets, closeEach: true });

	it('what the dead worker held is gone: the client connects afresh ' +
	    'and reads what it missed from history', withLogs(async () => {
		const alice = await tab(d, user(751, 'admin'), 300);
		sockets.push(alice);
		const c = await createChannel(alice);
		const seen = await ok(alice, 'chat:send_message',
		    { channelId: c.id, message: 'before the crash' });
		const [victim] = d.workerPids();
		const back = reconnect(alice);
		process.kill(victim, 'SIGKILL');
		await back;
		await until(() => d.workerPids().length === 1 &&
		    d.workerPids()[0] !== victim, 10000, 'respawn');
		assert.equal(alice.recovered, false);
		assert.equal(await metric(d,
		    'confabd_recovery_failed_total{reason="unknown"}'), 1);
		await auth(alice, mint(user(751, 'admin')));
		const h = await history(alice, c.id);
		assert.ok(h.some((x) => x.id === seen.message.id));
	}));
});

describe('connection state recovery off (recovery-window 0)', () => {
	const sockets = [];
	const d = useDaemon({ workers: 1, extraConf: [...CHAT_CONF,
	    'recovery-window 0'], sockets, closeEach: true });

	it('no pid, no offsets, no recovery', withLogs(async () => {
		const alice = await tab(d, user(761, 'admin'), 300);
		sockets.push(alice);
		const c = await createChannel(alice);
		await ok(alice, 'join_channel', c.id);
		await ok(alice, 'chat:send_message', { channelId: c.id,
		    message: 'x' });
		const r = alice.rec.find((x) => x.event === 'chat:new_message');
		assert.equal(r.args.length, 1, 'no trailing offset');
		assert.equal(r.offset, undefined);
		const id = alice.id;
		const back = reconnect(alice);
		alice.io.engine.close();
		await back;
		assert.equal(alice._pid, undefined, 'no pid in the CONNECT reply');
		assert.ok(!alice.recovered);
		assert.notEqual(alice.id, id);
		assert.equal(await metric(d,
		    'confabd_recovery_attempts_total'), 0);
	}));
});

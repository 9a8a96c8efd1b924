// Presence at scale (issue 16, doc/events.md "Presence"): presence-scope
// channels (only sockets in a channel room of the user's channels, once
// each) and subscribed (presence:subscribe / unsubscribe, the bound of
// 500, across workers and across two hosts on Redis + PostgreSQL), and
// presence-coalesce (a quick reconnect announces nothing; a real change
// announces the final state once).
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { useDaemon, withLogs, sleep } from './lib/daemon.mjs';
import { useTwoHosts } from './lib/hosts.mjs';
import { CHAT_CONF, login, ok, refused, got, waitFor, mark, assertNone,
    createChannel } from './lib/chat.mjs';

const PRES = ['presence_updated', 'presence:update', 'presence:snapshot'];

function user(n, role = 'user') {
	return { userId: String(n), displayName: `User ${n}`, role };
}

// The presence events about uid since the mark of s.
const about = (s, uid, since) => s.rec.slice(since).filter((r) =>
    PRES.includes(r.event) && r.args[0]?.userId === uid).map((r) =>
    r.event === 'presence_updated' ? [r.event, r.args[0].reason] :
    [r.event, r.args[0].connectionCount]);

describe('presence-scope channels', () => {
	const sockets = [];
	const d = useDaemon({ workers: 2, extraConf: [...CHAT_CONF,
	    'rate-limit 10000 1', 'presence-scope channels',
	    'presence-coalesce 0'], sockets, closeEach: true });
	const as = async (claims, opts) => {
		const s = await login(d, claims, opts);
		sockets.push(s);
		return s;
	};

	it('a user\'s presence reaches the sockets of its channels, once ' +
	    'each, on every worker; nobody else', withLogs(async () => {
		const dave = await as(user(601, 'admin'));
		const bob = await as(user(602), { notOn: [dave.who.pid] });
		const carol = await as(user(603));
		assert.equal(got(bob, 'presence:snapshot').length, 0,
		    'no snapshot outside scope all');
		// Two channels shared by Dave and Bob: Bob hears Dave once.
		const c1 = await createChannel(dave, { memberIds: [602] });
		const c2 = await createChannel(dave, { memberIds: [602] });
		await ok(bob, 'join_channel', c1.id);
		await ok(bob, 'join_channel', c2.id);
		let m = await mark([bob, carol]);
		dave.close();
		await waitFor(bob, 'presence:update', (p) => p.userId === 601 &&
		    p.connectionCount === 0, 3000, m.get(bob));
		await sleep(300);
		assert.deepEqual(about(bob, 601, m.get(bob)),
		    [['presence_updated', 'disconnect'], ['presence:update', 0]]);
		assert.deepEqual(about(carol, 601, m.get(carol)), []);

		m = await mark([bob, carol]);
		const dave2 = await as(user(601, 'admin'), { on: bob.who.pid });
		await waitFor(bob, 'presence:update', (p) => p.userId === 601 &&
		    p.connectionCount === 1, 3000, m.get(bob));
		await ok(dave2, 'update_presence', { status: 'busy' });
		await waitFor(bob, 'presence_updated', (p) => p.userId === 601 &&
		    p.reason === 'status_change', 3000, m.get(bob));
		await sleep(300);
		assert.deepEqual(about(bob, 601, m.get(bob)),
		    [['presence_updated', 'connect'], ['presence:update', 1],
		    ['presence_updated', 'status_change'],
		    ['presence:update', 1]]);
		assert.deepEqual(about(carol, 601, m.get(carol)), []);
		// A channel member who joined no room of it hears nothing.
		assert.deepEqual(about(carol, 602, 0), []);
	}));
});

describe('presence-scope subscribed', () => {
	const sockets = [];
	const d = useDaemon({ workers: 2, extraConf: [...CHAT_CONF,
	    'rate-limit 10000 1', 'presence-scope subscribed',
	    'presence-coalesce 0'], sockets, closeEach: true });
	const as = async (claims, opts) => {
		const s = await login(d, claims, opts);
		sockets.push(s);
		return s;
	};

	it('presence:subscribe: current statuses, then the user\'s events ' +
	    'on any worker; unsubscribe stops them', withLogs(async () => {
		const bob = await as(user(612));
		const carol = await as(user(613), { notOn: [bob.who.pid] });
		let ack = await ok(bob, 'presence:subscribe',
		    { userIds: [611, '611'] });
		assert.deepEqual(ack.users, [{ userId: 611, status: 'offline',
		    connectionCount: 0 }]);
		assert.equal(ack.subscribed, 1);
		let m = await mark([bob, carol]);
		const dave = await as(user(611), { notOn: [bob.who.pid] });
		await waitFor(bob, 'presence:update', (p) => p.userId === 611 &&
		    p.connectionCount === 1, 3000, m.get(bob));
		await sleep(300);
		assert.deepEqual(about(bob, 611, m.get(bob)),
		    [['presence_updated', 'connect'], ['presence:update', 1]]);
		assert.deepEqual(about(carol, 611, m.get(carol)), []);
		assert.deepEqual(about(dave, 611, 0), [], 'not even to itself');

		ack = await ok(bob, 'presence:subscribe', { userIds: [611] });
		assert.deepEqual(ack.users, [{ userId: 611, status: 'online',
		    connectionCount: 1 }]);
		assert.equal(ack.subscribed, 1, 'a second subscribe is one');
		ack = await ok(bob, 'presence:unsubscribe', { userIds: [611, 9] });
		assert.equal(ack.subscribed, 0);
		m = await mark([bob, carol]);
		dave.close();
		await assertNone(m, PRES, 500);
	}));

	it('at most 500 subscriptions per socket; bad userIds refused',
	    withLogs(async () => {
		const bob = await as(user(614));
		const ids = Array.from({ length: 500 }, (_, i) => 10000 + i);
		const ack = await ok(bob, 'presence:subscribe', { userIds: ids });
		assert.equal(ack.subscribed, 500);
		assert.equal(ack.users.length, 500);
		await refused(bob, 'presence:subscribe', [{ userIds: [611] }],
		    'too_many_subscriptions');
		// Already held: no new subscription, accepted.
		await ok(bob, 'presence:subscribe', { userIds: [10000] });
		await refused(bob, 'presence:subscribe',
		    [{ userIds: [...ids, 1] }], 'invalid_payload');
		for (const bad of [[], null, 'x', [null], [{}]])
			await refused(bob, 'presence:subscribe',
			    [{ userIds: bad }], 'invalid_payload');
		await refused(bob, 'presence:unsubscribe', [5],
		    'invalid_payload');
		await ok(bob, 'presence:unsubscribe', { userIds: [10000] });
		const again = await ok(bob, 'presence:subscribe',
		    { userIds: [611] });
		assert.equal(again.subscribed, 500);
	}));
});

describe('presence-scope subscribed across two hosts', () => {
	const h = useTwoHosts({ extraConf: ['presence-scope subscribed',
	    'presence-coalesce 0'] });
	let a, b;
	before(() => ({ a, b } = h));

	it('a subscription on host a hears a user of host b', async () => {
		const bob = await h.on(a, user(622));
		const carol = await h.on(b, user(623));
		await ok(bob, 'presence:subscribe', { userIds: [621] });
		let m = await mark([bob, carol]);
		const dave = await h.on(b, user(621));
		await waitFor(bob, 'presence:update', (p) => p.userId === 621 &&
		    p.connectionCount === 1, 5000, m.get(bob));
		const ack = await ok(carol, 'presence:subscribe',
		    { userIds: [621] });
		assert.deepEqual(ack.users, [{ userId: 621, status: 'online',
		    connectionCount: 1 }]);
		m = await mark([bob, carol]);
		dave.close();
		await waitFor(bob, 'presence_updated', (p) => p.userId === 621 &&
		    p.reason === 'disconnect', 5000, m.get(bob));
		await waitFor(carol, 'presence_updated', (p) => p.userId === 621 &&
		    p.reason === 'disconnect', 5000, m.get(carol));
		await sleep(300);
		assert.deepEqual(about(bob, 621, m.get(bob)),
		    [['presence_updated', 'disconnect'], ['presence:update', 0]]);
	});
});

describe('presence-coalesce (default 1s)', () => {
	const sockets = [];
	const d = useDaemon({ workers: 2, extraConf: [...CHAT_CONF,
	    'rate-limit 10000 1'], sockets, closeEach: true });
	const as = async (claims, opts) => {
		const s = await login(d, claims, opts);
		sockets.push(s);
		return s;
	};

	it('a tab that reconnects within the window (same or other worker) ' +
	    'announces nothing', withLogs(async () => {
		const obs = await as(user(631));
		let dave = await as(user(632));
		await waitFor(obs, 'presence:update', (p) => p.userId === 632 &&
		    p.connectionCount === 1, 3000);
		for (const where of ['same', 'other']) {
			const m = await mark([obs], 1300, 4000);
			const pid = dave.who.pid;
			dave.close();
			dave = await as(user(632), where === 'same' ?
			    { on: pid } : { notOn: [pid] });
			await assertNone(m, PRES, 1800, (ev, p) =>
			    p?.userId === 632);
		}
	}));

	it('a real change: the final state once, after the window',
	    withLogs(async () => {
		const obs = await as(user(641));
		const m0 = (await mark([obs])).get(obs);
		const dave = await as(user(642));
		const t0 = Date.now();
		await waitFor(obs, 'presence_updated', (p) => p.userId === 642,
		    3000, m0);
		assert.ok(Date.now() - t0 >= 700, 'announced after the window');
		const m = (await mark([obs], 1300, 4000)).get(obs);
		// Offline, online, offline within the window: offline once.
		dave.close();
		const again = await as(user(642), { notOn: [dave.who.pid] });
		again.close();
		await waitFor(obs, 'presence_updated', (p) => p.userId === 642 &&
		    p.reason === 'disconnect', 4000, m);
		await sleep(1500);
		assert.deepEqual(about(obs, 642, m),
		    [['presence_updated', 'disconnect'], ['presence:update', 0]]);
	}));
});

describe('presence-coalesce across two hosts (scope all)', () => {
	const h = useTwoHosts();
	let a, b;
	before(() => ({ a, b } = h));

	it('a reconnect to the other host within the window announces ' +
	    'nothing; leaving for good announces offline once', async () => {
		const obs = await h.on(a, user(651));
		let dave = await h.on(b, user(652));
		await waitFor(obs, 'presence:update', (p) => p.userId === 652 &&
		    p.connectionCount === 1, 5000);
		let m = await mark([obs], 1300, 4000);
		dave.close();
		dave = await h.on(a, user(652));
		await assertNone(m, PRES, 2000, (ev, p) => p?.userId === 652);
		m = await mark([obs], 300, 2000);
		dave.close();
		await waitFor(obs, 'presence_updated', (p) => p.userId === 652 &&
		    p.reason === 'disconnect', 5000, m.get(obs));
		await sleep(1500);
		assert.deepEqual(about(obs, 652, m.get(obs)),
		    [['presence_updated', 'disconnect'], ['presence:update', 0]]);
	});

	it('a host stopped within the window still announces the offline ' +
	    'it held', async () => {
		const obs = await h.on(a, user(661));
		const dave = await h.on(b, user(662));
		await h.on(b, user(663));	// another tab the drain closes
		await waitFor(obs, 'presence:update', (p) => p.userId === 662 &&
		    p.connectionCount === 1, 5000);
		const m = await mark([obs], 1300, 4000);
		dave.close();
		await sleep(100);
		await h.restart('b');
		await waitFor(obs, 'presence_updated', (p) => p.userId === 662 &&
		    p.reason === 'disconnect', 5000, m.get(obs));
	});
});

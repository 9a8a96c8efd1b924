// Presence (doc/events.md "Presence") over 4 workers: per-user counts of
// tabs on different workers, offline only when the last tab goes,
// update_presence / presence:set_status stored and restored,
// presence:get_online_users, and the cleanup after a worker is SIGKILLed.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useDaemon, withLogs, sleep } from './lib/daemon.mjs';
import { until } from './lib/client.mjs';
import { mint } from './lib/token.mjs';
import { CHAT_CONF, openTab, auth, login, ok, refused, got, waitFor, mark,
    assertNone, onlineUsers, assertIso } from './lib/chat.mjs';

const OBSERVER = { userId: '900', displayName: 'Observer', role: 'user' };
const PRESENCE_KEYS = ['customStatus', 'reason', 'status', 'statusMessage',
    'timestamp', 'userDisplayName', 'userId'];

function user(n) {
	return { userId: String(n), displayName: `User ${n}`, role: 'user' };
}

describe('presence over 4 workers', () => {
	const sockets = [];

	const d = useDaemon({ workers: 4, extraConf: [...CHAT_CONF,
	    'rate-limit 10000 1'], sockets, closeEach: true });

	async function as(claims, tabOpts) {
		const s = await login(d, claims, tabOpts);
		sockets.push(s);
		return s;
	}

	async function tab(tabOpts) {
		const s = await openTab(d, tabOpts);
		sockets.push(s);
		return s;
	}

	const countOf = (s, uid, n, since = 0) => waitFor(s, 'presence:update',
	    (p) => p.userId === uid && p.connectionCount === n, 3000, since);

	it('multi-tab: counts 1,2,1,0; offline only when every tab is gone',
	    withLogs(async () => {
		const obs = await as(OBSERVER);
		const p1 = await tab({ notOn: [obs.who.pid], label: 'p1' });
		const p2 = await tab({ notOn: [obs.who.pid, p1.who.pid],
		    label: 'p2' });
		const m0 = obs.rec.length;
		await auth(p1, mint(user(501)));
		await countOf(obs, 501, 1, m0);
		const c = await waitFor(obs, 'presence_updated', (p) =>
		    p.userId === 501, 3000, m0);
		assert.deepEqual(Object.keys(c).sort(), PRESENCE_KEYS);
		assert.equal(c.status, 'online');
		assert.equal(c.reason, 'connect');
		assert.equal(c.userDisplayName, 'User 501');
		assertIso(c.timestamp, 'timestamp');
		const u1 = got(obs, 'presence:update', (p) => p.userId === 501,
		    m0)[0];
		assert.deepEqual(u1, { userId: 501, status: 'online',
		    connectionCount: 1 });

		await auth(p2, mint(user(501)));
		await countOf(obs, 501, 2, m0);
		const me = (await onlineUsers(obs)).find((o) => o.userId === 501);
		assert.deepEqual(me, { userId: 501, status: 'online',
		    connectionCount: 2 });

		p1.close();
		await until(() => got(obs, 'presence:update', (p) =>
		    p.userId === 501, m0).length === 3, 3000, 'third update');
		await sleep(200);
		assert.deepEqual(got(obs, 'presence_updated', (p) =>
		    p.userId === 501, m0).map((p) => p.reason), ['connect'],
		    'no offline while a tab remains');

		p2.close();
		const off = await waitFor(obs, 'presence_updated', (p) =>
		    p.userId === 501 && p.reason === 'disconnect', 3000, m0);
		assert.deepEqual(Object.keys(off).sort(), PRESENCE_KEYS);
		assert.equal(off.status, 'offline');
		assert.equal(off.userDisplayName, 'User 501');
		assertIso(off.timestamp, 'timestamp');
		const last = await countOf(obs, 501, 0, m0);
		assert.equal(last.status, 'offline');
		await sleep(200);
		assert.deepEqual(got(obs, 'presence:update', (p) =>
		    p.userId === 501, m0).map((p) => p.connectionCount),
		    [1, 2, 1, 0]);
		assert.deepEqual(got(obs, 'presence_updated', (p) =>
		    p.userId === 501, m0).map((p) => [p.reason, p.status]),
		    [['connect', 'online'], ['disconnect', 'offline']]);
		assert.equal((await onlineUsers(obs)).find((o) =>
		    o.userId === 501), undefined, 'no longer online');
	}));

	it('update_presence: broadcast to every authenticated socket, stored, ' +
	    'restored at the next connect', withLogs(async () => {
		const obs = await as(OBSERVER);
		const p1 = await as(user(502), { notOn: [obs.who.pid] });
		const p2 = await as(user(502), { notOn: [obs.who.pid,
		    p1.who.pid] });
		const anon = await tab({ label: 'anon' });
		await countOf(obs, 502, 2);
		const m = await mark([obs, p1, p2, anon]);
		const ack = await ok(p1, 'update_presence', { status: 'away',
		    statusMessage: 'brb', customStatus: 'Working on tickets' });
		assert.equal(ack.presence.status, 'away');
		assert.equal(ack.presence.statusMessage, 'brb');
		assert.equal(ack.presence.customStatus, 'Working on tickets');
		for (const s of [obs, p1, p2]) {
			const ev = await waitFor(s, 'presence_updated', (p) =>
			    p.userId === 502 && p.reason === 'status_change',
			    3000, m.get(s));
			assert.deepEqual(Object.keys(ev).sort(), PRESENCE_KEYS);
			assert.deepEqual({ ...ev, timestamp: 0 }, { userId: 502,
			    userDisplayName: 'User 502', status: 'away',
			    statusMessage: 'brb',
			    customStatus: 'Working on tickets', timestamp: 0,
			    reason: 'status_change' });
			assertIso(ev.timestamp, 'timestamp');
		}
		const pu = await waitFor(obs, 'presence:update', (p) =>
		    p.userId === 502 && p.status === 'away', 3000, m.get(obs));
		assert.deepEqual(pu, { userId: 502, status: 'away',
		    connectionCount: 2 });
		await assertNone(new Map([[anon, m.get(anon)]]),
		    ['presence_updated', 'presence:update'], 200);
		assert.deepEqual((await onlineUsers(obs)).find((o) =>
		    o.userId === 502), { userId: 502, status: 'away',
		    connectionCount: 2 });

		// Nulls and the 200-character bounds.
		const n = await ok(p2, 'update_presence', { status: 'busy',
		    statusMessage: null, customStatus: null });
		assert.equal(n.presence.status, 'busy');
		assert.strictEqual(n.presence.statusMessage, null);
		await ok(p2, 'update_presence', { status: 'online',
		    statusMessage: 's'.repeat(200), customStatus: 'c'.repeat(200) });
		await ok(p2, 'update_presence', { status: 'away',
		    statusMessage: 'brb', customStatus: 'Working on tickets' });

		// Every tab gone, then a new one: the stored status returns.
		p1.close();
		p2.close();
		const m2 = obs.rec.length;
		await waitFor(obs, 'presence_updated', (p) => p.userId === 502 &&
		    p.reason === 'disconnect', 3000, m.get(obs));
		const p3 = await as(user(502));
		const back = await waitFor(obs, 'presence_updated', (p) =>
		    p.userId === 502 && p.reason === 'connect', 3000, m2);
		assert.equal(back.status, 'away');
		assert.equal(back.statusMessage, 'brb');
		assert.equal(back.customStatus, 'Working on tickets');
		const cu = await countOf(obs, 502, 1, m2);
		assert.equal(cu.status, 'away');
		assert.deepEqual((await onlineUsers(p3)).find((o) =>
		    o.userId === 502), { userId: 502, status: 'away',
		    connectionCount: 1 });
	}));

	it('update_presence: bad input -> presence:error, nothing broadcast',
	    withLogs(async () => {
		const obs = await as(OBSERVER);
		const p = await as(user(503), { notOn: [obs.who.pid] });
		await countOf(obs, 503, 1);
		const m = await mark([obs, p]);
		const bad = [
			{ status: 'sleeping' }, { status: 'ONLINE' }, { status: '' },
			{ status: 42 }, { status: null }, {},
			{ status: 'away', statusMessage: 's'.repeat(201) },
			{ status: 'away', customStatus: 'c'.repeat(201) },
			{ status: 'away', statusMessage: 42 },
			{ status: 'away', customStatus: ['x'] },
			'away', 42, null, [],
		];
		for (const b of bad) {
			await refused(p, 'update_presence', [b],
			    'invalid_payload');
		}
		await assertNone(m, ['presence_updated', 'presence:update'], 300,
		    (ev, x) => x?.userId === 503);
		assert.equal((await onlineUsers(obs)).find((o) =>
		    o.userId === 503)?.status, 'online');
	}));

	it('presence:set_status (legacy): stored, presence:update',
	    withLogs(async () => {
		const obs = await as(OBSERVER);
		const p = await as(user(504), { notOn: [obs.who.pid] });
		await countOf(obs, 504, 1);
		const m = obs.rec.length;
		const ack = await ok(p, 'presence:set_status', 'busy');
		assert.deepEqual(ack, { ok: true });
		const u = await waitFor(obs, 'presence:update', (x) =>
		    x.userId === 504 && x.status === 'busy', 3000, m);
		assert.deepEqual(u, { userId: 504, status: 'busy',
		    connectionCount: 1 });
		assert.equal((await onlineUsers(obs)).find((o) =>
		    o.userId === 504)?.status, 'busy');
		const mb = await mark([obs]);
		for (const b of ['nope', 'BUSY', '', 42, null, { status: 'away' },
		    ['away']]) {
			await refused(p, 'presence:set_status', [b],
			    'invalid_payload');
		}
		await assertNone(mb, ['presence:update', 'presence_updated'], 300,
		    (ev, x) => x?.userId === 504);
		// Stored: a new connection starts busy.
		p.close();
		await countOf(obs, 504, 0, m);
		const m2 = obs.rec.length;
		await as(user(504));
		const back = await waitFor(obs, 'presence_updated', (x) =>
		    x.userId === 504 && x.reason === 'connect', 3000, m2);
		assert.equal(back.status, 'busy');
	}));

	it('presence:get_online_users: every user on every worker, with counts',
	    withLogs(async () => {
		const tabs = [];
		const u1a = await as(user(505));
		tabs.push(u1a);
		const u1b = await as(user(505), { notOn: [u1a.who.pid] });
		const u2 = await as(user(506), { notOn: [u1a.who.pid,
		    u1b.who.pid] });
		const obs = await as(OBSERVER, { notOn: [u1a.who.pid,
		    u1b.who.pid, u2.who.pid] });
		const pids = new Set([u1a, u1b, u2, obs].map((s) => s.who.pid));
		assert.equal(pids.size, 4, 'one socket on each worker');
		for (const s of [obs, u2]) {
			const list = await onlineUsers(s);
			for (const o of list) {
				assert.deepEqual(Object.keys(o).sort(),
				    ['connectionCount', 'status', 'userId']);
			}
			const byId = (id) => list.filter((o) => o.userId === id);
			assert.deepEqual(byId(505), [{ userId: 505,
			    status: 'online', connectionCount: 2 }]);
			assert.deepEqual(byId(506), [{ userId: 506,
			    status: 'online', connectionCount: 1 }]);
			assert.equal(byId(900).length, 1);
		}
		// Before authentication: refused.
		const anon = await tab();
		await refused(anon, 'presence:get_online_users', [],
		    'not_authenticated');
	}));

	it('SIGKILL of a worker: its users go offline, others stay',
	    withLogs(async () => {
		// A's tab decides the victim; the observer authenticates
		// before A so that it sees all of A's updates.
		const a = await tab({ label: 'A' });
		const victim = a.who.pid;
		const obs = await as(OBSERVER, { notOn: [victim] });
		await auth(a, mint(user(510)));
		const c1 = await as(user(511), { on: victim, label: 'C1' });
		const c2 = await as(user(511), { notOn: [victim], label: 'C2' });
		await countOf(obs, 510, 1);
		await countOf(obs, 511, 2);
		const m = obs.rec.length;
		const mark0 = d.logMark();
		process.kill(victim, 'SIGKILL');
		const off = await waitFor(obs, 'presence_updated', (p) =>
		    p.userId === 510, 5000, m);
		assert.equal(off.status, 'offline');
		assert.equal(off.reason, 'disconnect');
		const z = await countOf(obs, 510, 0, m);
		assert.equal(z.status, 'offline');
		await until(async () => {
			const l = await onlineUsers(obs);
			return !l.some((o) => o.userId === 510) &&
			    l.find((o) => o.userId === 511)?.connectionCount === 1;
		}, 5000, 'online users after the kill');
		assert.deepEqual(got(obs, 'presence_updated', (p) =>
		    p.userId === 511, m), [], 'user 511 still has a tab');
		assert.equal(c2.connected, true);
		await ok(c2, 'channel:list');
		assert.equal(c1.connected, false);
		await d.waitForLog(/worker.*(exited|killed|respawn)/i, 5000,
		    mark0);
	}));
});

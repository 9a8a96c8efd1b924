// Three confabd instances ("hosts") sharing one redis-server and one
// PostgreSQL database: messages and history, presence with one user's tabs on two
// hosts (users and channels), calls, broadcasts, typing, receipts and
// channel updates across hosts; a Redis outage (delivery inside each host
// goes on, nobody is disconnected, cross-host delivery and presence resume
// after the restart, and who came or went meanwhile is announced); kill -9
// of one worker, a graceful stop of a host, kill -9 of a whole host (its
// users go offline on the others, announced once).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, startRedis, sleep, withLogs } from './lib/daemon.mjs';
import { startPostgres } from './lib/postgres.mjs';
import { createClient } from 'redis';
import { Emitter } from '@socket.io/redis-emitter';
import { closeAll, until } from './lib/client.mjs';
import { CHAT_CONF, login, ok, waitFor, mark, assertNone, onlineUsers,
    createChannel, send, history, got } from './lib/chat.mjs';

const HOST_TIMEOUT = '2s';
const OFFER = { type: 'offer', sdp: 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n' };
const ANSWER = { type: 'answer', sdp: 'v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\n' };

// The hosts share one PostgreSQL database, as a deployment does.
async function sharedStorage() {
	const pg = await startPostgres();
	return {
		conf: [`database ${pg.url}`],
		stop: () => pg.stop(),
	};
}

let nextUser = 7000;
function user(role = 'user') {
	const n = ++nextUser;
	return { userId: String(n), displayName: `User ${n}`, role, id: n };
}

// The value of a metric sample of /metrics for every worker of d.
async function metric(d, name) {
	const res = await fetch(`${d.url}/metrics`);
	assert.equal(res.status, 200);
	const text = await res.text();
	const re = new RegExp(`^${name}\\{worker="\\d+"\\} (\\d+)$`, 'gm');
	return [...text.matchAll(re)].map((m) => Number(m[1]));
}

describe('cluster of three hosts over Redis', () => {
	let redis, storage, a, b, c;
	const sockets = [];

	before(async () => {
		redis = await startRedis();
		storage = await sharedStorage();
		const conf = (host) => [...CHAT_CONF, ...storage.conf,
		    'rate-limit 10000 1', `presence-host-timeout ${HOST_TIMEOUT}`,
		    ...(host ? [`host-id ${host}`] : [])];
		// Started one after the other: the first runs the migrations.
		a = await startDaemon({ workers: 2, redisUrl: redis.url,
		    extraConf: conf('host-a') });
		b = await startDaemon({ workers: 2, redisUrl: redis.url,
		    extraConf: conf('host-b') });
		// c draws a random host id.
		c = await startDaemon({ workers: 1, redisUrl: redis.url,
		    extraConf: conf(null) });
	});
	after(async () => {
		closeAll(sockets);
		for (const d of [a, b, c])
			if (d)
				await d.stop();
		if (redis)
			await redis.stop();
		if (storage)
			await storage.stop();
	});

	async function as(d, claims, opts = {}) {
		const s = await login(d, claims, opts);
		s.disconnects = 0;
		s.on('disconnect', () => s.disconnects++);
		sockets.push(s);
		return s;
	}

	const presence = (s, uid, reason, since = 0, timeoutMs = 5000) =>
	    waitFor(s, 'presence_updated', (p) => p.userId === uid &&
	    p.reason === reason, timeoutMs, since);
	const count = (s, uid, n, since = 0) => waitFor(s, 'presence:update',
	    (p) => p.userId === uid && p.connectionCount === n, 5000, since);
	const newMessage = (s, id, since = 0) => waitFor(s, 'chat:new_message',
	    (m) => m.id === id, 5000, since);

	it('messages and history across hosts', withLogs(async () => {
		const admin = user('admin');
		const u = user();
		const v = user();
		const sa = await as(a, admin);
		const ch = await createChannel(sa, { name: `cluster-${admin.id}` });
		const sb = await as(b, u);
		const m0 = sa.rec.length;
		await ok(sb, 'join_channel', ch.id);
		const joined = await waitFor(sa, 'user_joined', (p) =>
		    p.userId === u.id, 5000, m0);
		assert.equal(joined.channelId, ch.id);
		assert.equal(joined.userRole, 'user');

		const m1 = sb.rec.length;
		const fromA = await send(sa, ch.id, 'hello from a');
		assert.equal((await newMessage(sb, fromA.id, m1)).message,
		    'hello from a');
		const m2 = sa.rec.length;
		const fromB = await send(sb, ch.id, 'hello from b');
		assert.equal((await newMessage(sa, fromB.id, m2)).message,
		    'hello from b');

		// A third host sees the same history.
		const sc = await as(c, v);
		await ok(sc, 'join_channel', ch.id);
		const h = await history(sc, ch.id);
		assert.deepEqual(h.map((m) => [m.id, m.message]).slice(-2),
		    [[fromA.id, 'hello from a'], [fromB.id, 'hello from b']]);
		const m3 = await mark([sa, sb]);
		const fromC = await send(sc, ch.id, 'hello from c');
		await newMessage(sa, fromC.id, m3.get(sa));
		await newMessage(sb, fromC.id, m3.get(sb));
	}));

	it('a backend\'s @socket.io/redis-emitter reaches every host: ' +
	    'channel and user rooms, socketsJoin', withLogs(async () => {
		const admin = user('admin');
		const u = user();
		const v = user();
		const sa = await as(a, admin);
		const ch = await createChannel(sa, { name: `emit-${admin.id}` });
		const ua = await as(a, u);
		const ub = await as(b, u);
		const vc = await as(c, v);
		for (const s of [ua, ub, vc])
			await ok(s, 'join_channel', ch.id);
		const rc = createClient({ url: redis.url });
		await rc.connect();
		try {
			const emitter = new Emitter(rc);
			let m = await mark([sa, ua, ub, vc]);
			emitter.to(`channel:${ch.id}`).emit('ticket_updated',
			    { id: 7 });
			for (const s of [sa, ua, ub, vc])
				assert.deepEqual(await waitFor(s, 'ticket_updated',
				    null, 5000, m.get(s)), { id: 7 });

			m = await mark([sa, ua, ub, vc]);
			emitter.to(`user:${u.id}`).emit('notification',
			    { text: 'hi' });
			for (const s of [ua, ub])
				assert.deepEqual(await waitFor(s, 'notification',
				    null, 5000, m.get(s)), { text: 'hi' });
			await assertNone(new Map([[sa, m.get(sa)],
			    [vc, m.get(vc)]]), ['notification']);

			// The user's tabs on hosts a and b join a room of the
			// backend's; v (host c) does not.
			emitter.in(`user:${u.id}`).socketsJoin(`ticket:${u.id}`);
			await sleep(300);
			m = await mark([ua, ub, vc]);
			emitter.to(`ticket:${u.id}`).emit('ticket_note', 'n1');
			for (const s of [ua, ub])
				assert.equal(await waitFor(s, 'ticket_note', null,
				    5000, m.get(s)), 'n1');
			await assertNone(new Map([[vc, m.get(vc)]]),
			    ['ticket_note']);
		} finally {
			await rc.quit().catch(() => {});
		}
	}));

	it('presence: one user\'s tabs on two hosts count as one user, ' +
	    'online and offline announced once', withLogs(async () => {
		const obs = await as(c, user());
		const u = user();
		const m0 = await mark([obs]);
		const ta = await as(a, u);
		await presence(obs, u.id, 'connect', m0.get(obs));
		await count(obs, u.id, 1, m0.get(obs));
		const tb = await as(b, u);
		await count(obs, u.id, 2, m0.get(obs));
		// Every host lists the user with both connections.
		for (const s of [obs, ta, tb]) {
			await until(async () => (await onlineUsers(s)).some((x) =>
			    x.userId === u.id && x.connectionCount === 2), 5000,
			    'online on every host with 2 connections');
		}
		const m1 = await mark([obs]);
		assert.equal(got(obs, 'presence_updated', (p) =>
		    p.userId === u.id, m0.get(obs)).length, 1,
		    'one "connect" for two tabs on two hosts');

		ta.close();
		await count(obs, u.id, 1, m1.get(obs));
		await assertNone(new Map([[obs, m1.get(obs)]]),
		    ['presence_updated'], 300, (ev, p) => p.userId === u.id);
		assert.ok((await onlineUsers(obs)).some((x) =>
		    x.userId === u.id && x.connectionCount === 1));

		const m2 = obs.rec.length;
		tb.close();
		const off = await presence(obs, u.id, 'disconnect', m2);
		assert.equal(off.status, 'offline');
		await count(obs, u.id, 0, m2);
		await mark([obs]);
		assert.equal(got(obs, 'presence_updated', (p) =>
		    p.userId === u.id, m2).length, 1, 'one "disconnect"');
		await until(async () => !(await onlineUsers(obs)).some((x) =>
		    x.userId === u.id), 5000, 'gone from the online list');
	}));

	it('channel presence: joined and left once for tabs on two hosts',
	    withLogs(async () => {
		const admin = user('admin');
		const obs = await as(c, admin);
		const ch = await createChannel(obs, { name: `tabs-${admin.id}` });
		const u = user();
		const ta = await as(a, u);
		const tb = await as(b, u);
		const m0 = await mark([obs]);
		await ok(ta, 'join_channel', ch.id);
		await ok(tb, 'join_channel', ch.id);
		await waitFor(obs, 'user_joined', (p) => p.userId === u.id, 5000,
		    m0.get(obs));
		const m1 = await mark([obs]);
		assert.equal(got(obs, 'user_joined', (p) => p.userId === u.id,
		    m0.get(obs)).length, 1, 'one user_joined for two hosts');

		await ok(ta, 'leave_channel', ch.id);
		await assertNone(new Map([[obs, m1.get(obs)]]), ['user_left'], 300,
		    (ev, p) => p.userId === u.id);
		tb.close();
		const left = await waitFor(obs, 'user_left', (p) =>
		    p.userId === u.id, 5000, m1.get(obs));
		assert.equal(left.reason, 'disconnect');
		assert.equal(left.channelId, ch.id);
		await mark([obs]);
		assert.equal(got(obs, 'user_left', (p) => p.userId === u.id,
		    m1.get(obs)).length, 1, 'one user_left');
		ta.close();
	}));

	it('calls ring the callee\'s tabs on every host', withLogs(async () => {
		const caller = user();
		const callee = user();
		const ca = await as(a, caller);
		const tb = await as(b, callee);
		const tc = await as(c, callee);
		// The caller's host knows the callee is online.
		await until(async () => (await onlineUsers(ca)).some((x) =>
		    x.userId === callee.id && x.connectionCount === 2), 5000,
		    'callee online with 2 tabs');
		const m = await mark([ca, tb, tc]);
		const ack = await ok(ca, 'call:invite', { targetUserId: callee.id,
		    callType: 'audio', offer: OFFER });
		for (const t of [tb, tc]) {
			assert.deepEqual(await waitFor(t, 'call:incoming', (x) =>
			    x.callId === ack.callId, 5000, m.get(t)),
			    { callId: ack.callId, from: caller.id,
			    fromName: caller.displayName, callType: 'audio',
			    offer: OFFER });
		}
		await ok(tc, 'call:accept', { callId: ack.callId, answer: ANSWER });
		assert.deepEqual(await waitFor(ca, 'call:accepted', null, 5000,
		    m.get(ca)), { callId: ack.callId, answer: ANSWER });
		assert.deepEqual(await waitFor(tb, 'call:ended', null, 5000,
		    m.get(tb)), { callId: ack.callId,
		    reason: 'answered_elsewhere' });
		await ok(ca, 'call:end', { callId: ack.callId });
		await waitFor(tc, 'call:ended', (x) => x.callId === ack.callId,
		    5000, m.get(tc));
	}));

	it('broadcasts, typing, receipts and channel updates reach every host',
	    withLogs(async () => {
		const admin = user('admin');
		const sa = await as(a, admin);
		const ch = await createChannel(sa, { name: `all-${admin.id}` });
		const ub = user();
		const uc = user();
		const sb = await as(b, ub);
		const sc = await as(c, uc);
		await ok(sb, 'join_channel', ch.id);
		await ok(sc, 'join_channel', ch.id);
		const m = await mark([sa, sb, sc]);

		await ok(sa, 'chat:typing', { channelId: ch.id, isTyping: true });
		for (const s of [sb, sc]) {
			const t = await waitFor(s, 'chat:user_typing', (p) =>
			    p.userId === admin.id && p.isTyping === true, 5000,
			    m.get(s));
			assert.equal(t.channelId, ch.id);
		}

		const msg = await send(sa, ch.id, 'read me');
		await newMessage(sb, msg.id, m.get(sb));
		await ok(sb, 'message_read', { channelId: ch.id,
		    messageId: msg.id });
		for (const s of [sa, sc]) {
			const r = await waitFor(s, 'message_read_receipt', (p) =>
			    p.userId === ub.id, 5000, m.get(s));
			assert.equal(r.messageId, msg.id);
		}

		await ok(sa, 'channel_updated', { channelId: ch.id,
		    changes: { description: 'now clustered' } });
		for (const s of [sb, sc]) {
			const u = await waitFor(s, 'channel_updated', (p) =>
			    p.channelId === ch.id, 5000, m.get(s));
			assert.deepEqual(u.changes, { description: 'now clustered' });
		}

		const bc = await ok(sa, 'system_broadcast', { message: 'all hosts',
		    priority: 'high' });
		for (const s of [sa, sb, sc]) {
			const r = await waitFor(s, 'system_broadcast_received',
			    (p) => p.broadcastId === bc.broadcastId, 5000, m.get(s));
			assert.equal(r.message, 'all hosts');
		}
	}));

	it('Redis stopped: each host still delivers, nobody is disconnected; ' +
	    'restarted: cross-host delivery and presence resume',
	    withLogs(async () => {
		const admin = user('admin');
		const a1 = await as(a, admin);
		const ch = await createChannel(a1, { name: `outage-${admin.id}` });
		// A second tab of a on the other worker, one on b.
		const ua = user();
		const a2 = await as(a, ua, { notOn: [a1.who.pid] });
		const ub = user();
		const b1 = await as(b, ub);
		await ok(a2, 'join_channel', ch.id);
		await ok(b1, 'join_channel', ch.id);
		const all = [a1, a2, b1];
		const before = sockets.map((s) => s.disconnects);
		for (const d of [a, b]) {
			await until(async () => (await metric(d,
			    'confabd_relay_redis_up')).every((v) => v === 1),
			    5000, 'redis up');
		}
		const errors0 = (await metric(a, 'confabd_relay_redis_errors_total'))
		    .reduce((x, y) => x + y, 0);

		const l0 = a.logMark();
		await redis.stopOnly();
		for (const d of [a, b]) {
			await until(async () => (await metric(d,
			    'confabd_relay_redis_up')).every((v) => v === 0),
			    10000, 'redis down seen by every worker');
		}
		await a.waitForLog(/redis relay down/, 5000, l0);
		const errors1 = (await metric(a, 'confabd_relay_redis_errors_total'))
		    .reduce((x, y) => x + y, 0);
		assert.ok(errors1 > errors0, 'the outage is counted');

		// Inside host a, across its two workers: delivered.
		const m = await mark(all);
		const during = await send(a1, ch.id, 'during the outage');
		await newMessage(a2, during.id, m.get(a2));
		await ok(a2, 'chat:typing', { channelId: ch.id, isTyping: true });
		await waitFor(a1, 'chat:user_typing', (p) => p.userId === ua.id,
		    5000, m.get(a1));

		await redis.start();
		for (const d of [a, b]) {
			await until(async () => (await metric(d,
			    'confabd_relay_redis_up')).every((v) => v === 1),
			    15000, 'redis up again');
		}
		await a.waitForLog(/redis relay up/, 5000, l0);
		// Across hosts again, both ways.
		const m2 = await mark(all);
		const after = await send(a1, ch.id, 'after the outage');
		await newMessage(b1, after.id, m2.get(b1));
		const back = await send(b1, ch.id, 'back from b');
		await newMessage(a1, back.id, m2.get(a1));
		await newMessage(a2, back.id, m2.get(a2));
		// Presence is rebuilt from the hosts: b lists a's users.
		await until(async () => {
			const l = await onlineUsers(b1);
			return [admin.id, ua.id, ub.id].every((id) =>
			    l.some((x) => x.userId === id));
		}, 10000, 'presence rebuilt after the restart');
		assert.deepEqual(sockets.map((s) => s.disconnects), before,
		    'no client was disconnected');
		assert.ok(all.every((s) => s.connected));
	}));

	it('Redis restarted empty: who came and went during the outage is ' +
	    'announced on the other hosts', withLogs(async () => {
		const obs = await as(a, user());
		const gone = user();		// on b only; leaves during the outage
		const g = await as(b, gone);
		await until(async () => (await onlineUsers(obs)).some((x) =>
		    x.userId === gone.id), 5000, 'online on a');
		const m = await mark([obs]);

		await redis.stopOnly();
		for (const d of [a, b]) {
			await until(async () => (await metric(d,
			    'confabd_relay_redis_up')).every((v) => v === 0),
			    10000, 'redis down');
		}
		g.close();
		sockets.splice(sockets.indexOf(g), 1);
		const came = user();		// comes during the outage on b
		await as(b, came);
		await redis.start();

		const off = await presence(obs, gone.id, 'disconnect', m.get(obs),
		    20000);
		assert.equal(off.status, 'offline');
		await presence(obs, came.id, 'connect', m.get(obs), 20000);
		await until(async () => {
			const l = await onlineUsers(obs);
			return l.some((x) => x.userId === came.id) &&
			    !l.some((x) => x.userId === gone.id);
		}, 10000, 'online list after the outage');
		await mark([obs], 500);
		assert.equal(got(obs, 'presence_updated', (p) =>
		    p.userId === gone.id, m.get(obs)).length, 1,
		    'one offline for the user who left');
	}));

	it('kill -9 of one worker: its users go offline on every host ' +
	    'within presence-host-timeout', withLogs(async () => {
		const obs = await as(b, user());
		const u = user();
		const ta = await as(a, u);
		await until(async () => (await onlineUsers(obs)).some((x) =>
		    x.userId === u.id), 5000, 'online on b');
		const m = await mark([obs]);
		const l0 = a.logMark();
		process.kill(ta.who.pid, 'SIGKILL');
		sockets.splice(sockets.indexOf(ta), 1);
		const off = await presence(obs, u.id, 'disconnect', m.get(obs),
		    20000);
		assert.equal(off.status, 'offline');
		await a.waitForLog(/worker=\d+ event=ready/, 10000, l0);
		await mark([obs], 500);
		assert.equal(got(obs, 'presence_updated', (p) =>
		    p.userId === u.id, m.get(obs)).length, 1);
		assert.ok(!(await onlineUsers(obs)).some((x) =>
		    x.userId === u.id));
	}));

	it('a host stopped gracefully: its users go offline on the others',
	    withLogs(async () => {
		// Its own host, so that stopping it leaves the others alone.
		const d = await startDaemon({ workers: 2, redisUrl: redis.url,
		    extraConf: [...CHAT_CONF, ...storage.conf,
		    `presence-host-timeout ${HOST_TIMEOUT}`] });
		try {
			const obs = await as(a, user());
			const u = user();
			const t = await login(d, u);
			await until(async () => (await onlineUsers(obs)).some((x) =>
			    x.userId === u.id), 5000, 'online on a');
			const m = await mark([obs]);
			await d.stop();
			const off = await presence(obs, u.id, 'disconnect',
			    m.get(obs), 5000);
			assert.equal(off.status, 'offline');
			await mark([obs], 300);
			assert.equal(got(obs, 'presence_updated', (p) =>
			    p.userId === u.id, m.get(obs)).length, 1);
			t.close();
		} finally {
			await d.stop();
		}
	}));

	it('kill -9 of a host: its users go offline on the others, once',
	    withLogs(async () => {
		const admin = user('admin');
		const obsA = await as(a, admin);
		const ch = await createChannel(obsA, { name: `kill-${admin.id}` });
		const ub = user();
		const obsB = await as(b, ub);
		await ok(obsB, 'join_channel', ch.id);
		const only = user();		// tabs on c only
		const both = user();		// a tab on c and one on a
		const oc = await as(c, only);
		await ok(oc, 'join_channel', ch.id);
		const bc = await as(c, both);
		const ba = await as(a, both);
		await until(async () => {
			const l = await onlineUsers(obsB);
			return l.some((x) => x.userId === only.id) &&
			    l.some((x) => x.userId === both.id &&
			    x.connectionCount === 2);
		}, 5000, 'every user online');
		const m = await mark([obsA, obsB, ba]);

		// The whole host: workers first (the master would respawn
		// them later), then the master.
		const pids = [...c.workerPids(), c.pid];
		for (const pid of pids)
			process.kill(pid, 'SIGKILL');
		await until(() => pids.every((pid) => {
			try {
				process.kill(pid, 0);
				return false;
			} catch {
				return true;
			}
		}), 5000, 'host c gone');
		for (const s of [oc, bc])
			sockets.splice(sockets.indexOf(s), 1);

		for (const s of [obsA, obsB]) {
			const off = await presence(s, only.id, 'disconnect',
			    m.get(s), 20000);
			assert.equal(off.status, 'offline');
			await count(s, only.id, 0, m.get(s));
			await count(s, both.id, 1, m.get(s));
			const left = await waitFor(s, 'user_left', (p) =>
			    p.userId === only.id, 5000, m.get(s));
			assert.equal(left.channelId, ch.id);
			assert.equal(left.reason, 'disconnect');
		}
		// Announced once, and the user with a tab left stays online.
		await mark([obsA, obsB], 500);
		for (const s of [obsA, obsB]) {
			assert.equal(got(s, 'presence_updated', (p) =>
			    p.userId === only.id, m.get(s)).length, 1);
			assert.equal(got(s, 'user_left', (p) =>
			    p.userId === only.id, m.get(s)).length, 1);
			assert.deepEqual(got(s, 'presence_updated', (p) =>
			    p.userId === both.id, m.get(s)), []);
		}
		const l = await onlineUsers(obsA);
		assert.ok(!l.some((x) => x.userId === only.id));
		assert.ok(l.some((x) => x.userId === both.id &&
		    x.connectionCount === 1));
		assert.ok(ba.connected);
	}));
});

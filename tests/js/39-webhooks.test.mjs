// Webhooks (README "Webhooks"): a real HTTP receiver checks the signature
// and headers of every delivery; message.created (with offlineMemberIds),
// channel.created, user.online / user.offline and call.missed arrive, in
// order per endpoint and, on two workers, each once; 500s and a receiver
// that never answers are retried with the same delivery id while chat
// goes on; a daemon killed -9 mid-delivery and started again on the same
// data-dir delivers everything.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import http from 'node:http';
import { startDaemon, startRedis, withLogs } from './lib/daemon.mjs';
import { startPostgres } from './lib/postgres.mjs';
import { ask, closeAll, until } from './lib/client.mjs';
import { apiCall } from './lib/api.mjs';
import { CHAT_CONF, login, ok, waitFor, createChannel, send, disconnected,
    onlineUsers, short, assertIso } from './lib/chat.mjs';

const SECRET = 'webhook-test-secret-0123456789abcdef';
const API_KEY = 'webhook-test-api-key-0123456789abcdef';

/*
 * A receiver: every request is recorded per path with its headers, raw
 * body and whether its signature verified; answer(path, n) decides the
 * status of the n-th request of a path (0-based), or 'hang' to never
 * answer it.
 */
function receiver() {
	const r = {
		got: new Map(),		// path -> [{headers, raw, body, sigOk}]
		answer: () => 200,
		hung: [],
		server: null,
		url: (p) => `http://127.0.0.1:${r.server.address().port}${p}`,
		list: (p) => r.got.get(p) ?? [],
		// The deliveries answered 2xx, in arrival order.
		delivered: (p) => r.list(p).filter((x) => x.status >= 200 &&
		    x.status < 300),
	};
	r.server = http.createServer((req, res) => {
		const chunks = [];
		req.on('data', (c) => chunks.push(c));
		req.on('end', () => {
			const raw = Buffer.concat(chunks).toString('utf8');
			const list = r.got.get(req.url) ?? [];
			r.got.set(req.url, list);
			const ts = req.headers['x-confab-timestamp'];
			const sig = req.headers['x-confab-signature'] ?? '';
			const want = 'v1=' + crypto.createHmac('sha256', SECRET)
			    .update(`${ts}.${raw}`).digest('hex');
			const sigOk = sig.length === want.length &&
			    crypto.timingSafeEqual(Buffer.from(sig),
			    Buffer.from(want));
			let body = null;
			try {
				body = JSON.parse(raw);
			} catch {
				// recorded as null: the test fails on it
			}
			const entry = { headers: req.headers, method: req.method,
			    raw, body, sigOk, status: 0 };
			const a = r.answer(req.url, list.length, entry);
			list.push(entry);
			if (a === 'hang') {
				r.hung.push(res);
				return;
			}
			entry.status = a;
			res.writeHead(a, { 'content-type': 'text/plain' });
			res.end('x'.repeat(a === 200 ? 10 : 100));
		});
	});
	return new Promise((resolve) => r.server.listen(0, '127.0.0.1',
	    () => resolve(r)));
}

function stopReceiver(r) {
	for (const res of r.hung)
		res.destroy();
	r.server.closeAllConnections?.();
	return new Promise((resolve) => r.server.close(() => resolve()));
}

// Every recorded delivery is well formed and correctly signed.
function checkDelivery(x) {
	const ctx = short(x.raw, 300);
	assert.equal(x.method, 'POST', ctx);
	assert.equal(x.headers['content-type'], 'application/json', ctx);
	assert.ok(x.sigOk, `bad signature: ${ctx}`);
	assert.ok(x.body && typeof x.body === 'object', ctx);
	assert.deepEqual(Object.keys(x.body).sort(),
	    ['createdAt', 'data', 'event', 'id'], ctx);
	assert.equal(String(x.body.id), x.headers['x-confab-delivery'], ctx);
	assert.equal(x.body.event, x.headers['x-confab-event'], ctx);
	assertIso(x.body.createdAt, 'createdAt');
	const ts = Number(x.headers['x-confab-timestamp']);
	assert.ok(Math.abs(ts - Date.now() / 1000) < 120, ctx);
}

// The first delivered body of path with event, matching pred.
function find(r, path, event, pred = () => true) {
	return r.delivered(path).map((x) => x.body).find((b) =>
	    b.event === event && pred(b.data));
}

async function metric(d, name) {
	const text = await (await fetch(`${d.url}/metrics`)).text();
	const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm');
	let sum = 0, seen = false;
	for (const x of text.matchAll(m)) {
		sum += Number(x[1]);
		seen = true;
	}
	assert.ok(seen, `${name} in /metrics`);
	return sum;
}

describe('webhooks', () => {
	let rec, d;
	const sockets = [];
	const flakyFails = 2;
	let hangNext = false;

	before(async () => {
		rec = await receiver();
		rec.answer = (path, n, x) => {
			// /flaky: every delivery fails flakyFails times first.
			if (path === '/flaky')
				return rec.list(path).filter((y) =>
				    y.headers['x-confab-delivery'] ===
				    x.headers['x-confab-delivery']).length <
				    flakyFails ? 500 : 200;
			if (path === '/hang')
				return hangNext && !(hangNext = false) ? 'hang' : 200;
			return 200;
		};
		d = await startDaemon({ workers: 2, extraConf: [...CHAT_CONF,
		    'rate-limit 100000 1',
		    `webhook-secret ${SECRET}`,
		    `webhook ${rec.url('/main')}`,
		    `webhook ${rec.url('/flaky')} message.created`,
		    `webhook ${rec.url('/hang')} channel.created`,
		    `webhook ${rec.url('/members')} member.added member.removed ` +
		    'channel.archived',
		    `api-key backend ${API_KEY}`,
		    'webhook-timeout 1s', 'webhook-retry-for 1h'] });
	});
	after(async () => {
		closeAll(sockets);
		await d?.stop();
		await stopReceiver(rec);
	});

	it('message.created, channel.created, user.online/offline, ' +
	    'call.missed: signed, in order, each once on two workers',
	withLogs(async () => {
		const A = { userId: '5001', displayName: 'Alice', role: 'admin' };
		const B = { userId: '5002', displayName: 'Bob', role: 'user' };
		// B connects once (a known user), then goes offline.
		const b = await login(d, B);
		b.close();
		await disconnected(b);
		const a = await login(d, A);
		sockets.push(a);
		await until(async () => !(await onlineUsers(a)).some((u) =>
		    String(u.userId) === '5002'), 5000, 'B offline');
		const ch = await createChannel(a, { memberIds: ['5002'] });
		const m = await send(a, ch.id, 'hello webhooks');
		const inv = await ask(a, 'call:invite', { targetUserId: 5002,
		    callType: 'audio', offer: { type: 'offer', sdp: 'v=0\r\n' } });
		assert.equal(inv?.ok, false, short(inv));

		await until(() => find(rec, '/main', 'call.missed') &&
		    find(rec, '/main', 'message.created'), 10000,
		    'message.created and call.missed on /main', 50);
		const mc = find(rec, '/main', 'message.created',
		    (x) => x.message?.id === m.id);
		assert.ok(mc, 'message.created of the message');
		assert.equal(mc.data.message.message, 'hello webhooks');
		assert.equal(mc.data.message.userId, 5001);
		assert.equal(mc.data.channel.id, ch.id);
		assert.deepEqual(mc.data.offlineMemberIds, [5002],
		    'A is online, B is not');
		const cc = find(rec, '/main', 'channel.created',
		    (x) => x.channel?.id === ch.id);
		assert.ok(cc, 'channel.created');
		assert.equal(cc.data.channel.name, ch.name);
		const cm = find(rec, '/main', 'call.missed');
		assert.equal(cm.data.call.callerId, 5001);
		assert.equal(cm.data.call.calleeId, 5002);
		assert.equal(cm.data.call.callType, 'audio');
		for (const [uid, ev] of [['5002', 'user.online'],
		    ['5002', 'user.offline'], ['5001', 'user.online']]) {
			assert.ok(find(rec, '/main', ev, (x) =>
			    String(x.userId) === uid), `${ev} ${uid}`);
		}
		// B's online came before B's offline; and all in id order.
		const main = rec.delivered('/main');
		main.forEach(checkDelivery);
		const ids = main.map((x) => x.body.id);
		assert.deepEqual(ids, [...ids].sort((p, q) => p - q),
		    'in order per endpoint');
		assert.equal(new Set(ids).size, ids.length,
		    'each delivery once (two workers)');
		assert.equal(rec.list('/main').length, ids.length,
		    'no failed attempt on /main');
		const evs = main.map((x) => x.body.event);
		assert.ok(evs.indexOf('user.online') < evs.indexOf('user.offline'));
		// /main took every event; /flaky message.created only.
		assert.ok(rec.list('/flaky').every((x) =>
		    x.body.event === 'message.created'));
	}, () => [d]));

	it('the HTTP API\'s changes: member.added, member.removed, ' +
	    'channel.archived, and message.created of a system message',
	withLogs(async () => {
		const call = (method, path, body) => apiCall(d, method, path,
		    { key: API_KEY, body });
		let r = await call('POST', '/channels', { name: 'hooked-ticket',
		    isPrivate: true });
		assert.equal(r.status, 201, r.text);
		const id = r.body.channel.id;
		assert.equal((await call('PUT', `/channels/${id}/members/77`))
		    .status, 201);
		assert.equal((await call('PUT', `/channels/${id}/members/78`))
		    .status, 201);
		r = await call('POST', `/channels/${id}/messages`,
		    { message: 'Ticket escalated' });
		assert.equal(r.status, 201, r.text);
		const sys = r.body.message;
		assert.equal((await call('DELETE', `/channels/${id}/members/78`))
		    .status, 200);
		assert.equal((await call('DELETE', `/channels/${id}`)).status, 200);
		// Nothing for a change that changes nothing.
		assert.equal((await call('PUT', `/channels/${id}/members/77`))
		    .status, 409, 'archived');
		assert.equal((await call('DELETE', `/channels/${id}`)).status, 200);
		await until(() => find(rec, '/members', 'channel.archived'),
		    10000, 'channel.archived on /members', 50);
		const got = rec.delivered('/members');
		got.forEach(checkDelivery);
		assert.deepEqual(got.map((x) => [x.body.event, x.body.data.userId]),
		    [['member.added', 77], ['member.added', 78],
		    ['member.removed', 78], ['channel.archived', undefined]]);
		for (const x of got.slice(0, 3))
			assert.equal(x.body.data.channelId, id);
		const arch = got[3].body.data.channel;
		assert.equal(arch.id, id);
		assertIso(arch.archivedAt, 'archivedAt');
		await until(() => find(rec, '/main', 'message.created',
		    (x) => x.message?.id === sys.id), 10000, 'message.created');
		const mc = find(rec, '/main', 'message.created',
		    (x) => x.message?.id === sys.id);
		assert.equal(mc.data.message.userId, 0);
		assert.deepEqual(mc.data.offlineMemberIds.sort(), [77, 78],
		    'the members, none online; the operator is none');
	}, () => [d]));

	it('500s are retried with the same delivery id; chat goes on',
	withLogs(async () => {
		const A = { userId: '5003', displayName: 'Carol', role: 'admin' };
		const a = await login(d, A);
		const a2 = await login(d, A);
		sockets.push(a, a2);
		const ch = await createChannel(a);
		await ok(a2, 'join_channel', ch.id);
		// What earlier tests sent to /flaky got through first.
		await until(() => rec.list('/flaky').every((x) =>
		    rec.delivered('/flaky').some((y) => y.body.id === x.body.id)),
		    15000, 'earlier deliveries done', 100);
		const m = await send(a, ch.id, 'retry me');
		// While /flaky fails, chat works: a round trip to a2.
		await until(() => rec.list('/flaky').some((x) =>
		    x.body.data.message.id === m.id), 5000, 'first attempt');
		const t0 = Date.now();
		const since = a2.rec.length;
		const m2 = await send(a, ch.id, 'still chatting');
		await waitFor(a2, 'chat:new_message', (x) => x?.id === m2.id,
		    2000, since);
		assert.ok(Date.now() - t0 < 1000, 'a round trip under 1 s');
		await until(() => rec.delivered('/flaky').some((x) =>
		    x.body.data.message.id === m.id), 20000,
		    'the delivery after the 500s', 100);
		const tries = rec.list('/flaky').filter((x) =>
		    x.body.data.message.id === m.id);
		assert.equal(tries.length, flakyFails + 1,
		    `tries: ${tries.length}`);
		tries.forEach(checkDelivery);
		assert.equal(new Set(tries.map((x) =>
		    x.headers['x-confab-delivery'])).size, 1, 'one delivery id');
		assert.equal(new Set(tries.map((x) => x.raw)).size, 1,
		    'the same body');
		// The order holds behind the retried head: m, then m2.
		await until(() => rec.delivered('/flaky').some((x) =>
		    x.body.data.message.id === m2.id), 20000, 'm2 delivered');
		const order = rec.delivered('/flaky').map((x) =>
		    x.body.data.message.id);
		assert.ok(order.indexOf(m.id) < order.indexOf(m2.id));
		assert.ok(await metric(d, 'confabd_webhook_deliveries_total') >=
		    2);
		assert.equal(await metric(d, 'confabd_webhook_failures_total'),
		    0);
		await metric(d, 'confabd_webhook_queue_depth');
		await metric(d, 'confabd_webhook_oldest_pending_seconds');
	}, () => [d]));

	it('a receiver that never answers: timeout, then a retry',
	withLogs(async () => {
		const A = { userId: '5004', displayName: 'Dan', role: 'admin' };
		const a = await login(d, A);
		sockets.push(a);
		await until(() => rec.delivered('/hang').length >= 2, 5000,
		    'the earlier channels delivered');
		hangNext = true;
		const ch = await createChannel(a);
		await until(() => rec.delivered('/hang').some((x) =>
		    x.body.data.channel.id === ch.id), 15000,
		    'channel.created after the timeout', 100);
		const tries = rec.list('/hang').filter((x) =>
		    x.body.data.channel.id === ch.id);
		assert.equal(tries.length, 2, 'the hung one and its retry');
		assert.equal(tries[0].headers['x-confab-delivery'],
		    tries[1].headers['x-confab-delivery']);
		tries.forEach(checkDelivery);
	}, () => [d]));
});

describe('webhooks: kill -9 mid-delivery and restart', () => {
	let rec, d1, d2;
	const sockets = [];
	let hang = true;

	before(async () => {
		rec = await receiver();
		rec.answer = () => (hang ? 'hang' : 200);
	});
	after(async () => {
		closeAll(sockets);
		await d1?.stop();
		await d2?.stop();
		await stopReceiver(rec);
	});

	it('delivers everything, duplicates only with the same id',
	withLogs(async () => {
		const conf = [...CHAT_CONF, 'rate-limit 100000 1',
		    `webhook-secret ${SECRET}`,
		    `webhook ${rec.url('/k')} message.created`,
		    'webhook-timeout 1s'];
		d1 = await startDaemon({ workers: 2, extraConf: conf,
		    keepDir: true });
		const A = { userId: '5101', displayName: 'Eve', role: 'admin' };
		const a = await login(d1, A);
		sockets.push(a);
		const ch = await createChannel(a);
		const sent = [];
		for (let i = 0; i < 5; i++)
			sent.push((await send(a, ch.id, `m${i}`)).id);
		await until(() => rec.list('/k').length >= 1, 5000,
		    'the first delivery in flight');
		// Kill the master and every worker at once.
		const pids = d1.workerPids();
		d1.signal('SIGKILL');
		for (const p of pids) {
			try {
				process.kill(p, 'SIGKILL');
			} catch {
				// gone already
			}
		}
		await d1.exited;
		a.close();
		hang = false;
		for (const res of rec.hung)
			res.destroy();
		d2 = await startDaemon({ workers: 2, extraConf: conf,
		    dir: d1.dir, port: d1.port });
		await until(() => sent.every((id) => rec.delivered('/k').some(
		    (x) => x.body.data.message.id === id)), 30000,
		    'every message delivered after the restart', 200);
		const all = rec.list('/k');
		all.forEach(checkDelivery);
		const byMsg = new Map();
		for (const x of all) {
			const id = x.body.data.message.id;
			const set = byMsg.get(id) ?? new Set();
			set.add(x.headers['x-confab-delivery']);
			byMsg.set(id, set);
		}
		for (const id of sent)
			assert.equal(byMsg.get(id).size, 1, `one delivery id ${id}`);
		const order = rec.delivered('/k').map((x) =>
		    x.body.data.message.id);
		const firsts = order.filter((id, i) => order.indexOf(id) === i);
		assert.deepEqual(firsts, sent, 'in order');
	}, () => [d1, d2].filter(Boolean)));
});

describe('webhooks: two daemons sharing PostgreSQL', () => {
	let rec, pg, d1, d2;
	const sockets = [];

	before(async () => {
		rec = await receiver();
		rec.answer = (path) => (path === '/dead' ? 500 : 200);
		pg = await startPostgres();
		const conf = [...CHAT_CONF, 'rate-limit 100000 1',
		    `database ${pg.url}`, `webhook-secret ${SECRET}`,
		    `webhook ${rec.url('/pg')} message.created`,
		    `webhook ${rec.url('/dead')} channel.created`,
		    'webhook-timeout 1s', 'webhook-retry-for 2s'];
		[d1, d2] = await Promise.all([
		    startDaemon({ workers: 2, extraConf: conf }),
		    startDaemon({ workers: 2, extraConf: conf })]);
	});
	after(async () => {
		closeAll(sockets);
		await d1?.stop();
		await d2?.stop();
		await pg?.stop();
		await stopReceiver(rec);
	});

	it('each delivery sent once, in order, by one host; a dead ' +
	    'endpoint is given up after webhook-retry-for',
	withLogs(async () => {
		const A = { userId: '5201', displayName: 'Fay', role: 'admin' };
		const a1 = await login(d1, A);
		const a2 = await login(d2, A);
		sockets.push(a1, a2);
		const ch = await createChannel(a1);
		await ok(a2, 'join_channel', ch.id);
		const sent = [];
		for (let i = 0; i < 10; i++)
			sent.push((await send(i % 2 ? a2 : a1, ch.id, `p${i}`)).id);
		await until(() => sent.every((id) => rec.delivered('/pg').some(
		    (x) => x.body.data.message.id === id)), 15000,
		    'every message delivered', 100);
		const all = rec.list('/pg');
		all.forEach(checkDelivery);
		const ids = all.map((x) => x.body.data.message.id);
		assert.deepEqual(ids, sent, 'once each, in order');

		// /dead answers 500: tried, then dropped and counted.
		await until(async () => (await metric(d1,
		    'confabd_webhook_failures_total')) + (await metric(d2,
		    'confabd_webhook_failures_total')) >= 1, 15000,
		    'the dead delivery given up', 200);
		const dead = rec.list('/dead');
		assert.ok(dead.length >= 2, `attempts: ${dead.length}`);
		dead.forEach(checkDelivery);
		assert.equal(new Set(dead.map((x) =>
		    x.headers['x-confab-delivery'])).size, 1);
		await until(async () => (await metric(d1,
		    'confabd_webhook_queue_depth')) === 0, 10000,
		    'the outbox empty');
	}, () => [d1, d2].filter(Boolean)));
});

describe('webhooks: SIGHUP', () => {
	let rec, d;
	const sockets = [];

	before(async () => {
		rec = await receiver();
		d = await startDaemon({ workers: 2, extraConf: [...CHAT_CONF,
		    'rate-limit 100000 1'] });
	});
	after(async () => {
		closeAll(sockets);
		await d?.stop();
		await stopReceiver(rec);
	});

	it('a webhook added by a reload takes the next events',
	withLogs(async () => {
		const A = { userId: '5301', displayName: 'Gus', role: 'admin' };
		const a = await login(d, A);
		sockets.push(a);
		const before0 = await createChannel(a);
		await fsp.appendFile(d.confPath, `webhook-secret ${SECRET}\n` +
		    `webhook ${rec.url('/r')} channel.created\n`);
		const mark0 = d.logMark();
		d.signal('SIGHUP');
		await d.waitForLog(/worker=0 .*configuration reloaded/, 5000,
		    mark0);
		await d.waitForLog(/worker=1 .*configuration reloaded/, 5000,
		    mark0);
		// The workers take up the new endpoint at their next tick.
		await new Promise((r) => setTimeout(r, 1200));
		const ch = await createChannel(a);
		await until(() => find(rec, '/r', 'channel.created',
		    (x) => x.channel.id === ch.id), 5000, 'delivered', 50);
		assert.ok(!find(rec, '/r', 'channel.created',
		    (x) => x.channel.id === before0.id), 'none from before');
		rec.list('/r').forEach(checkDelivery);
	}, () => [d]));
});

describe('webhooks: two hosts with Redis and PostgreSQL', () => {
	let rec, pg, redis, d1, d2;
	const sockets = [];

	before(async () => {
		rec = await receiver();
		[pg, redis] = await Promise.all([startPostgres(), startRedis()]);
		const conf = [...CHAT_CONF, 'rate-limit 100000 1',
		    `database ${pg.url}`, `webhook-secret ${SECRET}`,
		    `webhook ${rec.url('/x')}`];
		d1 = await startDaemon({ workers: 2, extraConf: conf,
		    redisUrl: redis.url });
		d2 = await startDaemon({ workers: 2, extraConf: conf,
		    redisUrl: redis.url });
	});
	after(async () => {
		closeAll(sockets);
		await d1?.stop();
		await d2?.stop();
		await redis?.stop();
		await pg?.stop();
		await stopReceiver(rec);
	});

	it('offlineMemberIds counts sockets on every host; user.online ' +
	    'once in the cluster', withLogs(async () => {
		const A = { userId: '5401', displayName: 'Hal', role: 'admin' };
		const B = { userId: '5402', displayName: 'Ida', role: 'user' };
		const C = { userId: '5403', displayName: 'Jo', role: 'user' };
		// C: a known user, offline.
		const c = await login(d1, C);
		c.close();
		await disconnected(c);
		const a = await login(d1, A);
		const b = await login(d2, B);	// B online on the other host only
		const b2 = await login(d2, B);	// twice: one online edge
		sockets.push(a, b, b2);
		await until(async () => {
			const on = (await onlineUsers(a)).map((u) =>
			    String(u.userId));
			return on.includes('5402') && !on.includes('5403');
		}, 5000, 'B online, C offline, seen from host 1');
		const ch = await createChannel(a, { memberIds: ['5402',
		    '5403'] });
		const m = await send(a, ch.id, 'across hosts');
		await until(() => find(rec, '/x', 'message.created',
		    (x) => x.message.id === m.id), 10000, 'delivered', 50);
		const mc = find(rec, '/x', 'message.created',
		    (x) => x.message.id === m.id);
		assert.deepEqual(mc.data.offlineMemberIds, [5403]);
		const onlineB = rec.delivered('/x').filter((x) =>
		    x.body.event === 'user.online' &&
		    String(x.body.data.userId) === '5402');
		assert.equal(onlineB.length, 1, 'B came online once');
		const ids = rec.delivered('/x').map((x) => x.body.id);
		assert.equal(new Set(ids).size, ids.length, 'each once');
		rec.list('/x').forEach(checkDelivery);
	}, () => [d1, d2].filter(Boolean)));
});

// confabd on PostgreSQL (`database postgresql://...`): channels, history
// paging, clientMsgId dedupe, read positions and a call, all stored in a
// real PostgreSQL started by lib/postgres.mjs; the history survives a
// restart on another data-dir; a database that goes away fails requests
// (no crash) until it is back; and two daemons (no Redis, each with its
// own data-dir) starting at once on one fresh database migrate it once and
// share channels, membership, history and call records.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import fsp from 'node:fs/promises';
import os from 'node:os';
import { startDaemon, runConfabd, buildConf, freePort,
    withLogs } from './lib/daemon.mjs';
import { closeAll } from './lib/client.mjs';
import { startPostgres } from './lib/postgres.mjs';
import { CHAT_CONF, login, ok, refused, waitFor, createChannel, send,
    history, listed, assertId, assertIso, tabsOnWorkers, auth,
    assertNoWorkerDied, onlineUsers } from './lib/chat.mjs';
import { mint } from './lib/token.mjs';

const ADMIN = { userId: '1', displayName: 'Admin', role: 'admin' };
const ALICE = { userId: '2', displayName: 'Alice', role: 'user' };
const BOB = { userId: 'bob', displayName: 'Bob', role: 'user' };
const CAROL = { userId: '4', displayName: 'Carol', role: 'user' };

const OFFER = { type: 'offer', sdp: 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n' };
const ANSWER = { type: 'answer', sdp: 'v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\n' };

function pgConf(pg) {
	return [...CHAT_CONF, 'rate-limit 100000 1', `database ${pg.url}`];
}

// One page of chat:get_messages.
async function page(s, channelId, args) {
	const a = await ok(s, 'chat:get_messages', { channelId, ...args });
	assert.equal(typeof a.hasMore, 'boolean');
	return { ids: a.messages.map((m) => m.id), hasMore: a.hasMore };
}

// s invites `to`; the callee tab `callee` accepts; s ends.  The call id.
async function callAndEnd(s, callee, to) {
	const since = callee.rec.length;
	const inv = await ok(s, 'call:invite', { targetUserId: to,
	    callType: 'audio', offer: OFFER });
	assertId(inv.callId, 'callId');
	await waitFor(callee, 'call:incoming', (x) => x?.callId === inv.callId,
	    5000, since);
	assert.deepEqual(await ok(callee, 'call:accept', { callId: inv.callId,
	    answer: ANSWER, targetUserId: s.user.id }),
	    { ok: true, callId: inv.callId });
	await ok(s, 'call:end', { callId: inv.callId, targetUserId: to });
	return inv.callId;
}

describe('PostgreSQL storage', () => {
	let pg, d1, d2;
	const sockets = [];
	const saved = {};

	before(async () => {
		pg = await startPostgres();
	});

	after(async () => {
		closeAll(sockets);
		for (const d of [d1, d2]) {
			if (d)
				await d.stop();
		}
		if (pg)
			await pg.stop();
	});

	it('channels, history paging, clientMsgId, read positions, a call',
	    withLogs(async () => {
		d1 = await startDaemon({ workers: 2, extraConf: pgConf(pg) });
		const admin = await login(d1, ADMIN);
		const alice = await login(d1, ALICE);
		const bob = await login(d1, BOB);
		sockets.push(admin, alice, bob);

		const ch = await createChannel(admin, { description: 'on pg' });
		assert.equal(ch.description, 'on pg');
		assertIso(ch.createdAt, 'createdAt');
		await ok(alice, 'join_channel', ch.id);
		await ok(bob, 'join_channel', ch.id);
		// A name taken case-insensitively.
		await refused(admin, 'channel:create',
		    [{ name: ch.name.toUpperCase() }], 'conflict');

		const ms = [];
		for (let i = 0; i < 25; i++) {
			ms.push(await send(i % 2 ? alice : admin, ch.id, `m${i}`,
			    i === 5 ? { clientMsgId: 'pg-5' } : {}));
		}
		for (let i = 1; i < ms.length; i++)
			assert.ok(ms[i].id > ms[i - 1].id, 'ids increase');

		// Paging: newest first, before / after, hasMore.
		let p = await page(bob, ch.id, { limit: 10 });
		assert.deepEqual(p.ids, ms.slice(15).map((m) => m.id).reverse());
		assert.equal(p.hasMore, true);
		p = await page(bob, ch.id, { limit: 10, before: ms[15].id });
		assert.deepEqual(p.ids, ms.slice(5, 15).map((m) => m.id).reverse());
		assert.equal(p.hasMore, true);
		p = await page(bob, ch.id, { limit: 10, before: ms[5].id });
		assert.deepEqual(p.ids, ms.slice(0, 5).map((m) => m.id).reverse());
		assert.equal(p.hasMore, false);
		p = await page(bob, ch.id, { limit: 10, after: ms[19].id });
		assert.deepEqual(p.ids, ms.slice(20).map((m) => m.id));
		assert.equal(p.hasMore, false);

		// clientMsgId: the resend is acked with the original.
		const again = await ok(alice, 'chat:send_message', {
		    channelId: ch.id, message: 'm5', clientMsgId: 'pg-5' });
		assert.deepEqual(again.message, ms[5]);
		const h = await history(bob, ch.id);
		assert.equal(h.length, 25, 'stored once');
		assert.equal(h.filter((m) => m.clientMsgId === 'pg-5').length, 1);
		const bobs = await send(bob, ch.id, 'mine', { clientMsgId: 'pg-5' });
		assert.notEqual(bobs.id, ms[5].id, 'per user');

		// Read positions never move back.
		let r = await ok(alice, 'message_read', { channelId: ch.id,
		    messageId: ms[20].id });
		assert.strictEqual(r.messageId, ms[20].id);
		r = await ok(alice, 'message_read', { channelId: ch.id,
		    messageId: ms[3].id });
		assert.strictEqual(r.messageId, ms[20].id);
		const l = await listed(alice, ch.id);
		assert.strictEqual(l.lastReadMessageId, ms[20].id);
		// After m20: m22 and m24 are the admin's, and bob's "mine".
		assert.strictEqual(l.unreadCount, 3);

		// Online users with their stored statuses (one statement
		// taking the ids as a JSON array: json_array_elements_text).
		await ok(alice, 'update_presence', { status: 'away' });
		const on = await onlineUsers(bob);
		assert.equal(on.find((u) => u.userId === Number(ALICE.userId))
		    ?.status, 'away', JSON.stringify(on));
		assert.equal(on.find((u) => u.userId === Number(ADMIN.userId))
		    ?.status, 'online', JSON.stringify(on));

		// A call, answered and ended.
		const callId = await callAndEnd(admin, alice, Number(ALICE.userId));
		const calls = (await ok(admin, 'call:history', {})).calls;
		const row = calls.find((c) => c.id === callId);
		assert.equal(row?.status, 'ended');
		assertIso(row.answeredAt, 'answeredAt');
		assert.ok(Number.isInteger(row.durationMs) && row.durationMs >= 0);

		// Nothing went to a SQLite file.
		assert.equal(fs.existsSync(path.join(d1.dir, 'confab.db')), false);
		Object.assign(saved, { ch, history: await history(bob, ch.id),
		    alice: await listed(alice, ch.id), calls });
		closeAll(sockets);
		const st = await d1.stop();
		d1 = null;
		assert.deepEqual({ code: st.code, signal: st.signal },
		    { code: 0, signal: null });
	}));

	it('a new daemon on another data-dir finds everything',
	    withLogs(async () => {
		assert.ok(saved.ch, 'the first test ran');
		d2 = await startDaemon({ workers: 2, extraConf: pgConf(pg) });
		const alice = await login(d2, ALICE);
		const admin = await login(d2, ADMIN);
		sockets.push(alice, admin);
		assert.deepEqual(await history(alice, saved.ch.id), saved.history);
		assert.deepEqual(await listed(alice, saved.ch.id), saved.alice);
		assert.deepEqual((await ok(admin, 'call:history', {})).calls,
		    saved.calls);
		// New ids follow the old ones.
		const m = await send(alice, saved.ch.id, 'after restart');
		assert.ok(m.id > saved.history.at(-1).id);
		closeAll(sockets);
		await d2.stop();
		d2 = null;
	}));

	it('the database goes away: "internal" errors, no crash; it comes ' +
	    'back: the same workers carry on', withLogs(async () => {
		assert.ok(saved.ch, 'the first test ran');
		d2 = await startDaemon({ workers: 2, extraConf: pgConf(pg) });
		const tabs = await tabsOnWorkers(d2, 2);
		for (const t of tabs)
			await auth(t, mint(ALICE));
		sockets.push(...tabs);
		const pids = d2.workerPids();
		await send(tabs[0], saved.ch.id, 'before');

		await pg.halt();
		// Each worker finds its connection broken, then no server.
		for (const t of tabs) {
			for (let i = 0; i < 2; i++) {
				await refused(t, 'chat:send_message', [{
				    channelId: saved.ch.id, message: 'lost' }],
				    'internal');
			}
		}
		await pg.start();
		const after = [];
		for (const t of tabs)
			after.push(await send(t, saved.ch.id, 'back'));
		const h = await history(tabs[1], saved.ch.id);
		assert.deepEqual(h.slice(-3).map((m) => m.message),
		    ['before', 'back', 'back']);
		assert.deepEqual(h.slice(-2).map((m) => m.id),
		    after.map((m) => m.id));
		assertNoWorkerDied(d2, pids);
		closeAll(sockets);
		await d2.stop();
		d2 = null;
	}));
});

describe('two daemons on one PostgreSQL database', () => {
	let pg;
	const ds = [];
	const sockets = [];

	before(async () => {
		pg = await startPostgres();
	});

	after(async () => {
		closeAll(sockets);
		for (const d of ds)
			await d.stop();
		if (pg)
			await pg.stop();
	});

	it('start at once on a fresh database, share storage',
	    withLogs(async () => {
		ds.push(...await Promise.all([
			startDaemon({ workers: 2, extraConf: pgConf(pg) }),
			startDaemon({ workers: 2, extraConf: pgConf(pg) }),
		]));
		const [h1, h2] = ds;
		assert.notEqual(h1.dir, h2.dir);
		const admin1 = await login(h1, ADMIN);
		const carol2 = await login(h2, CAROL);
		const alice2 = await login(h2, ALICE);
		sockets.push(admin1, carol2, alice2);

		// A channel made on one host is listed, joinable and
		// writable on the other.
		const ch = await createChannel(admin1, { isPrivate: false });
		assert.ok(await listed(carol2, ch.id), 'listed on host 2');
		await ok(carol2, 'join_channel', ch.id);
		const a = await send(admin1, ch.id, 'from host 1');
		const b = await send(carol2, ch.id, 'from host 2');
		assert.ok(b.id > a.id, 'one id sequence');
		const h = await history(admin1, ch.id);
		assert.deepEqual(h.map((m) => [m.id, m.message]),
		    [[a.id, 'from host 1'], [b.id, 'from host 2']]);
		assert.deepEqual(await history(carol2, ch.id), h);

		// clientMsgId dedupe across hosts.
		const c1 = await ok(carol2, 'chat:send_message', {
		    channelId: ch.id, message: 'x', clientMsgId: 'two-hosts' });
		const carol1 = await login(h1, CAROL);
		sockets.push(carol1);
		const c2 = await ok(carol1, 'chat:send_message', {
		    channelId: ch.id, message: 'x', clientMsgId: 'two-hosts' });
		assert.deepEqual(c2.message, c1.message);

		// A read position set on host 2 is seen on host 1.
		await ok(carol2, 'message_read', { channelId: ch.id,
		    messageId: b.id });
		assert.strictEqual((await listed(carol1, ch.id))
		    .lastReadMessageId, b.id);

		// A call recorded on host 1 is in the history on host 2.
		const admin2 = await login(h2, ADMIN);
		sockets.push(admin2);
		const alice1 = await login(h1, ALICE);
		sockets.push(alice1);
		const callId = await callAndEnd(admin1, alice1,
		    Number(ALICE.userId));
		const row = (await ok(alice2, 'call:history', {})).calls
		    .find((c) => c.id === callId);
		assert.equal(row?.status, 'ended');
	}));
});

describe('a PostgreSQL database that cannot be used', () => {
	let pg, dir;

	before(async () => {
		pg = await startPostgres();
		dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'confabd-pgbad-'));
	});

	after(async () => {
		if (pg)
			await pg.stop();
		if (dir)
			await fsp.rm(dir, { recursive: true, force: true });
	});

	it('no server, or no such database: the daemon does not start and ' +
	    'says why', async () => {
		const port = await freePort();
		const cases = [
			[`postgresql:///postgres?host=${dir}&port=1`,
			    /PostgreSQL connection failed: .*No such file/],
			[pg.url.replace('///postgres?', '///nosuch?'),
			    /PostgreSQL connection failed: .*\\?"nosuch\\?" does not exist/],
		];
		for (const [url, why] of cases) {
			const file = path.join(dir, 'confabd.conf');
			await fsp.writeFile(file, buildConf({ port, workers: 1, dir,
			    extraConf: [...CHAT_CONF, `database ${url}`] }));
			const r = await runConfabd(['-f', '-c', file], 20000);
			assert.notEqual(r.code, 0, `${url}: exit status`);
			assert.equal(r.signal, null, `${url}: no crash`);
			assert.match(r.stdout + r.stderr, why);
			// The URI (it may hold a password) is not logged.
			assert.ok(!(r.stdout + r.stderr).includes(url),
			    'the URI is not in the log');
		}
	});
});

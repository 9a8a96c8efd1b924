// Search and retention (doc/events.md "Search", "Retention"; doc/api.md
// GET /api/v1/search): chat:search ranks the matches, highlights them,
// shows only what the user may read (a private channel of others never
// leaks, not even as a count), pages with before/nextBefore, answers any
// query (quotes, operators, emoji, huge) with results or a clear
// invalid_payload, never an internal error; the same on PostgreSQL, and
// across two hosts sharing it.  message-retention (seconds, set by
// SIGHUP) purges old messages from history and search in batches while
// chat keeps working, and keeps the new ones and the replies to purged
// messages.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import { startDaemon, withLogs, sleep } from './lib/daemon.mjs';
import { closeAll, ask, until } from './lib/client.mjs';
import { startPostgres } from './lib/postgres.mjs';
import { apiCall } from './lib/api.mjs';
import { CHAT_CONF, login, ok, refused, createChannel, send, history,
    mark, assertNone, uniq, assertNoWorkerDied } from './lib/chat.mjs';

const ADMIN = { userId: '1', displayName: 'Admin', role: 'admin' };
const ALICE = { userId: '2', displayName: 'Alice', role: 'user' };
const BOB = { userId: '3', displayName: 'Bob', role: 'user' };

const KEY = 's'.repeat(20) + '0123456789abcdefghijklmn';
const BASE_CONF = [...CHAT_CONF, 'rate-limit 100000 1',
    `api-key backend ${KEY}`];

// Queries that must answer ok (possibly empty) or invalid_payload.
const NASTY = ['"', '"""', 'a"b', '"unclosed', 'AND', 'OR', 'NOT',
    'a OR b', 'a AND', 'NOT a', 'NEAR', 'NEAR(a b)', 'NEAR(a b, 2)', '*',
    'a*', '*a', '^a', '-a', 'a -b', '+a', '(', ')', '(a', '{a b}', 'a:b',
    'body:a', 'rowid:1', "'", "''", '\\', '\\"', '%', '_', '%_%', '😀',
    '👍🏽 👨‍👩‍👧', 'café ☕', '!@#$%^&*()', '&', '|', '!', '<->', 'a <-> b',
    ':*', 'a:*', 'a & b | !c', '\u0000', 'a\u0000b', '\u200b', '\ufeff',
    '\t', '\r\n', 'x\ny', 'NULL', '; DROP TABLE messages; --',
    "' OR 1=1 --", '$1', '?1', '?', 'x'.repeat(250), 'é'.repeat(250),
    '😀'.repeat(250), Array(32).fill('w').join(' ')];
const INVALID = ['', ' ', '   \t\n ', 'x'.repeat(251), '😀'.repeat(251),
    Array(33).fill('w').join(' '), 5, true, null, [], {}, ['a']];

// chat:search; resolves the ack (asserted ok and well formed).
async function search(s, args) {
	const a = await ok(s, 'chat:search', args);
	assert.ok(Array.isArray(a.messages), JSON.stringify(a));
	assert.equal(typeof a.hasMore, 'boolean');
	assert.ok(a.nextBefore === null || Number.isInteger(a.nextBefore));
	for (const m of a.messages)
		assert.equal(typeof m.excerpt, 'string', JSON.stringify(m));
	return a;
}

/*
 * Wait until a search finds n messages: SQLite indexes new messages
 * after their commit, every 100 ms (PostgreSQL in it).
 */
async function indexed(s, args, n) {
	await until(async () => (await search(s, { limit: 100, ...args }))
	    .messages.length === n, 5000, `${JSON.stringify(args)}: ${n} found`);
}

// Every page of a search, following nextBefore; the ids in order.
async function allPages(s, args) {
	const ids = [];
	let before;
	for (let i = 0; i < 100; i++) {
		const a = await search(s, { ...args, ...(before ? { before } : {}) });
		ids.push(...a.messages.map((m) => m.id));
		if (!a.hasMore)
			return ids;
		assert.equal(a.nextBefore, Math.min(...a.messages.map((m) => m.id)));
		before = a.nextBefore;
	}
	throw new Error('more than 100 pages');
}

/*
 * The search suite, on the daemon getD() returns (SQLite or PostgreSQL).
 * Alice and Bob are on different workers.
 */
function searchSuite(getD, sockets) {
	async function as(user, tabOpts) {
		const s = await login(getD(), user, tabOpts);
		sockets.push(s);
		return s;
	}

	it('ranks, highlights, and shows only what the user may read',
	    withLogs(async () => {
		const d = getD();
		const pids = d.workerPids();
		const admin = await as(ADMIN);
		const alice = await as(ALICE);
		const bob = await as(BOB, { notOn: [alice.who.pid] });
		const w = uniq('zebra').replace(/[^a-z0-9]/g, '');
		const pub = await createChannel(admin);
		const priv = await createChannel(admin, { isPrivate: true,
		    memberIds: ['2'] });
		const arch = await createChannel(admin);
		await ok(alice, 'join_channel', pub.id);
		const weak = await send(admin, pub.id,
		    `a long message that mentions ${w} once among many other ` +
		    'words, filler, filler, filler and more filler to dilute it');
		const strong = await send(admin, pub.id, `${w} ${w} ${w}`);
		await send(admin, pub.id, 'nothing to find here');
		const secret = await send(admin, priv.id, `secret ${w} plans`);
		const old = await send(admin, arch.id, `archived ${w} words`);
		const r = await apiCall(d, 'DELETE', `/channels/${arch.id}`,
		    { key: KEY });
		assert.equal(r.status, 200, r.text);
		await indexed(alice, { query: w }, 4);

		// Best match first, the word marked in the excerpt.
		const a = await search(alice, { query: w });
		assert.deepEqual(a.messages.map((m) => m.id).sort(),
		    [weak.id, strong.id, secret.id, old.id].sort());
		assert.equal(a.messages[0].id, strong.id);
		assert.ok(a.messages.findIndex((m) => m.id === strong.id) <
		    a.messages.findIndex((m) => m.id === weak.id));
		assert.equal(a.messages[0].excerpt, `«${w}» «${w}» «${w}»`);
		assert.equal(a.messages[0].message, `${w} ${w} ${w}`);
		assert.equal(a.messages[0].channelId, pub.id);
		assert.equal(a.hasMore, false);
		assert.equal(a.nextBefore, null);
		// Case folded; every word must match.
		assert.equal((await search(alice, { query: w.toUpperCase() }))
		    .messages.length, 4);
		assert.deepEqual((await search(alice, { query: `SECRET ${w}` }))
		    .messages.map((m) => m.id), [secret.id]);
		assert.equal((await search(alice, { query: `secret nothing` }))
		    .messages.length, 0);

		// Bob: not a member of the private channel; public ones read
		// without joining them, archived ones too.
		const b = await search(bob, { query: w });
		assert.deepEqual(b.messages.map((m) => m.id).sort(),
		    [weak.id, strong.id, old.id].sort());
		assert.equal((await search(bob, { query: 'secret' })).messages
		    .filter((m) => m.channelId === priv.id).length, 0);
		assert.deepEqual((await search(bob, { query: w,
		    channelId: arch.id })).messages.map((m) => m.id), [old.id]);
		// A private channel of others answers as a missing one.
		const m = await mark([bob]);
		const e1 = await refused(bob, 'chat:search', [{ query: w,
		    channelId: priv.id }], 'not_found');
		const e2 = await refused(bob, 'chat:search', [{ query: w,
		    channelId: 999999999 }], 'not_found');
		assert.deepEqual(e1, e2);
		assert.deepEqual((await search(alice, { query: w,
		    channelId: priv.id })).messages.map((x) => x.id), [secret.id]);
		await assertNone(m, ['chat:new_message']);
		// A new message is found soon after its ack (SQLite indexes
		// after the commit, every 100 ms; PostgreSQL in it).
		const fresh = await send(alice, pub.id, `fresh ${w}`);
		await until(async () => (await search(bob, { query:
		    `fresh ${w}` })).messages.some((x) => x.id === fresh.id),
		    3000, 'the new message found');
		assertNoWorkerDied(d, pids);
	}));

	it('pages with before, newest matches first, none twice',
	    withLogs(async () => {
		const admin = await as(ADMIN);
		const bob = await as(BOB);
		const w = uniq('paging').replace(/[^a-z0-9]/g, '');
		const ch = await createChannel(admin);
		const ids = [];
		for (let i = 0; i < 25; i++)
			ids.push((await send(admin, ch.id, `${w} number ${i}`)).id);
		await indexed(bob, { query: w }, 25);
		const p1 = await search(bob, { query: w, limit: 10 });
		assert.equal(p1.messages.length, 10);
		assert.equal(p1.hasMore, true);
		assert.deepEqual(p1.messages.map((m) => m.id).sort((x, y) => x - y),
		    ids.slice(15));
		const all = await allPages(bob, { query: w, limit: 10 });
		assert.deepEqual(all.slice().sort((x, y) => x - y), ids);
		const last = await search(bob, { query: w, before: ids[5],
		    limit: 10 });
		assert.deepEqual(last.messages.map((m) => m.id)
		    .sort((x, y) => x - y), ids.slice(0, 5));
		assert.equal(last.hasMore, false);
		assert.equal((await search(bob, { query: w, before: ids[0] }))
		    .messages.length, 0);
		assert.equal((await search(bob, { query: w, channelId: ch.id,
		    limit: 100 })).messages.length, 25);
	}));

	it('answers any query: results or invalid_payload, never internal',
	    withLogs(async () => {
		const d = getD();
		const pids = d.workerPids();
		const alice = await as(ALICE);
		const admin = await as(ADMIN);
		const ch = await createChannel(admin);
		await send(admin, ch.id, 'a OR b "quoted" NEAR(x y) * ^ - café ☕ 😀');
		await indexed(alice, { query: 'quoted', channelId: ch.id }, 1);
		for (const q of NASTY) {
			const a = await ask(alice, 'chat:search', { query: q });
			assert.ok(a?.ok === true || a?.error?.code ===
			    'invalid_payload', `${JSON.stringify(q)} -> ` +
			    JSON.stringify(a));
		}
		for (const q of INVALID) {
			const a = await refused(alice, 'chat:search', [{ query: q }],
			    'invalid_payload', JSON.stringify(q));
			assert.match(a.error.message, /query/);
		}
		await refused(alice, 'chat:search', [{}], 'invalid_payload');
		await refused(alice, 'chat:search', ['text'], 'invalid_payload');
		await refused(alice, 'chat:search', [], 'invalid_payload');
		for (const bad of [{ limit: 0 }, { limit: 101 }, { limit: 'x' },
		    { before: -1 }, { before: 'x' }, { channelId: 0 },
		    { channelId: 'abc' }, { channelId: {} }]) {
			await refused(alice, 'chat:search', [{ query: 'a', ...bad }],
			    'invalid_payload', JSON.stringify(bad));
		}
		// Operators are words, quotes are ignored.
		assert.equal((await search(alice, { query: '"quoted"',
		    channelId: ch.id })).messages.length, 1);
		assert.equal((await search(alice, { query: 'NEAR quoted',
		    channelId: ch.id })).messages.length, 1);
		assert.equal((await search(alice, { query: 'quoted OR absent',
		    channelId: ch.id })).messages.length, 0);
		assertNoWorkerDied(d, pids);
	}));

	it('GET /api/v1/search: everything with the key, a user\'s view with ' +
	    'userId', withLogs(async () => {
		const d = getD();
		const admin = await as(ADMIN);
		const w = uniq('api').replace(/[^a-z0-9]/g, '');
		const priv = await createChannel(admin, { isPrivate: true });
		const pub = await createChannel(admin);
		const s1 = await send(admin, priv.id, `${w} private`);
		const s2 = await send(admin, pub.id, `${w} ${w} public`);
		await indexed(admin, { query: w }, 2);
		const q = encodeURIComponent(w);
		let r = await apiCall(d, 'GET', `/search?q=${q}`, { key: KEY });
		assert.equal(r.status, 200, r.text);
		assert.deepEqual(r.body.messages.map((m) => m.id), [s2.id, s1.id]);
		assert.equal(r.body.hasMore, false);
		r = await apiCall(d, 'GET', `/search?q=${q}&userId=3`,
		    { key: KEY });
		assert.deepEqual(r.body.messages.map((m) => m.id), [s2.id]);
		r = await apiCall(d, 'GET', `/search?q=${q}&userId=1`,
		    { key: KEY });
		assert.equal(r.body.messages.length, 2);
		r = await apiCall(d, 'GET', `/search?q=${q}&limit=1`, { key: KEY });
		assert.equal(r.body.messages.length, 1);
		assert.equal(r.body.hasMore, true);
		assert.equal(r.body.nextBefore, s2.id);
		r = await apiCall(d, 'GET', `/search?q=${q}&before=${s2.id}`,
		    { key: KEY });
		assert.deepEqual(r.body.messages.map((m) => m.id), [s1.id]);
		r = await apiCall(d, 'GET', `/search?q=${q}&channelId=${priv.id}` +
		    '&userId=3', { key: KEY });
		assert.equal(r.status, 404, r.text);
		for (const bad of ['', '?q=', '?q=%20', `?q=${q}&limit=0`,
		    `?q=${q}&limit=101`, `?q=${q}&before=x`,
		    `?q=${q}&channelId=-1`, `?q=${'w%20'.repeat(33)}`,
		    `?q=${'x'.repeat(251)}`]) {
			r = await apiCall(d, 'GET', `/search${bad}`, { key: KEY });
			assert.equal(r.status, 400, `${bad}: ${r.text}`);
			assert.equal(r.body.error.code, 'bad_request');
		}
		r = await apiCall(d, 'GET', `/search?q=${q}`);
		assert.equal(r.status, 401);
	}));
}

describe('chat:search on SQLite', () => {
	let d;
	const sockets = [];
	before(async () => {
		d = await startDaemon({ workers: 2, extraConf: BASE_CONF });
	});
	after(async () => {
		closeAll(sockets);
		if (d)
			await d.stop();
	});
	searchSuite(() => d, sockets);
});

describe('chat:search on PostgreSQL', () => {
	let pg, d, d2;
	const sockets = [];
	before(async () => {
		pg = await startPostgres();
		d = await startDaemon({ workers: 2, extraConf: [...BASE_CONF,
		    `database ${pg.url}`] });
	});
	after(async () => {
		closeAll(sockets);
		for (const x of [d, d2]) {
			if (x)
				await x.stop();
		}
		if (pg)
			await pg.stop();
	});
	searchSuite(() => d, sockets);

	it('finds on one host what was sent on another', withLogs(async () => {
		d2 = await startDaemon({ workers: 2, extraConf: [...BASE_CONF,
		    `database ${pg.url}`] });
		const admin = await login(d, ADMIN);
		const bob = await login(d2, BOB);
		sockets.push(admin, bob);
		const w = uniq('hosts').replace(/[^a-z0-9]/g, '');
		const ch = await createChannel(admin);
		const m = await send(admin, ch.id, `sent on host one: ${w}`);
		await indexed(bob, { query: w }, 1);
		const a = await search(bob, { query: w });
		assert.deepEqual(a.messages.map((x) => x.id), [m.id]);
		assert.equal(a.messages[0].excerpt, `sent on host one: «${w}»`);
	}));
});

describe('message-retention', () => {
	let d;
	const sockets = [];
	before(async () => {
		d = await startDaemon({ workers: 2, extraConf: [...BASE_CONF,
		    'cleanup-interval 1s'] });
	});
	after(async () => {
		closeAll(sockets);
		if (d)
			await d.stop();
	});

	it('purges old messages from history and search, in batches, while ' +
	    'chat goes on; new ones and replies stay', withLogs(async () => {
		const pids = d.workerPids();
		const admin = await login(d, ADMIN);
		const alice = await login(d, ALICE, { notOn: [admin.who.pid] });
		sockets.push(admin, alice);
		const ch = await createChannel(admin);
		await ok(alice, 'join_channel', ch.id);
		// 1500 old messages: three purge statements.
		const old = [];
		for (let i = 0; i < 15; i++) {
			const batch = await Promise.all(Array.from({ length: 100 },
			    (_, j) => send(admin, ch.id, `ancient ${i * 100 + j}`)));
			old.push(...batch.map((m) => m.id));
		}
		await sleep(8000);
		const before = await search(alice, { query: 'ancient', limit: 100 });
		assert.equal(before.messages.length, 100);
		assert.equal(before.hasMore, true);
		const reply = await send(alice, ch.id, 'a reply to the ancient',
		    { replyToId: old[0] });
		const conf = await fsp.readFile(d.confPath, 'utf8');
		await fsp.writeFile(d.confPath, `${conf}\nmessage-retention 5s\n`);
		const since = d.logMark();
		d.signal('SIGHUP');
		await d.waitForLog(/configuration reloaded/, 5000, since);
		// Chat goes on during the purge: every send acked quickly.
		const fresh = [];
		let slowest = 0;
		await until(async () => {
			const t0 = Date.now();
			fresh.push((await send(alice, ch.id, `fresh ${fresh.length}`))
			    .id);
			slowest = Math.max(slowest, Date.now() - t0);
			const a = await search(alice, { query: 'ancient',
			    channelId: ch.id });
			return a.messages.length === 1;	/* the reply only */
		}, 5000, 'the old messages purged', 50);
		assert.ok(slowest < 1000, `a send took ${slowest} ms`);
		await d.waitForLog(/message-retention: \d+ messages deleted/,
		    5000, since);
		// Retention off again before the reply gets old.
		await fsp.writeFile(d.confPath, conf);
		const since2 = d.logMark();
		d.signal('SIGHUP');
		await d.waitForLog(/configuration reloaded/, 5000, since2);
		const h = await history(alice, ch.id);
		assert.deepEqual(h.map((m) => m.id), [reply.id, ...fresh]);
		assert.equal(h[0].replyToId, null);
		assert.equal(h[0].message, 'a reply to the ancient');
		const a = await search(alice, { query: 'ancient' });
		assert.deepEqual(a.messages.map((m) => m.id), [reply.id]);
		await until(async () => (await search(alice, { query: 'fresh',
		    channelId: ch.id, limit: 100 })).messages.length ===
		    Math.min(fresh.length, 100), 3000, 'the fresh ones found');
		assertNoWorkerDied(d, pids);
	}));
});

// Authentication (doc/events.md "Authentication"): the authenticate event
// and the CONNECT auth payload, every auth:error, events before
// authentication, re-authentication, the connection limit per user, the
// authentication timeout and token expiry.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import { useDaemon, withLogs, sleep } from './lib/daemon.mjs';
import { ask } from './lib/client.mjs';
import { SECRET, sign, mint, nowSec, expiredToken, notYetValidToken,
    wrongSecretToken, noneToken, tamperedToken } from './lib/token.mjs';
import { CHAT_CONF, CHAT_PERMS, openTab, auth, login, ok, refused, got,
    waitFor, mark, assertNone, createChannel, history, onlineUsers,
    disconnected, assertNoWorkerDied, uniq } from './lib/chat.mjs';

const ADMIN = { userId: '1', displayName: 'Admin One', role: 'admin' };

// Every client->server event but authenticate, with a plausible payload.
function otherEvents(channelId) {
	return [
		['join_channel', channelId],
		['leave_channel', channelId],
		['channel:create', { name: uniq('never') }],
		['channel:list'],
		['chat:get_messages', { channelId }],
		['channel_updated', { channelId, changes: { name: uniq('x') } }],
		['chat:send_message', { channelId, message: 'before auth' }],
		['message_read', { channelId, messageId: null }],
		['chat:typing', { channelId, isTyping: true }],
		['file_uploaded', { channelId, fileName: 'a.txt', fileSize: 1,
		    fileType: 'text/plain' }],
		['update_presence', { status: 'away' }],
		['presence:set_status', 'busy'],
		['presence:get_online_users'],
		['system_broadcast', { message: 'before auth' }],
	];
}

describe('authentication', () => {
	let pidsBefore;
	const sockets = [];

	const d = useDaemon({ workers: 2, extraConf: [...CHAT_CONF,
	    'max-connections-per-user 2', 'rate-limit 10000 1'],
	    sockets, closeEach: true });
	before(() => {
		pidsBefore = d.workerPids();
	});

	async function tab(opts) {
		const s = await openTab(d, opts);
		sockets.push(s);
		return s;
	}

	it('authenticate: ack and "authenticated" with the user',
	    withLogs(async () => {
		const s = await tab();
		const ack = await ask(s, 'authenticate', mint({ userId: '42',
		    displayName: 'Forty Two', role: 'admin' }));
		assert.equal(ack.ok, true, JSON.stringify(ack));
		const u = await waitFor(s, 'authenticated');
		assert.deepEqual(Object.keys(u).sort(),
		    ['displayName', 'permissions', 'role', 'userId']);
		assert.equal(u.userId, 42, 'userId "42" is sent as a number');
		assert.equal(u.displayName, 'Forty Two');
		assert.equal(u.role, 'admin');
		assert.ok(Array.isArray(u.permissions));
		assert.ok(u.permissions.every((p) => typeof p === 'string'));
		for (const p of CHAT_PERMS)
			assert.ok(u.permissions.includes(p), `admin has ${p}`);
		assert.deepEqual(ack.user, u, 'ack.user equals the event');
		assert.equal(got(s, 'authenticated').length, 1);
		assert.deepEqual(got(s, 'auth:error'), []);
	}));

	it('user ids: number or digit string -> number, else string',
	    withLogs(async () => {
		const cases = [
			[{ userId: 43 }, 43],
			[{ userId: '44' }, 44],
			[{ userId: 'abc' }, 'abc'],
			[{ userId: '12ab' }, '12ab'],
			[{ id: '45' }, 45],
			[{ id: 'id-46' }, 'id-46'],
			[{ sub: '47' }, 47],
			[{ sub: 'sub-48' }, 'sub-48'],
			[{ userId: '49', id: '50', sub: '51' }, 49],
			[{ id: '52', sub: '53' }, 52],
		];
		for (const [claims, want] of cases) {
			const s = await tab();
			const ack = await auth(s, mint({ displayName: 'U',
			    role: 'user', ...claims }));
			assert.strictEqual(ack.user.userId, want,
			    `claims ${JSON.stringify(claims)}`);
			const ev = got(s, 'authenticated')[0];
			assert.strictEqual(ev.userId, want);
			s.close();
		}
	}));

	it('the user role lacks the create/manage/broadcast permissions',
	    withLogs(async () => {
		const s = await tab();
		const ack = await auth(s, mint({ userId: '60', displayName: 'U60',
		    role: 'user' }));
		assert.equal(ack.user.role, 'user');
		for (const p of ['chat.access', 'chat.send_messages'])
			assert.ok(ack.user.permissions.includes(p), p);
		for (const p of ['chat.create_channels', 'chat.manage_channels',
		    'chat.send_broadcasts'])
			assert.ok(!ack.user.permissions.includes(p), p);
	}));

	it('a "permissions" claim replaces the role\'s permissions',
	    withLogs(async () => {
		const s = await tab();
		const ack = await auth(s, mint({ userId: '61', displayName: 'U61',
		    role: 'admin', permissions: ['chat.access'] }));
		assert.deepEqual(ack.user.permissions, ['chat.access']);
		assert.deepEqual(got(s, 'authenticated')[0].permissions,
		    ['chat.access']);
	}));

	it('token in the CONNECT auth payload', withLogs(async () => {
		const s = await tab({ opts: { auth: { token: mint({ userId: '70',
		    displayName: 'Seventy', role: 'user' }) } } });
		const u = await waitFor(s, 'authenticated');
		assert.equal(u.userId, 70);
		assert.equal(u.displayName, 'Seventy');
		assert.equal(u.role, 'user');
		assert.ok(Array.isArray(u.permissions));
		await ok(s, 'channel:list');
		const online = await onlineUsers(s);
		assert.ok(online.some((o) => o.userId === 70), 'user 70 online');
	}));

	it('bad token in the CONNECT payload: connected, not authenticated',
	    withLogs(async () => {
		const s = await tab({ opts: { auth: { token: 'garbage' } } });
		assert.equal(s.connected, true);
		assert.equal(await waitFor(s, 'auth:error'), 'Invalid token');
		assert.deepEqual(got(s, 'authenticated'), []);
		await refused(s, 'channel:list', [], 'not_authenticated');
		await auth(s, mint({ userId: '71', displayName: 'U71',
		    role: 'user' }));
		await ok(s, 'channel:list');
		const e = await tab({ opts: { auth: { token: expiredToken({
		    userId: '72' }) } } });
		assert.equal(await waitFor(e, 'auth:error'), 'Token expired');
		assert.equal(e.connected, true);
	}));

	it('every auth:error message', withLogs(async () => {
		const claims = { userId: '80', displayName: 'U80', role: 'user' };
		const now = nowSec();
		const cases = [
			['garbage', 'not a jwt', 'Invalid token'],
			['empty string', '', 'Invalid token'],
			['two segments', mint(claims).split('.').slice(0, 2)
			    .join('.'), 'Invalid token'],
			['wrong secret', wrongSecretToken(claims),
			    'Invalid token'],
			['alg none', noneToken(claims), 'Invalid token'],
			['tampered payload', tamperedToken(claims),
			    'Invalid token'],
			// The algorithm is pinned (jwt-algorithm HS256).
			['HS512 with the right secret', sign({ ...claims,
			    exp: now + 3600 }, SECRET, 'HS512'), 'Invalid token'],
			// No userId, id or sub: assumed "Invalid token".
			['no user id', mint({ displayName: 'nobody' }),
			    'Invalid token'],
			['expired', expiredToken(claims), 'Token expired'],
			['not yet valid', notYetValidToken(claims),
			    'Token not yet valid'],
		];
		const s = await tab();
		for (const [what, token, msg] of cases) {
			const ack = await refused(s, 'authenticate', [token],
			    'not_authenticated', what);
			assert.equal(ack.error.message, msg, what);
			assert.equal(s.connected, true, `${what}: still connected`);
		}
		assert.deepEqual(got(s, 'authenticated'), []);
		// Still unauthenticated, and a good token works afterwards.
		await refused(s, 'channel:list', [], 'not_authenticated');
		await auth(s, mint(claims));
	}));

	it('events before authentication: "Not authenticated", nothing happens',
	    withLogs(async () => {
		const admin = await login(d, ADMIN);
		sockets.push(admin);
		const ch = await createChannel(admin);
		const watcher = await login(d, { userId: '90',
		    displayName: 'Watcher', role: 'user' });
		sockets.push(watcher);
		await ok(watcher, 'join_channel', ch.id);
		const hist0 = await history(admin, ch.id);
		const m = await mark([admin, watcher]);

		const s = await tab();
		for (const [event, ...args] of otherEvents(ch.id)) {
			const ack = await refused(s, event, args,
			    'not_authenticated');
			assert.equal(ack.error.message, 'Not authenticated',
			    event);
		}
		assert.deepEqual(got(s, 'authenticated'), []);
		await assertNone(m, ['chat:new_message', 'user_joined',
		    'user_left', 'chat:user_typing', 'message_read_receipt',
		    'file_upload_notification', 'channel_updated',
		    'system_broadcast_received'], 300);
		assert.deepEqual(await history(admin, ch.id), hist0,
		    'nothing stored');
		// Authenticating as the admin now: the message sent before
		// is not there either.
		await auth(s, mint(ADMIN));
		assert.deepEqual(await history(s, ch.id), hist0);
		assert.equal((await ok(s, 'channel:list')).channels.filter((c) =>
		    c.name.startsWith('never-')).length, 0,
		    'no channel created before authentication');
	}));

	it('re-authenticating as the same user is accepted', withLogs(async () => {
		const claims = { userId: '100', displayName: 'Hundred',
		    role: 'user' };
		const s = await tab();
		await auth(s, mint(claims, { ttlSec: 600 }));
		const again = await ask(s, 'authenticate', mint({ ...claims,
		    displayName: 'Hundred' }, { ttlSec: 7200 }));
		assert.equal(again.ok, true, JSON.stringify(again));
		assert.equal(again.user.userId, 100);
		assert.deepEqual(got(s, 'auth:error'), []);
		const me = (await onlineUsers(s)).find((o) => o.userId === 100);
		assert.equal(me?.connectionCount, 1,
		    'a re-authentication does not count as a new connection');
	}));

	it('re-authenticating as another user is refused', withLogs(async () => {
		const s = await tab();
		await auth(s, mint({ userId: '110', displayName: 'A110',
		    role: 'admin' }));
		const ack = await refused(s, 'authenticate', [mint({
		    userId: '111', displayName: 'B111', role: 'admin' })],
		    'forbidden');
		assert.equal(ack.error.message,
		    'Already authenticated as another user');
		assert.equal(s.connected, true);
		// Still user 110.
		const ch = await createChannel(s);
		assert.equal(ch.createdBy, 110);
		const online = await onlineUsers(s);
		assert.ok(!online.some((o) => o.userId === 111),
		    'user 111 is not online');
	}));

	it('max-connections-per-user 2: the third tab is refused and dropped',
	    withLogs(async () => {
		const claims = { userId: '120', displayName: 'Tabs',
		    role: 'user' };
		const t1 = await tab();
		const t2 = await tab();
		await auth(t1, mint(claims));
		await auth(t2, mint(claims));
		const t3 = await tab();
		const ack = await refused(t3, 'authenticate', [mint(claims)],
		    'too_many_connections');
		assert.equal(ack.error.message, 'Too many connections');
		await disconnected(t3, 3000);
		assert.deepEqual(got(t3, 'authenticated'), []);
		assert.equal(t1.connected && t2.connected, true);
		await ok(t1, 'channel:list');
		let me = (await onlineUsers(t1)).find((o) => o.userId === 120);
		assert.equal(me?.connectionCount, 2);
		// Another user is not affected.
		const other = await tab();
		await auth(other, mint({ userId: '121', displayName: 'Other',
		    role: 'user' }));
		// Closing a tab makes room for a new one.
		t2.close();
		await waitFor(other, 'presence:update', (p) => p.userId === 120 &&
		    p.connectionCount === 1, 3000);
		const t4 = await tab();
		await auth(t4, mint(claims));
		me = (await onlineUsers(t4)).find((o) => o.userId === 120);
		assert.equal(me?.connectionCount, 2);
	}));

	it('no worker died', () => {
		assertNoWorkerDied(d, pidsBefore);
	});
});

describe('auth-timeout 1s', () => {
	const sockets = [];

	const d = useDaemon({ workers: 2, extraConf: [...CHAT_CONF,
	    'auth-timeout 1s'], sockets });

	it('unauthenticated sockets are dropped, authenticated ones stay',
	    withLogs(async () => {
		const t0 = Date.now();
		const idle = await openTab(d);
		const badConnect = await openTab(d, { opts: { auth: {
		    token: 'garbage' } } });
		const failed = await openTab(d);
		const good = await openTab(d);
		const viaConnect = await openTab(d, { opts: { auth: {
		    token: mint({ userId: '130', displayName: 'C',
		    role: 'user' }) } } });
		sockets.push(idle, badConnect, failed, good, viaConnect);
		await refused(failed, 'authenticate', ['nope'],
		    'not_authenticated');
		await auth(good, mint({ userId: '131', displayName: 'G',
		    role: 'user' }));
		await waitFor(viaConnect, 'authenticated');
		await Promise.all([idle, badConnect, failed].map((s) =>
		    disconnected(s, 3000)));
		const dt = Date.now() - t0;
		assert.ok(dt >= 900, `dropped after ${dt} ms, before 1 s`);
		await sleep(Math.max(0, 2500 - (Date.now() - t0)));
		assert.equal(good.connected, true, 'authenticated socket kept');
		assert.equal(viaConnect.connected, true,
		    'socket authenticated at CONNECT kept');
		await ok(good, 'channel:list');
		await ok(viaConnect, 'channel:list');
	}));
});

describe('token expiry (jwt-leeway 0)', () => {
	const sockets = [];

	const d = useDaemon({ workers: 2, extraConf: [...CHAT_CONF,
	    'jwt-leeway 0'], sockets });

	it('expiry mid-session: "Token expired" then disconnect; ' +
	    're-authentication extends the session', withLogs(async () => {
		const claims = { userId: '140', displayName: 'Short',
		    role: 'user' };
		const short = await openTab(d);
		const renewed = await openTab(d);
		sockets.push(short, renewed);
		const exp = nowSec() + 2;
		await auth(short, mint({ ...claims, exp }));
		await auth(renewed, mint({ ...claims, exp }));
		await auth(renewed, mint(claims, { ttlSec: 3600 }));

		const msg = await waitFor(short, 'auth:error', null, 6000);
		assert.equal(msg, 'Token expired');
		const errAt = short.rec.find((r) => r.event === 'auth:error').at;
		assert.ok(errAt >= (exp - 1) * 1000,
		    'expired no earlier than "exp"');
		await disconnected(short, 3000);
		await sleep(Math.max(0, (exp + 1) * 1000 - Date.now()));
		assert.equal(renewed.connected, true, 'renewed socket kept');
		assert.deepEqual(got(renewed, 'auth:error'), []);
		await ok(renewed, 'channel:list');
	}));
});

describe('key rotation on SIGHUP (jwt-secret-previous)', () => {
	const NEW = 'the-rotated-confabd-secret-0123456789abcdefgh';
	const sockets = [];

	const d = useDaemon({ workers: 2, extraConf: CHAT_CONF, sockets });

	// Rewrite the file with these jwt lines, SIGHUP, wait for every
	// worker to have re-read it.
	async function reload(lines) {
		const old = await fsp.readFile(d.confPath, 'utf8');
		const kept = old.split('\n').filter((l) => !/^jwt-secret/.test(l));
		await fsp.writeFile(d.confPath, [...kept, ...lines, ''].join('\n'));
		const m = d.logMark();
		d.signal('SIGHUP');
		await d.waitForLog(/configuration reloaded/, 5000, m);
		// The master logs first; give the workers their turn.
		await sleep(300);
	}
	async function tryToken(token) {
		const s = await openTab(d, { label: 'rot' });
		sockets.push(s);
		const r = await ask(s, 'authenticate', token);
		s.close();
		return r;
	}
	const user = { userId: '77', displayName: 'Rotating' };

	it('old and new secrets during the rotation, only the new after',
	    withLogs(async () => {
		assert.equal((await tryToken(mint(user))).ok, true, 'old, before');
		await reload([`jwt-secret ${NEW}`, `jwt-secret-previous ${SECRET}`]);
		assert.equal((await tryToken(mint(user))).ok, true,
		    'old secret accepted as previous');
		assert.equal((await tryToken(mint(user, { secret: NEW }))).ok, true,
		    'new secret accepted');
		await reload([`jwt-secret ${NEW}`]);
		const r = await tryToken(mint(user));
		assert.equal(r.ok, false, 'old secret refused once removed');
		assert.equal(r.error.code, 'not_authenticated');
		assert.equal((await tryToken(mint(user, { secret: NEW }))).ok, true);
	}));
});

// The HTTP API (/api/v1, issue 14): every endpoint with fetch, its effect
// seen by socket.io-client sockets of users whose tabs sit on two
// different workers, and every error status, with nothing stored or
// emitted on an error.  The API across two hosts is in 42-api-cluster.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import net from 'node:net';
import { startDaemon, useDaemon, freePort, sleep } from './lib/daemon.mjs';
import { ask, until } from './lib/client.mjs';
import { CHAT_CONF, login, auth, openTab, ok, waitFor, mark, assertNone,
    createChannel, send, history, listed, disconnected, got,
    uniq } from './lib/chat.mjs';
import { mint, nowSec } from './lib/token.mjs';
import { apiCall } from './lib/api.mjs';

const KEY = 'k'.repeat(20) + '0123456789abcdefghijklmn';
const KEY2 = 'second-key-0123456789-0123456789-abcd';
const API_CONF = [`api-key backend ${KEY}`, `api-key other ${KEY2}`];

function api(d, method, path, opts = {}) {
	return apiCall(d, method, path, { key: KEY, ...opts });
}

/*
 * Send raw bytes on a new connection; resolves everything the server sent
 * until it closed the connection.
 */
function rawRequest(port, text, timeoutMs = 5000) {
	return new Promise((resolve, reject) => {
		const c = net.connect(port, '127.0.0.1', () => c.write(text));
		let got = '';
		c.setTimeout(timeoutMs, () => {
			c.destroy();
			reject(new Error(`no close; got ${got.slice(0, 200)}`));
		});
		c.on('data', (b) => { got += b; });
		c.on('error', reject);
		c.on('close', () => resolve(got));
	});
}

function assertError(r, status, code, what = '') {
	assert.equal(r.status, status, `${what}: ${r.text}`);
	assert.equal(r.body?.error?.code, code, `${what}: ${r.text}`);
	assert.equal(typeof r.body.error.message, 'string');
}

let nextUser = 500;
function user(role = 'user') {
	const n = ++nextUser;
	return { userId: String(n), displayName: `User ${n}`, role, id: n };
}

describe('HTTP API', () => {
	const sockets = [];
	const d = useDaemon({ workers: 2, sockets, closeEach: true,
	    extraConf: [...CHAT_CONF, ...API_CONF, 'rate-limit 10000 1'] });

	// Two tabs of a user, on two different workers.
	async function twoTabs(u) {
		const a = await login(d, u);
		const b = await login(d, u, { notOn: [a.who.pid] });
		sockets.push(a, b);
		return [a, b];
	}

	it('refuses a request without a key, or with a wrong one, and logs ' +
	    'the name of the key, never the key', async () => {
		assertError(await api(d, 'GET', '/channels', { key: null }), 401,
		    'unauthorized', 'no key');
		assertError(await api(d, 'GET', '/channels',
		    { key: KEY.slice(0, -1) + 'X' }), 401, 'unauthorized', 'wrong');
		assertError(await api(d, 'GET', '/channels', { key: 'short' }),
		    401, 'unauthorized', 'short');
		assertError(await api(d, 'GET', '/channels', { key: null,
		    headers: { authorization: `Basic ${KEY}` } }), 401,
		    'unauthorized', 'Basic');
		const since = d.logMark();
		const r = await api(d, 'GET', '/channels', { key: KEY2 });
		assert.equal(r.status, 200);
		const line = await d.waitForLog(/event=api key=other status=200 /,
		    5000, since);
		assert.match(line, /method=GET path=\/api\/v1\/channels /);
		assert.ok(!d.stderrLines().some((l) => l.includes(KEY) ||
		    l.includes(KEY2)), 'a key was logged');
	});

	it('creates, lists, reads, renames and archives channels; members ' +
	    'are told on every worker', async () => {
		const agent = user('agent'), customer = user();
		const [a1, a2] = await twoTabs(agent);
		const [c1] = await twoTabs(customer);
		const name = uniq('ticket');
		let r = await api(d, 'POST', '/channels', { body: { name,
		    description: 'Ticket 1', isPrivate: true,
		    memberIds: [agent.id, customer.userId] } });
		assert.equal(r.status, 201, r.text);
		const ch = r.body.channel;
		assert.equal(ch.name, name);
		assert.equal(ch.isPrivate, true);
		assert.equal(ch.createdBy, 0);
		for (const s of [a1, a2, c1]) {
			const ev = await waitFor(s, 'channel:added',
			    (e) => e.channel.id === ch.id);
			assert.equal(ev.addedBy, 'backend');
		}
		assert.ok(await listed(a1, ch.id), 'in the agent\'s channel:list');
		// The members, without the operator.
		r = await api(d, 'GET', `/channels/${ch.id}/members`);
		assert.equal(r.status, 200);
		assert.deepEqual(r.body.members.map((m) => m.userId).sort(),
		    [agent.id, customer.id].sort());
		const am = r.body.members.find((m) => m.userId === agent.id);
		assert.equal(am.displayName, agent.displayName);
		assert.equal(am.role, 'agent');
		// Read one, list with paging.
		r = await api(d, 'GET', `/channels/${ch.id}`);
		assert.deepEqual(r.body.channel, ch);
		r = await api(d, 'GET', `/channels?after=${ch.id - 1}&limit=1`);
		assert.equal(r.status, 200);
		assert.deepEqual(r.body.channels.map((c) => c.id), [ch.id]);
		// A name taken, case-insensitively: 409, nothing created.
		const before = (await api(d, 'GET', '/channels?limit=100')).body
		    .channels.length;
		assertError(await api(d, 'POST', '/channels', { body: {
		    name: name.toUpperCase() } }), 409, 'conflict', 'taken');
		assert.equal((await api(d, 'GET', '/channels?limit=100')).body
		    .channels.length, before);
		// Rename: channel_updated to the room, by the key's name or the
		// userId given.
		await ok(a1, 'join_channel', ch.id);
		await ok(c1, 'join_channel', ch.id);
		r = await api(d, 'PATCH', `/channels/${ch.id}`, { body: {
		    description: 'Escalated' } });
		assert.equal(r.status, 200, r.text);
		assert.equal(r.body.channel.description, 'Escalated');
		let ev = await waitFor(c1, 'channel_updated',
		    (e) => e.changes.description === 'Escalated');
		assert.equal(ev.channelId, ch.id);
		assert.equal(ev.updatedBy, 'backend');
		r = await api(d, 'PATCH', `/channels/${ch.id}`, { body: {
		    name: `${name}-b`, userId: agent.id } });
		assert.equal(r.status, 200, r.text);
		ev = await waitFor(a1, 'channel_updated',
		    (e) => e.changes.name === `${name}-b`);
		assert.equal(ev.updatedBy, agent.id);
		// Archive: told once, history kept, nothing new accepted.
		await send(a1, ch.id, 'before the archive');
		r = await api(d, 'DELETE', `/channels/${ch.id}`);
		assert.equal(r.status, 200, r.text);
		assert.match(r.body.channel.archivedAt, /Z$/);
		ev = await waitFor(a1, 'channel_updated',
		    (e) => e.changes.archived === true);
		assert.equal(ev.updatedBy, 'backend');
		r = await api(d, 'DELETE', `/channels/${ch.id}`);
		assert.equal(r.status, 200, 'archiving twice');
		assertError(await api(d, 'POST', `/channels/${ch.id}/messages`,
		    { body: { message: 'late' } }), 409, 'archived', 'post');
		const nack = await ask(a1, 'chat:send_message',
		    { channelId: ch.id, message: 'late' });
		assert.equal(nack.ok, false);
		assert.equal(nack.error.code, 'forbidden');
		assert.equal(nack.error.message, 'Channel is archived');
		const jack = await ask(a2, 'join_channel', ch.id);
		assert.equal(jack.ok, false);
		assert.equal(jack.error.message, 'Channel is archived');
		assertError(await api(d, 'PUT',
		    `/channels/${ch.id}/members/999`), 409, 'archived', 'member');
		assert.equal(await listed(a1, ch.id), undefined,
		    'an archived channel leaves channel:list');
		const h = await history(a1, ch.id);
		assert.deepEqual(h.map((m) => m.message), ['before the archive']);
		r = await api(d, 'GET', `/channels/${ch.id}/messages`);
		assert.deepEqual(r.body.messages.map((m) => m.message),
		    ['before the archive']);
		// Unknown channel: 404 on every channel path.
		for (const [m, p] of [['GET', '/channels/987654'],
		    ['PATCH', '/channels/987654'], ['DELETE', '/channels/987654'],
		    ['GET', '/channels/987654/members'],
		    ['PUT', '/channels/987654/members/1'],
		    ['GET', '/channels/987654/messages'],
		    ['POST', '/channels/987654/messages'],
		    ['GET', '/channels/abc']]) {
			const body = m === 'PATCH' ? { description: 'x' } :
			    m === 'POST' ? { message: 'x' } : undefined;
			assertError(await api(d, m, p, { body }), 404, 'not_found',
			    `${m} ${p}`);
		}
	});

	it('adds and removes members: a removed member\'s sockets on every ' +
	    'worker leave the room at once and are told', async () => {
		const owner = user('admin'), member = user();
		const s1 = await login(d, owner);
		sockets.push(s1);
		const ch = await createChannel(s1, { name: uniq('private'),
		    isPrivate: true });
		const [m1, m2] = await twoTabs(member);
		let r = await api(d, 'PUT', `/channels/${ch.id}/members/` +
		    member.userId);
		assert.equal(r.status, 201, r.text);
		assert.deepEqual(r.body, { channelId: ch.id, userId: member.id,
		    added: true });
		for (const s of [m1, m2])
			await waitFor(s, 'channel:added', (e) => e.channel.id === ch.id);
		assertError(await api(d, 'PUT', `/channels/${ch.id}/members/` +
		    member.userId, { body: { role: 'owner' } }), 400,
		    'bad_request', 'a body member');
		r = await api(d, 'PUT', `/channels/${ch.id}/members/` +
		    member.userId);
		assert.equal(r.status, 200, 'adding twice');
		assert.equal(r.body.added, false);
		await ok(m1, 'join_channel', ch.id);
		await ok(m2, 'join_channel', ch.id);
		await send(s1, ch.id, 'seen by both tabs');
		for (const s of [m1, m2])
			await waitFor(s, 'chat:new_message',
			    (m) => m.message === 'seen by both tabs');
		r = await api(d, 'DELETE', `/channels/${ch.id}/members/` +
		    member.userId);
		assert.equal(r.status, 200, r.text);
		for (const s of [m1, m2]) {
			const ev = await waitFor(s, 'channel:removed',
			    (e) => e.channelId === ch.id);
			assert.equal(ev.removedBy, 'backend');
		}
		const marks = await mark([m1, m2]);
		await send(s1, ch.id, 'after the removal');
		await assertNone(marks, ['chat:new_message']);
		const nack = await ask(m1, 'chat:get_messages', { channelId: ch.id });
		assert.equal(nack.ok, false);
		assert.equal(nack.error.code, 'not_found');
		assertError(await api(d, 'DELETE', `/channels/${ch.id}/members/` +
		    member.userId), 404, 'not_found', 'removing twice');
	});

	it('posts messages: stored, committed, then sent to the room on ' +
	    'every worker; Idempotency-Key deduplicates', async () => {
		const u = user('admin');
		const [t1, t2] = await twoTabs(u);
		const ch = await createChannel(t1, { name: uniq('room') });
		await ok(t2, 'join_channel', ch.id);
		let r = await api(d, 'POST', `/channels/${ch.id}/messages`, {
		    body: { message: 'Ticket #12 was closed' },
		    headers: { 'idempotency-key': 'evt-1' } });
		assert.equal(r.status, 201, r.text);
		const sys = r.body.message;
		assert.equal(r.body.duplicate, false);
		assert.equal(sys.userId, 0);
		assert.equal(sys.userDisplayName, 'System');
		assert.equal(sys.messageType, 'text');
		for (const s of [t1, t2]) {
			const m = await waitFor(s, 'chat:new_message',
			    (x) => x.id === sys.id);
			assert.deepEqual(m, sys);
		}
		const marks = await mark([t1, t2]);
		r = await api(d, 'POST', `/channels/${ch.id}/messages`, {
		    body: { message: 'Ticket #12 was closed' },
		    headers: { 'idempotency-key': 'evt-1' } });
		assert.equal(r.status, 200, 'a retry');
		assert.equal(r.body.duplicate, true);
		assert.deepEqual(r.body.message, sys);
		await assertNone(marks, ['chat:new_message']);
		// On behalf of a user, as a reply, with a type.
		r = await api(d, 'POST', `/channels/${ch.id}/messages`, {
		    body: { message: 'from the portal', userId: u.id,
		    replyToId: sys.id, messageType: 'ticket_link' } });
		assert.equal(r.status, 201, r.text);
		assert.equal(r.body.message.userId, u.id);
		assert.equal(r.body.message.userDisplayName, u.displayName);
		assert.equal(r.body.message.replyToId, sys.id);
		await waitFor(t2, 'chat:new_message',
		    (x) => x.id === r.body.message.id);
		// Bad values: 400, nothing stored or sent.
		const m2 = await mark([t1, t2]);
		for (const body of [{}, { message: '' }, { message: '   ' },
		    { message: 5 }, { message: 'x', messageType: 'video' },
		    { message: 'x', replyToId: -1 }, { message: 'x', extra: 1 },
		    { message: 'x'.repeat(4001) }, { message: 'x', userId: '' },
		    { message: 'x', displayName: '' }]) {
			assertError(await api(d, 'POST',
			    `/channels/${ch.id}/messages`, { body }), 400,
			    'bad_request', JSON.stringify(body).slice(0, 80));
		}
		assertError(await api(d, 'POST', `/channels/${ch.id}/messages`,
		    { body: { message: 'x', replyToId: 99999999 } }), 404,
		    'not_found', 'reply target');
		for (const n of [129, 600]) {
			assertError(await api(d, 'POST',
			    `/channels/${ch.id}/messages`, { body: { message: 'x' },
			    headers: { 'idempotency-key': 'k'.repeat(n) } }), 400,
			    'bad_request', `key of ${n} bytes`);
		}
		const gone = await api(d, 'POST', '/channels/987654/messages',
		    { body: { message: 'x', replyToId: sys.id } });
		assertError(gone, 404, 'not_found', 'no channel, with a reply');
		assert.equal(gone.body.error.message, 'Channel not found');
		await assertNone(m2, ['chat:new_message']);
		// History as chat:get_messages pages it.
		r = await api(d, 'GET', `/channels/${ch.id}/messages?limit=1`);
		assert.equal(r.status, 200);
		assert.equal(r.body.messages.length, 1);
		assert.equal(r.body.hasMore, true);
		const page = await ask(t1, 'chat:get_messages',
		    { channelId: ch.id, limit: 1 });
		assert.deepEqual(r.body.messages, page.messages);
		r = await api(d, 'GET', `/channels/${ch.id}/messages?after=${sys.id}`);
		assert.deepEqual(r.body.messages.map((m) => m.message),
		    ['from the portal']);
		r = await api(d, 'GET', `/channels/${ch.id}/messages?before=` +
		    `${sys.id + 1}&limit=5`);
		assert.deepEqual(r.body.messages.map((m) => m.id), [sys.id]);
		assertError(await api(d, 'GET', `/channels/${ch.id}/messages?` +
		    `before=5&after=1`), 400, 'bad_request', 'before+after');
		assertError(await api(d, 'GET', `/channels/${ch.id}/messages?` +
		    'limit=101'), 400, 'bad_request', 'limit');
		assertError(await api(d, 'GET', `/channels/${ch.id}/messages?` +
		    'limit=abc'), 400, 'bad_request', 'limit abc');
		assert.equal((await history(t1, ch.id)).length, 2);
	});

	it('upserts users and answers profiles and presence, cluster-wide ' +
	    'connection counts included', async () => {
		const u = user('agent');
		let r = await api(d, 'PUT', `/users/${u.userId}`, { body: {
		    displayName: 'Pre-provisioned', role: 'agent' } });
		assert.equal(r.status, 200, r.text);
		assert.equal(r.body.user.id, u.id);
		assert.equal(r.body.user.displayName, 'Pre-provisioned');
		r = await api(d, 'GET', `/users/${u.userId}`);
		assert.equal(r.body.user.status, 'offline');
		assert.equal(r.body.user.connections, 0);
		const [t1] = await twoTabs(u);
		r = await api(d, 'GET', `/users/${u.userId}`);
		assert.equal(r.body.user.displayName, u.displayName,
		    'the token\'s name once connected');
		assert.equal(r.body.user.status, 'online');
		assert.equal(r.body.user.connections, 2);
		await ok(t1, 'presence:set_status', 'busy');
		r = await api(d, 'GET', `/presence?userIds=${u.userId},nobody`);
		assert.deepEqual(r.body.presence, [
		    { userId: u.id, status: 'busy', connections: 2 },
		    { userId: 'nobody', status: 'offline', connections: 0 }]);
		assertError(await api(d, 'GET', '/users/no-such-user'), 404,
		    'not_found', 'unknown user');
		assertError(await api(d, 'PUT', `/users/${u.userId}`, { body: {
		    displayName: 'x', role: 'wizard' } }), 400, 'bad_request',
		    'unknown role');
		assertError(await api(d, 'PUT', `/users/${u.userId}`, { body: {
		    displayName: 'x' } }), 400, 'bad_request', 'no role');
		assertError(await api(d, 'GET', '/presence'), 400, 'bad_request',
		    'no ids');
		assertError(await api(d, 'GET', `/presence?userIds=${
		    Array.from({ length: 101 }, (_, i) => i + 1).join(',')}`),
		    400, 'bad_request', '101 ids');
		assertError(await api(d, 'GET', '/presence?userIds=1,,2'), 400,
		    'bad_request', 'empty id');
	});

	it('disconnects every socket of a user on every worker', async () => {
		const u = user(), other = user();
		const [t1, t2] = await twoTabs(u);
		const [o1] = await twoTabs(other);
		const r = await api(d, 'POST', `/users/${u.userId}/disconnect`);
		assert.equal(r.status, 200, r.text);
		for (const s of [t1, t2])
			assert.equal((await disconnected(s)).reason,
			    'io server disconnect');
		assert.equal(o1.connected, true, 'another user stays');
		await ok(o1, 'channel:list');
	});

	it('revokes a user\'s tokens: live sockets close, old tokens are ' +
	    'refused, newer ones work', async () => {
		const u = user();
		const [t1, t2] = await twoTabs(u);
		const old = mint(u);
		await sleep(1100);	/* a revocation time after old's iat */
		const r = await api(d, 'POST', `/users/${u.userId}/revoke`);
		assert.equal(r.status, 200, r.text);
		for (const s of [t1, t2]) {
			assert.equal(await waitFor(s, 'auth:error'), 'Token revoked');
			await disconnected(s);
		}
		const s = await openTab(d);
		sockets.push(s);
		const nack = await ask(s, 'authenticate', old);
		assert.equal(nack.ok, false);
		assert.equal(nack.error.message, 'Token revoked');
		const fresh = mint({ ...u, iat: nowSec() + 1 });
		await auth(s, fresh);
		// A time in the past moves nothing back.
		const r2 = await api(d, 'POST', `/users/${u.userId}/revoke`,
		    { body: { before: '2020-01-01T00:00:00Z' } });
		assert.equal(r2.body.revokedBefore, r.body.revokedBefore);
		assertError(await api(d, 'POST', `/users/${u.userId}/revoke`,
		    { body: { before: 'tomorrow' } }), 400, 'bad_request', 'bad time');
	});

	it('emits custom events to a user, a channel or every authenticated ' +
	    'socket, and refuses the spec\'s names', async () => {
		const u = user(), v = user('admin');
		const [t1, t2] = await twoTabs(u);
		const [v1] = await twoTabs(v);
		const ch = await createChannel(v1, { name: uniq('emit') });
		let r = await api(d, 'POST', '/emit', { body: {
		    room: `user:${u.userId}`, event: 'ticket:assigned',
		    args: [{ ticket: 12 }, 'urgent'] } });
		assert.equal(r.status, 200, r.text);
		for (const s of [t1, t2]) {
			await waitFor(s, 'ticket:assigned');
			assert.deepEqual(got(s, 'ticket:assigned').length, 1);
			const rec = s.rec.find((x) => x.event === 'ticket:assigned');
			assert.deepEqual(rec.args, [{ ticket: 12 }, 'urgent']);
		}
		assert.equal(got(v1, 'ticket:assigned').length, 0);
		r = await api(d, 'POST', '/emit', { body: {
		    room: `channel:${ch.id}`, event: 'ticket:note', args: [] } });
		assert.equal(r.status, 200);
		await waitFor(v1, 'ticket:note');
		r = await api(d, 'POST', '/emit', { body: { room: 'authenticated',
		    event: 'maintenance' } });
		assert.equal(r.status, 200);
		for (const s of [t1, t2, v1])
			await waitFor(s, 'maintenance');
		const marks = await mark([t1, t2, v1]);
		for (const [body, what] of [
		    [{ room: 'everyone', event: 'x' }, 'room'],
		    [{ room: 'channel:abc', event: 'x' }, 'channel room'],
		    [{ room: 'authenticated', event: 'chat:new_message' }, 'spec'],
		    [{ room: 'authenticated', event: 'authenticated' }, 'spec'],
		    [{ room: 'authenticated', event: 'join_channel' }, 'client'],
		    [{ room: 'authenticated', event: 'confab:revoked' }, 'prefix'],
		    [{ room: 'authenticated', event: 'disconnect' }, 'reserved'],
		    [{ room: 'authenticated', event: '' }, 'empty'],
		    [{ room: 'authenticated', event: 'x', args: {} }, 'args'],
		    [{ room: 'authenticated', event: 'x', args:
		    Array(17).fill(0) }, '17 args']]) {
			assertError(await api(d, 'POST', '/emit', { body }), 400,
			    'bad_request', what);
		}
		await assertNone(marks, ['chat:new_message', 'authenticated',
		    'join_channel', 'x', 'confab:revoked']);
	});

	it('broadcasts a stored system message to every socket', async () => {
		const u = user();
		const [t1, t2] = await twoTabs(u);
		const r = await api(d, 'POST', '/broadcasts', { body: {
		    message: 'Maintenance at 22:00', priority: 'high' } });
		assert.equal(r.status, 201, r.text);
		for (const s of [t1, t2]) {
			const ev = await waitFor(s, 'system_broadcast_received');
			assert.equal(ev.message, 'Maintenance at 22:00');
			assert.equal(ev.priority, 'high');
			assert.equal(ev.from, 'backend');
			assert.equal(ev.broadcastId, r.body.broadcastId);
		}
		assertError(await api(d, 'POST', '/broadcasts', { body: {
		    message: 'x', priority: 'urgent' } }), 400, 'bad_request', 'prio');
	});

	it('answers malformed requests with the right status and stores ' +
	    'nothing', async () => {
		const count = async () => (await api(d, 'GET',
		    '/channels?limit=100')).body.channels.length;
		const n = await count();
		assertError(await api(d, 'POST', '/channels', { raw: '{"name":',
		    headers: { 'content-type': 'application/json' } }), 400,
		    'bad_request', 'bad JSON');
		assertError(await api(d, 'POST', '/channels', { raw: '["x"]',
		    headers: { 'content-type': 'application/json' } }), 400,
		    'bad_request', 'array');
		assertError(await api(d, 'POST', '/channels', {
		    raw: '{"name":"a","name":"b"}',
		    headers: { 'content-type': 'application/json' } }), 400,
		    'bad_request', 'duplicate key');
		assertError(await api(d, 'POST', '/channels', { raw: 'name=x',
		    headers: { 'content-type': 'application/x-www-form-urlencoded' } }),
		    415, 'unsupported_media_type', 'form');
		assertError(await api(d, 'POST', '/channels', { body: {
		    name: 'ok', isPrivate: 'yes' } }), 400, 'bad_request', 'type');
		assertError(await api(d, 'POST', '/channels', { body: {
		    name: 'ok', owner: 1 } }), 400, 'bad_request', 'unknown field');
		assertError(await api(d, 'POST', '/channels', { body: {
		    description: 'no name' } }), 400, 'bad_request', 'no name');
		// Over max-payload: refused from the head, before any byte of
		// the body is read, and the connection closed.
		const head = await rawRequest(d.port, 'POST /api/v1/channels ' +
		    'HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ' + KEY +
		    '\r\nContent-Type: application/json\r\n' +
		    'Content-Length: 1000001\r\n\r\n{"name":');
		assert.match(head, /^HTTP\/1\.1 413 /);
		assert.match(head, /"payload_too_large"/);
		assertError(await api(d, 'PUT', '/channels'), 405,
		    'method_not_allowed', 'PUT /channels');
		assertError(await api(d, 'GET', '/nothing'), 404, 'not_found',
		    'unknown path');
		assert.equal(await count(), n, 'nothing stored');
		// The daemon still serves.
		assert.equal((await api(d, 'GET', '/channels')).status, 200);
	});

	it('never holds a body for a client without a key, and drops a ' +
	    'stalled body while others are served', async () => {
		// No key, a body announced and never sent: 401 from the head,
		// and the connection closed unread.
		const unauth = await rawRequest(d.port, 'POST /api/v1/channels ' +
		    'HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
		    'Content-Length: 900000\r\n\r\n{"na', 5000);
		assert.match(unauth, /^HTTP\/1\.1 401 /);
		// With a key, a body that stalls: the connection is closed by
		// the server's timeout, nothing answered or stored, and other
		// requests are served meanwhile.
		const stalled = rawRequest(d.port, 'POST /api/v1/channels ' +
		    'HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ' + KEY +
		    '\r\nContent-Type: application/json\r\n' +
		    'Content-Length: 500\r\n\r\n{"name":"stalled', 40000);
		for (let i = 0; i < 5; i++)
			assert.equal((await api(d, 'GET', '/channels')).status, 200);
		assert.equal(await stalled, '');
		const r = await api(d, 'GET', '/channels?limit=100');
		assert.ok(!r.body.channels.some((c) => c.name.startsWith('stalled')));
	});
});

describe('HTTP API: off, rate limited, on its own listener', () => {
	it('is off (404) while no api-key is configured', async () => {
		const d = await startDaemon({ workers: 1, extraConf: CHAT_CONF });
		try {
			const r = await api(d, 'GET', '/channels');
			assertError(r, 404, 'not_found', 'off');
			assert.match(r.body.error.message, /api-key/);
		} finally {
			await d.stop();
		}
	});

	it('takes keys added and removed by SIGHUP, without a restart',
	    async () => {
		const d = await startDaemon({ workers: 2, extraConf: [...CHAT_CONF,
		    `api-key backend ${KEY}`] });
		try {
			const pids = d.workerPids().sort();
			assert.equal((await api(d, 'GET', '/channels')).status, 200);
			assertError(await api(d, 'GET', '/channels', { key: KEY2 }),
			    401, 'unauthorized', 'not yet');
			const conf = await fsp.readFile(d.confPath, 'utf8');
			await fsp.writeFile(d.confPath, conf.replace(
			    `api-key backend ${KEY}`, `api-key other ${KEY2}`));
			const since = d.logMark();
			d.signal('SIGHUP');
			await d.waitForLog(/configuration reloaded/, 5000, since);
			// Every worker: a request lands on either.
			await until(async () => {
				for (let i = 0; i < 6; i++) {
					if ((await api(d, 'GET', '/channels',
					    { key: KEY2 })).status !== 200)
						return false;
				}
				return true;
			}, 5000, 'the new key on every worker');
			for (let i = 0; i < 6; i++) {
				assertError(await api(d, 'GET', '/channels'), 401,
				    'unauthorized', 'the removed key');
			}
			assert.deepEqual(d.workerPids().sort(), pids,
			    'the same workers');
			assert.ok(!d.stderrLines().some((l) => l.includes(KEY2)),
			    'the new key is not logged');
		} finally {
			await d.stop();
		}
	});

	it('answers 429 over api-rate-limit, per key, and recovers', async () => {
		const d = await startDaemon({ workers: 1, extraConf: [...CHAT_CONF,
		    ...API_CONF, 'api-rate-limit 5 2'] });
		try {
			for (let i = 0; i < 5; i++)
				assert.equal((await api(d, 'GET', '/channels')).status,
				    200);
			assertError(await api(d, 'GET', '/channels'), 429,
			    'rate_limited', '6th');
			assert.equal((await api(d, 'GET', '/channels',
			    { key: KEY2 })).status, 200, 'the other key');
			await sleep(2100);
			assert.equal((await api(d, 'GET', '/channels')).status, 200);
		} finally {
			await d.stop();
		}
	});

	it('serves the API only on api-listen when it is set', async () => {
		const apiPort = await freePort();
		const d = await startDaemon({ workers: 2, extraConf: [...CHAT_CONF,
		    ...API_CONF, `api-listen 127.0.0.1:${apiPort}`] });
		try {
			assert.equal((await api(d, 'GET', '/channels')).status, 404);
			const r = await api(d, 'GET', '/channels', { port: apiPort });
			assert.equal(r.status, 200, r.text);
			const sio = await fetch(`http://127.0.0.1:${apiPort}` +
			    '/socket.io/?EIO=4&transport=polling');
			assert.equal(sio.status, 404, 'no Socket.IO on the API port');
			const hz = await fetch(`http://127.0.0.1:${apiPort}/healthz`);
			assert.equal(hz.status, 200);
			const main = await fetch(`${d.url}/socket.io/?EIO=4&` +
			    'transport=polling');
			assert.equal(main.status, 200, 'Socket.IO on the main port');
		} finally {
			await d.stop();
		}
	});
});

// The HTTP API across two hosts sharing Redis and PostgreSQL (issue 14):
// what a call on host A does reaches the sockets of host B -- a message
// posted, a member added or removed, a user disconnected or revoked, a
// custom event -- and presence counts connections on every host.  A
// revocation is stored: it holds on the other host and after a restart.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { useTwoHosts } from './lib/hosts.mjs';
import { ask, until } from './lib/client.mjs';
import { openTab, ok, waitFor, mark, assertNone,
    createChannel, send, disconnected, uniq } from './lib/chat.mjs';
import { mint } from './lib/token.mjs';
import { apiCall } from './lib/api.mjs';

const KEY = 'cluster-key-0123456789-0123456789-abcdef';

let nextUser = 9100;
function user(role = 'user') {
	const n = ++nextUser;
	return { userId: String(n), displayName: `User ${n}`, role, id: n };
}

describe('HTTP API across two hosts', () => {
	const h = useTwoHosts({ extraConf: [`api-key backend ${KEY}`] });
	const sockets = h.sockets;
	let a, b, pg;
	before(() => ({ a, b, pg } = h));
	const on = (d, u) => h.on(d, u);
	const call = (d, method, path, opts = {}) =>
	    apiCall(d, method, path, { key: KEY, ...opts });

	it('delivers posted messages, member changes and custom events to ' +
	    'the other host\'s sockets', async () => {
		const owner = user('admin'), member = user();
		const o = await on(a, owner);
		const ch = await createChannel(o, { name: uniq('x'),
		    isPrivate: true });
		const m = await on(b, member);
		let r = await call(a, 'PUT', `/channels/${ch.id}/members/` +
		    member.userId);
		assert.equal(r.status, 201, r.text);
		await waitFor(m, 'channel:added', (e) => e.channel.id === ch.id);
		await ok(m, 'join_channel', ch.id);
		r = await call(a, 'POST', `/channels/${ch.id}/messages`, {
		    body: { message: 'from the backend' } });
		assert.equal(r.status, 201, r.text);
		const got = await waitFor(m, 'chat:new_message',
		    (x) => x.id === r.body.message.id);
		assert.equal(got.userId, 0);
		r = await call(a, 'POST', '/emit', { body: {
		    room: `user:${member.userId}`, event: 'ticket:assigned',
		    args: [{ n: 1 }] } });
		assert.equal(r.status, 200);
		assert.deepEqual(await waitFor(m, 'ticket:assigned'), { n: 1 });
		r = await call(a, 'DELETE', `/channels/${ch.id}/members/` +
		    member.userId);
		assert.equal(r.status, 200, r.text);
		await waitFor(m, 'channel:removed', (e) => e.channelId === ch.id);
		const marks = await mark([m]);
		await send(o, ch.id, 'not for the removed member');
		await assertNone(marks, ['chat:new_message']);
	});

	it('counts presence on every host and disconnects a user ' +
	    'everywhere', async () => {
		const u = user();
		const t1 = await on(a, u);
		const t2 = await on(b, u);
		// Each host learns the other's counts through Redis.
		for (const d of [a, b]) {
			await until(async () => (await call(d, 'GET',
			    `/presence?userIds=${u.userId}`)).body.presence[0]
			    .connections === 2, 5000, 'both tabs counted');
			const r = await call(d, 'GET', `/presence?userIds=${u.userId}`);
			assert.deepEqual(r.body.presence, [{ userId: u.id,
			    status: 'online', connections: 2 }]);
		}
		const r = await call(b, 'POST', `/users/${u.userId}/disconnect`);
		assert.equal(r.status, 200);
		for (const s of [t1, t2])
			assert.equal((await disconnected(s)).reason,
			    'io server disconnect');
	});

	it('revokes on one host: the other host closes its sockets and ' +
	    'refuses the token, also after a restart', async () => {
		const u = user();
		const old = mint({ ...u, iat: Math.floor(Date.now() / 1000) - 5 });
		const t = await openTab(b);
		sockets.push(t);
		assert.equal((await ask(t, 'authenticate', old)).ok, true);
		const r = await call(a, 'POST', `/users/${u.userId}/revoke`);
		assert.equal(r.status, 200, r.text);
		assert.equal(await waitFor(t, 'auth:error'), 'Token revoked');
		await disconnected(t);
		b = await h.restart('b');
		const t2 = await openTab(b);
		sockets.push(t2);
		const nack = await ask(t2, 'authenticate', old);
		assert.equal(nack.ok, false);
		assert.equal(nack.error.message, 'Token revoked');
	});

	it('answers 503 while the database is down, and serves again when ' +
	    'it is back', async () => {
		const owner = user('admin');
		const o = await on(a, owner);
		const ch = await createChannel(o, { name: uniq('db') });
		await pg.halt();
		try {
			let r = await call(a, 'GET', `/channels/${ch.id}`);
			assert.equal(r.status, 503, r.text);
			assert.equal(r.body.error.code, 'unavailable');
			r = await call(b, 'POST', `/channels/${ch.id}/messages`,
			    { body: { message: 'while down' } });
			assert.equal(r.status, 503, r.text);
		} finally {
			await pg.start();
		}
		// Each worker reconnects at its next query after the outage.
		const r = await until(async () => {
			const x = await call(a, 'GET', `/channels/${ch.id}/messages`);
			return x.status === 200 ? x : null;
		}, 10000, 'the API after the database came back');
		assert.deepEqual(r.body.messages, [], 'nothing stored while down');
	});
});

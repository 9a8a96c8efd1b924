// Message actions (issue 15, doc/events.md "Edits, deletes, reactions,
// threads"): chat:edit_message, chat:delete_message (tombstones),
// chat:react (reactions in history and chat:new_message, "me" per
// reader), chat:get_thread (replyCount, lastReplyAt), the permission
// chat.moderate_messages, the HTTP API's /api/v1/messages, and the events
// across workers and across two hosts on PostgreSQL.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import { useDaemon, withLogs, startDaemon } from './lib/daemon.mjs';
import { useTwoHosts } from './lib/hosts.mjs';
import { closeAll, until } from './lib/client.mjs';
import { CHAT_CONF, login, ok, refused, waitFor, mark, assertNone,
    createChannel, send, history, assertIso, uniq,
    assertNoWorkerDied } from './lib/chat.mjs';
import { apiCall } from './lib/api.mjs';

const KEY = 'msgact-key-0123456789-0123456789-abcdef';
const ACTION_EVENTS = ['chat:message_updated', 'chat:message_deleted',
    'chat:reaction_updated'];

let nextUser = 7300;
function user(role = 'user') {
	const n = ++nextUser;
	return { userId: String(n), displayName: `User ${n}`, role, id: n };
}

describe('message actions', () => {
	let pidsBefore;
	const sockets = [];
	const d = useDaemon({ workers: 2, extraConf: [...CHAT_CONF,
	    'max-message-length 100', 'rate-limit 10000 1',
	    'role mod chat.access chat.send_messages chat.moderate_messages',
	    `api-key backend ${KEY}`], sockets, closeEach: true });
	const call = (method, path, opts = {}) =>
	    apiCall(d, method, path, { key: KEY, ...opts });
	before(() => {
		pidsBefore = d.workerPids();
	});

	async function as(u, tabOpts) {
		const s = await login(d, u, tabOpts);
		sockets.push(s);
		return s;
	}

	/*
	 * A public channel made by an admin; alice (the author) and bob on
	 * different workers joined; carol (a user) and an outsider admin
	 * not members.
	 */
	async function room(fields = {}) {
		const adminU = user('admin'), aliceU = user(), bobU = user();
		const admin = await as(adminU);
		const ch = await createChannel(admin, fields);
		const alice = await as(aliceU);
		const bob = await as(bobU, { notOn: [alice.who.pid] });
		for (const [s, u] of [[alice, aliceU], [bob, bobU]]) {
			if (fields.isPrivate)
				assert.equal((await apiCall(d, 'PUT',
				    `/channels/${ch.id}/members/${u.userId}`,
				    { key: KEY })).status, 201);
			await ok(s, 'join_channel', ch.id);
		}
		await ok(admin, 'join_channel', ch.id);
		const carol = await as(user());
		const outsider = await as(user('admin'));
		return { ch, admin, alice, bob, carol, outsider, aliceU, bobU,
		    adminU };
	}

	it('edits: chat:message_updated to every tab, history has the new ' +
	    'text and editedAt', withLogs(async () => {
		const { ch, alice, bob, admin, aliceU } = await room();
		assert.notEqual(alice.who.pid, bob.who.pid, 'two workers');
		const msg = await send(alice, ch.id, 'frist');
		assert.strictEqual(msg.editedAt, null);
		assert.strictEqual(msg.deleted, false);
		assert.strictEqual(msg.replyCount, 0);
		assert.strictEqual(msg.lastReplyAt, null);
		assert.deepEqual(msg.reactions, []);
		const m = await mark([alice, bob, admin]);
		const ack = await ok(alice, 'chat:edit_message',
		    { messageId: msg.id, message: 'first' });
		assert.equal(ack.message.message, 'first');
		assertIso(ack.message.editedAt, 'editedAt');
		assert.strictEqual(ack.message.editedBy, aliceU.id);
		for (const s of [alice, bob, admin]) {
			const ev = await waitFor(s, 'chat:message_updated',
			    (e) => e.id === msg.id, 3000, m.get(s));
			assert.deepEqual(ev, { id: msg.id, channelId: ch.id,
			    message: 'first', editedAt: ack.message.editedAt,
			    editedBy: aliceU.id });
		}
		const h = (await history(bob, ch.id)).find((x) => x.id === msg.id);
		assert.equal(h.message, 'first');
		assert.equal(h.editedAt, ack.message.editedAt);
		assert.equal(h.timestamp, msg.timestamp);
	}));

	it('refuses edits and deletes of others, of non-members, of unknown ' +
	    'ids and bad values; nothing is emitted', withLogs(async () => {
		const { ch, alice, bob, carol, outsider } = await room();
		const priv = await room({ isPrivate: true });
		const msg = await send(alice, ch.id, 'mine');
		const pmsg = await send(priv.alice, priv.ch.id, 'private');
		const m = await mark([alice, bob, priv.alice, priv.bob]);
		const id = msg.id;
		await refused(bob, 'chat:edit_message', [{ messageId: id,
		    message: 'x' }], 'forbidden', 'not the author');
		await refused(bob, 'chat:delete_message', [{ messageId: id }],
		    'forbidden', 'not the author');
		await refused(carol, 'chat:edit_message', [{ messageId: id,
		    message: 'x' }], 'forbidden', 'not a member');
		await refused(carol, 'chat:react', [{ messageId: id,
		    emoji: '👍', add: true }], 'forbidden', 'not a member');
		await refused(carol, 'chat:get_thread', [{ messageId: id }],
		    'forbidden', 'not a member');
		// A moderator who is not a member of a public channel.
		await refused(outsider, 'chat:delete_message', [{ messageId: id }],
		    'forbidden', 'moderator, not a member');
		// A private channel's message does not exist for others.
		for (const s of [carol, outsider, alice]) {
			const r = await refused(s, 'chat:edit_message',
			    [{ messageId: pmsg.id, message: 'x' }], 'not_found');
			assert.equal(r.error.message, 'Message not found');
			await refused(s, 'chat:get_thread',
			    [{ messageId: pmsg.id }], 'not_found');
			await refused(s, 'chat:react', [{ messageId: pmsg.id,
			    emoji: '👍', add: true }], 'not_found');
		}
		for (const ev of ['chat:edit_message', 'chat:delete_message',
		    'chat:react', 'chat:get_thread']) {
			const r = await refused(alice, ev, [{ messageId: 99999999,
			    message: 'x', emoji: '👍', add: true }], 'not_found');
			assert.equal(r.error.message, 'Message not found');
			for (const bad of ['x', -1, 0, 1.5, null, [], {}])
				await refused(alice, ev, [{ messageId: bad,
				    message: 'x', emoji: '👍', add: true }],
				    'invalid_payload', `messageId ${bad}`);
			await refused(alice, ev, ['nope'], 'invalid_payload');
		}
		for (const bad of ['', '   ', 5, null, ['x'], 'y'.repeat(101)])
			await refused(alice, 'chat:edit_message', [{ messageId: id,
			    message: bad }], 'invalid_payload', `message ${bad}`);
		await assertNone(m, ACTION_EVENTS);
		const h = (await history(alice, ch.id)).find((x) => x.id === id);
		assert.equal(h.message, 'mine');
		assert.strictEqual(h.editedAt, null);
	}));

	it('chat.moderate_messages: an admin member edits and deletes ' +
	    'others\' messages; a user cannot', withLogs(async () => {
		const { ch, alice, bob, admin, adminU } = await room();
		const a = await send(alice, ch.id, 'by alice');
		const b = await send(bob, ch.id, 'by bob');
		const m = await mark([alice, bob]);
		const ack = await ok(admin, 'chat:edit_message',
		    { messageId: a.id, message: 'moderated' });
		assert.strictEqual(ack.message.editedBy, adminU.id);
		assert.strictEqual(ack.message.userId, a.userId);
		await waitFor(bob, 'chat:message_updated', (e) =>
		    e.id === a.id && e.editedBy === adminU.id, 3000, m.get(bob));
		const del = await ok(admin, 'chat:delete_message',
		    { messageId: b.id });
		assert.strictEqual(del.message.deletedBy, adminU.id);
		await waitFor(alice, 'chat:message_deleted', (e) =>
		    e.id === b.id, 3000, m.get(alice));
		await refused(bob, 'chat:edit_message', [{ messageId: a.id,
		    message: 'no' }], 'forbidden');
		// A role given the permission by a role line; an admin token
		// whose permissions claim leaves it out.
		const modU = user('mod');
		const mod = await as(modU);
		await ok(mod, 'join_channel', ch.id);
		const c = await send(alice, ch.id, 'by alice, again');
		await ok(mod, 'chat:edit_message', { messageId: c.id,
		    message: 'by the moderator' });
		const limited = await as({ ...user('admin'),
		    permissions: ['chat.access', 'chat.send_messages'] });
		await ok(limited, 'join_channel', ch.id);
		await refused(limited, 'chat:delete_message',
		    [{ messageId: c.id }], 'forbidden');
		await ok(mod, 'chat:delete_message', { messageId: c.id });
	}));

	it('deletes: a tombstone in history, chat:message_deleted to every ' +
	    'tab, no edit, reaction or second delete after', withLogs(async () => {
		const { ch, alice, bob, aliceU } = await room();
		const root = await send(alice, ch.id, 'root');
		const msg = await send(alice, ch.id, 'secret text',
		    { replyToId: root.id });
		await ok(bob, 'chat:react', { messageId: msg.id, emoji: '👍',
		    add: true });
		const m = await mark([alice, bob]);
		const ack = await ok(alice, 'chat:delete_message',
		    { messageId: msg.id });
		assert.strictEqual(ack.message.deleted, true);
		assert.equal(ack.message.message, '');
		for (const s of [alice, bob]) {
			const ev = await waitFor(s, 'chat:message_deleted',
			    (e) => e.id === msg.id, 3000, m.get(s));
			assert.deepEqual(Object.keys(ev).sort(), ['channelId',
			    'deletedAt', 'deletedBy', 'id']);
			assert.equal(ev.channelId, ch.id);
			assert.strictEqual(ev.deletedBy, aliceU.id);
			assertIso(ev.deletedAt, 'deletedAt');
		}
		const h = (await history(bob, ch.id)).find((x) => x.id === msg.id);
		assert.strictEqual(h.deleted, true);
		assert.equal(h.message, '');
		assert.deepEqual(h.reactions, []);
		assert.equal(h.file, undefined);
		assert.equal(h.replyToId, root.id, 'the thread stays whole');
		const m2 = await mark([alice, bob]);
		for (const [ev, args] of [
		    ['chat:edit_message', { messageId: msg.id, message: 'x' }],
		    ['chat:delete_message', { messageId: msg.id }],
		    ['chat:react', { messageId: msg.id, emoji: '👍',
		    add: true }]]) {
			const r = await refused(alice, ev, [args], 'conflict');
			assert.equal(r.error.message, 'Message is deleted');
		}
		await assertNone(m2, ACTION_EVENTS);
		const t = await ok(bob, 'chat:get_thread', { messageId: root.id });
		assert.equal(t.replies.length, 1);
		assert.strictEqual(t.replies[0].deleted, true);
		assert.equal(t.message.replyCount, 1);
	}));

	it('reacts: chat:reaction_updated with counts, duplicates and ' +
	    'missing removals are quiet no-ops, history has reactions with ' +
	    '"me"', withLogs(async () => {
		const { ch, alice, bob, admin, aliceU, bobU } = await room();
		const m0 = await mark([bob]);
		const msg = await send(alice, ch.id, 'react to me');
		const nm = await waitFor(bob, 'chat:new_message',
		    (x) => x.id === msg.id, 3000, m0.get(bob));
		assert.deepEqual(nm.reactions, [], 'a new message has none');
		const m = await mark([alice, bob, admin]);
		let ack = await ok(alice, 'chat:react', { messageId: msg.id,
		    emoji: '👍', add: true });
		assert.deepEqual(ack, { ok: true, messageId: msg.id,
		    channelId: ch.id, emoji: '👍', userId: aliceU.id, add: true,
		    count: 1 });
		for (const s of [alice, bob, admin]) {
			const ev = await waitFor(s, 'chat:reaction_updated',
			    null, 3000, m.get(s));
			assert.deepEqual(ev, { messageId: msg.id, channelId: ch.id,
			    emoji: '👍', userId: aliceU.id, add: true,
			    count: 1 });
		}
		ack = await ok(bob, 'chat:react', { messageId: msg.id,
		    emoji: '👍', add: true });
		assert.equal(ack.count, 2);
		await waitFor(alice, 'chat:reaction_updated', (e) =>
		    e.userId === bobU.id && e.count === 2, 3000, m.get(alice));
		await ok(bob, 'chat:react', { messageId: msg.id,
		    emoji: ':tada:', add: true });
		// A duplicate add and a missing removal: same count, no event.
		const m2 = await mark([alice, bob]);
		ack = await ok(bob, 'chat:react', { messageId: msg.id,
		    emoji: '👍', add: true });
		assert.equal(ack.count, 2);
		ack = await ok(alice, 'chat:react', { messageId: msg.id,
		    emoji: ':tada:', add: false });
		assert.equal(ack.count, 1);
		assert.equal(ack.add, false);
		await assertNone(m2, ['chat:reaction_updated']);
		// Each reader's "me".
		const mine = (s) => history(s, ch.id).then((h) =>
		    h.find((x) => x.id === msg.id).reactions);
		assert.deepEqual(await mine(alice), [
		    { emoji: '👍', count: 2, me: true },
		    { emoji: ':tada:', count: 1, me: false }]);
		assert.deepEqual(await mine(bob), [
		    { emoji: '👍', count: 2, me: true },
		    { emoji: ':tada:', count: 1, me: true }]);
		assert.deepEqual(await mine(admin), [
		    { emoji: '👍', count: 2, me: false },
		    { emoji: ':tada:', count: 1, me: false }]);
		// A removal tells the count left.
		const m3 = await mark([alice]);
		ack = await ok(bob, 'chat:react', { messageId: msg.id,
		    emoji: '👍', add: false });
		assert.equal(ack.count, 1);
		const ev = await waitFor(alice, 'chat:reaction_updated',
		    (e) => e.add === false, 3000, m3.get(alice));
		assert.equal(ev.count, 1);
		assert.strictEqual(ev.userId, bobU.id);
	}));

	it('refuses bad emoji, bad add, and the 51st distinct emoji',
	    withLogs(async () => {
		const { ch, alice, bob } = await room();
		const msg = await send(alice, ch.id, 'emoji');
		const m = await mark([alice, bob]);
		for (const bad of ['', 'a', 'ab', '👍👍', '👍 ', ' ', ':', '::',
		    ':a b:', `:${'x'.repeat(63)}:`, '\u200d', '\ufe0f',
		    '1', 'x\u0301', '\u{1F1EB}', '\u{1F1EB}\u{1F1F7}\u{1F1EA}',
		    '\u0000', 5, null, true, ['👍'], { e: 1 },
		    '👍'.repeat(20)])
			await refused(alice, 'chat:react', [{ messageId: msg.id,
			    emoji: bad, add: true }], 'invalid_payload',
			    `emoji ${JSON.stringify(bad)}`);
		for (const bad of ['yes', 1, null, undefined])
			await refused(alice, 'chat:react', [{ messageId: msg.id,
			    emoji: '👍', add: bad }], 'invalid_payload',
			    `add ${bad}`);
		await assertNone(m, ACTION_EVENTS);
		// What an emoji may be.
		for (const good of ['👍', '👍🏽', '❤️', '👩‍👩‍👧‍👦', '🇫🇷', '1️⃣',
		    '🏴󠁧󠁢󠁳󠁣󠁴󠁿', '✔', '好', ':+1:', ':thumbs_up-2:',
		    `:${'x'.repeat(62)}:`])
			await ok(alice, 'chat:react', { messageId: msg.id,
			    emoji: good, add: true });
		// Up to 50 distinct: 12 above, 38 more.
		for (let i = 0; i < 38; i++)
			await ok(bob, 'chat:react', { messageId: msg.id,
			    emoji: `:e${i}:`, add: true });
		const r = await refused(bob, 'chat:react', [{ messageId: msg.id,
		    emoji: ':one_too_many:', add: true }], 'conflict');
		assert.match(r.error.message, /50/);
		// A present one still counts up.
		const ack = await ok(bob, 'chat:react', { messageId: msg.id,
		    emoji: '👍', add: true });
		assert.equal(ack.count, 2);
		const h = (await history(bob, ch.id)).find((x) => x.id === msg.id);
		assert.equal(h.reactions.length, 50);
	}));

	it('threads: chat:get_thread pages the replies oldest first; ' +
	    'replyCount and lastReplyAt on every message', withLogs(async () => {
		const { ch, alice, bob, carol } = await room();
		const root = await send(alice, ch.id, 'root');
		const replies = [];
		for (let i = 0; i < 5; i++)
			replies.push(await send(i % 2 ? alice : bob, ch.id,
			    `reply ${i}`, { replyToId: root.id }));
		await send(alice, ch.id, 'not in the thread');
		let t = await ok(bob, 'chat:get_thread', { messageId: root.id,
		    limit: 2 });
		assert.equal(t.message.id, root.id);
		assert.equal(t.message.replyCount, 5);
		assert.equal(t.message.lastReplyAt, replies[4].timestamp);
		assert.deepEqual(t.replies.map((x) => x.id),
		    [replies[0].id, replies[1].id]);
		assert.equal(t.hasMore, true);
		t = await ok(bob, 'chat:get_thread', { messageId: root.id,
		    after: replies[1].id, limit: 10 });
		assert.deepEqual(t.replies.map((x) => x.id),
		    replies.slice(2).map((x) => x.id));
		assert.equal(t.hasMore, false);
		t = await ok(bob, 'chat:get_thread', { messageId: replies[0].id });
		assert.deepEqual(t.replies, []);
		assert.equal(t.message.replyCount, 0);
		const h = await history(alice, ch.id);
		for (const x of h) {
			assert.equal(typeof x.replyCount, 'number');
			assert.ok('lastReplyAt' in x);
		}
		assert.equal(h.find((x) => x.id === root.id).replyCount, 5);
		for (const [args, what] of [[{ messageId: root.id, limit: 0 },
		    'limit 0'], [{ messageId: root.id, limit: 101 }, 'limit'],
		    [{ messageId: root.id, after: 'x' }, 'after'],
		    [{ messageId: root.id, limit: 'x' }, 'limit type']])
			await refused(bob, 'chat:get_thread', [args],
			    'invalid_payload', what);
		await refused(carol, 'chat:get_thread', [{ messageId: root.id }],
		    'forbidden');
	}));

	it('archived channels take no edit, delete or reaction',
	    withLogs(async () => {
		const { ch, alice, bob } = await room();
		const msg = await send(alice, ch.id, 'before');
		assert.equal((await call('DELETE', `/channels/${ch.id}`)).status,
		    200);
		const m = await mark([alice, bob]);
		for (const [ev, args] of [
		    ['chat:edit_message', { messageId: msg.id, message: 'x' }],
		    ['chat:delete_message', { messageId: msg.id }],
		    ['chat:react', { messageId: msg.id, emoji: '👍',
		    add: true }]]) {
			const r = await refused(alice, ev, [args], 'forbidden');
			assert.equal(r.error.message, 'Channel is archived');
		}
		await assertNone(m, ACTION_EVENTS);
		await ok(alice, 'chat:get_thread', { messageId: msg.id });
	}));

	it('HTTP API: PATCH and DELETE /api/v1/messages/{id}, GET its ' +
	    'thread; the sockets hear of it', withLogs(async () => {
		const { ch, alice, bob, bobU } = await room();
		const root = await send(alice, ch.id, 'root');
		const rep = await send(bob, ch.id, 'reply', { replyToId: root.id });
		const m = await mark([alice, bob]);
		let r = await call('PATCH', `/messages/${root.id}`,
		    { body: { message: 'edited by backend' } });
		assert.equal(r.status, 200, r.text);
		assert.equal(r.body.message.message, 'edited by backend');
		assert.strictEqual(r.body.message.editedBy, 0);
		await waitFor(bob, 'chat:message_updated', (e) =>
		    e.id === root.id && e.message === 'edited by backend', 3000,
		    m.get(bob));
		r = await call('PATCH', `/messages/${root.id}`,
		    { body: { message: 'as bob', userId: bobU.userId } });
		assert.equal(r.status, 200, r.text);
		assert.strictEqual(r.body.message.editedBy, bobU.id);
		r = await call('GET', `/messages/${root.id}/thread`);
		assert.equal(r.status, 200, r.text);
		assert.deepEqual(r.body.replies.map((x) => x.id), [rep.id]);
		assert.equal(r.body.message.replyCount, 1);
		r = await call('POST', `/messages/${root.id}/reactions`,
		    { body: { emoji: '✅', userId: bobU.userId } });
		assert.equal(r.status, 200, r.text);
		assert.deepEqual(r.body, { messageId: root.id, channelId: ch.id,
		    emoji: '✅', userId: bobU.id, add: true, count: 1 });
		await waitFor(alice, 'chat:reaction_updated', (e) =>
		    e.messageId === root.id && e.userId === bobU.id, 3000,
		    m.get(alice));
		r = (await history(bob, ch.id)).find((x) => x.id === root.id);
		assert.deepEqual(r.reactions, [{ emoji: '✅', count: 1,
		    me: true }]);
		for (const body of [{ emoji: '✅' }, { emoji: 'x', userId: 5 },
		    { emoji: '✅', userId: 5, add: 'no' }])
			assert.equal((await call('POST',
			    `/messages/${root.id}/reactions`, { body })).status,
			    400, JSON.stringify(body));
		r = await call('DELETE', `/messages/${rep.id}`);
		assert.equal(r.status, 200, r.text);
		assert.strictEqual(r.body.message.deleted, true);
		await waitFor(alice, 'chat:message_deleted', (e) =>
		    e.id === rep.id, 3000, m.get(alice));
		// Refusals.
		r = await call('DELETE', `/messages/${rep.id}`);
		assert.equal(r.status, 409, r.text);
		r = await call('PATCH', `/messages/${rep.id}`,
		    { body: { message: 'x' } });
		assert.equal(r.status, 409, r.text);
		for (const p of ['/messages/99999999', '/messages/x'])
			assert.equal((await call('PATCH', p,
			    { body: { message: 'x' } })).status, 404);
		assert.equal((await call('GET', '/messages/99999999/thread'))
		    .status, 404);
		for (const body of [{}, { message: '' }, { message: 5 },
		    { message: 'x', other: 1 }, { message: 'x', userId: [] }])
			assert.equal((await call('PATCH', `/messages/${root.id}`,
			    { body })).status, 400, JSON.stringify(body));
		assert.equal((await call('GET',
		    `/messages/${root.id}/thread?limit=0`)).status, 400);
		assert.equal((await apiCall(d, 'DELETE', `/messages/${root.id}`))
		    .status, 401);
	}));

	it('no worker died', () => {
		assertNoWorkerDied(d, pidsBefore);
	});
});

describe('message actions across two hosts on PostgreSQL', () => {
	const h = useTwoHosts({ extraConf: [`api-key backend ${KEY}`] });
	const sockets = h.sockets;
	let a, b;
	before(() => ({ a, b } = h));
	const on = (d, u) => h.on(d, u);

	it('edits, reactions, deletes and threads on host A reach host B',
	    async () => {
		const ownerU = user('admin'), readerU = user();
		const owner = await on(a, ownerU);
		const ch = await createChannel(owner, { name: uniq('pg') });
		await ok(owner, 'join_channel', ch.id);
		const reader = await on(b, readerU);
		await ok(reader, 'join_channel', ch.id);
		const root = await send(owner, ch.id, 'root');
		const rep = await send(reader, ch.id, 'reply',
		    { replyToId: root.id });
		const m = await mark([reader, owner]);
		await ok(owner, 'chat:edit_message', { messageId: root.id,
		    message: 'root, edited' });
		await waitFor(reader, 'chat:message_updated', (e) =>
		    e.id === root.id && e.message === 'root, edited', 5000,
		    m.get(reader));
		await ok(owner, 'chat:react', { messageId: rep.id, emoji: '🎉',
		    add: true });
		const ev = await waitFor(reader, 'chat:reaction_updated', null,
		    5000, m.get(reader));
		assert.equal(ev.count, 1);
		await ok(reader, 'chat:react', { messageId: rep.id, emoji: '🎉',
		    add: true });
		await waitFor(owner, 'chat:reaction_updated', (e) =>
		    e.count === 2, 5000, m.get(owner));
		const t = await ok(reader, 'chat:get_thread',
		    { messageId: root.id });
		assert.equal(t.message.message, 'root, edited');
		assert.equal(t.message.replyCount, 1);
		assert.deepEqual(t.replies[0].reactions,
		    [{ emoji: '🎉', count: 2, me: true }]);
		const h = await history(owner, ch.id);
		assert.deepEqual(h.find((x) => x.id === rep.id).reactions,
		    [{ emoji: '🎉', count: 2, me: true }]);
		const r = await apiCall(b, 'DELETE', `/messages/${rep.id}`,
		    { key: KEY });
		assert.equal(r.status, 200, r.text);
		await waitFor(owner, 'chat:message_deleted', (e) =>
		    e.id === rep.id, 5000, m.get(owner));
		const h2 = await history(reader, ch.id);
		const tomb = h2.find((x) => x.id === rep.id);
		assert.strictEqual(tomb.deleted, true);
		assert.deepEqual(tomb.reactions, []);
	});
});

describe('message actions as webhooks', () => {
	const HOOK_SECRET = 'msgact-webhook-secret-0123456789abcdef';
	const got = [];
	let srv, d;
	const sockets = [];

	before(async () => {
		srv = http.createServer((req, res) => {
			const chunks = [];
			req.on('data', (c) => chunks.push(c));
			req.on('end', () => {
				const raw = Buffer.concat(chunks).toString('utf8');
				const want = 'v1=' + crypto.createHmac('sha256',
				    HOOK_SECRET).update(
				    `${req.headers['x-confab-timestamp']}.${raw}`)
				    .digest('hex');
				got.push({ sigOk: req.headers['x-confab-signature'] ===
				    want, body: JSON.parse(raw) });
				res.writeHead(200);
				res.end('ok');
			});
		});
		await new Promise((r) => srv.listen(0, '127.0.0.1', r));
		d = await startDaemon({ workers: 2, extraConf: [...CHAT_CONF,
		    'rate-limit 10000 1', `webhook-secret ${HOOK_SECRET}`,
		    `webhook http://127.0.0.1:${srv.address().port}/h ` +
		    'message.updated message.deleted'] });
	});
	after(async () => {
		closeAll(sockets);
		await d?.stop();
		srv.closeAllConnections?.();
		await new Promise((r) => srv.close(r));
	});

	it('message.updated and message.deleted are delivered, signed, in ' +
	    'order; refused changes deliver nothing', async () => {
		const u = user('admin');
		const s = await login(d, u);
		sockets.push(s);
		const ch = await createChannel(s);
		const msg = await send(s, ch.id, 'hooked');
		await ok(s, 'chat:edit_message', { messageId: msg.id,
		    message: 'hooked, edited' });
		await ok(s, 'chat:delete_message', { messageId: msg.id });
		await refused(s, 'chat:edit_message', [{ messageId: msg.id,
		    message: 'no' }], 'conflict');
		await until(() => got.length >= 2, 10000, 'two deliveries', 50);
		await new Promise((r) => setTimeout(r, 300));
		assert.deepEqual(got.map((x) => x.body.event),
		    ['message.updated', 'message.deleted']);
		assert.ok(got.every((x) => x.sigOk), 'signed');
		const upd = got[0].body.data.message;
		assert.equal(upd.id, msg.id);
		assert.equal(upd.message, 'hooked, edited');
		assert.strictEqual(upd.editedBy, u.id);
		assert.deepEqual(Object.keys(got[1].body.data).sort(),
		    ['channelId', 'deletedAt', 'deletedBy', 'id']);
		assert.equal(got[1].body.data.id, msg.id);
		assert.equal(got[1].body.data.channelId, ch.id);
		assert.strictEqual(got[1].body.data.deletedBy, u.id);
	});
});

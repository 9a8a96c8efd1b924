// Direct messages, mentions, members and archive (issue 15,
// doc/events.md): dm:open, kind / otherUserId / mentionCount in
// channel:list, chat:send_message's mentions and chat:mentioned,
// channel:members / add_members / remove_member, channel:archive and
// includeArchived -- every event and refusal, two users' tabs on
// different workers, and across two hosts on PostgreSQL.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { useDaemon, withLogs } from './lib/daemon.mjs';
import { useTwoHosts } from './lib/hosts.mjs';
import { apiCall } from './lib/api.mjs';
import { CHAT_CONF, openTab, login, ok, refused, waitFor, mark,
    assertNone, createChannel, send, listed, history, assertId,
    uniq } from './lib/chat.mjs';

const ADMIN = { userId: '701', displayName: 'Admin', role: 'admin' };
const ALICE = { userId: '702', displayName: 'Alice', role: 'user' };
const BOB = { userId: '703', displayName: 'Bob', role: 'user' };
const CAROL = { userId: '704', displayName: 'Carol', role: 'user' };
// May create channels, not manage them: the creator's rights only.
const OWNER = { userId: '705', displayName: 'Owner', role: 'user',
    permissions: ['chat.access', 'chat.send_messages',
    'chat.create_channels'] };
const DAVE = { userId: '706', displayName: 'Dave', role: 'user' };

const KEY = 'dm-key-0123456789-0123456789-0123456789';

const TYPES = [['a number', 5], ['a string', 'x'], ['null', null],
    ['an array', [1]], ['a boolean', true]];

describe('direct messages, mentions, members, archive', () => {
	const sockets = [];
	const d = useDaemon({ workers: 2, extraConf: [...CHAT_CONF,
	    'rate-limit 10000 1', `api-key backend ${KEY}`], sockets,
	    closeEach: true });
	const call = (method, path, opts = {}) =>
	    apiCall(d, method, path, { key: KEY, ...opts });

	before(async () => {
		// Every user authenticates once: the users rows exist.
		for (const u of [ADMIN, ALICE, BOB, CAROL, OWNER, DAVE])
			(await login(d, u)).close();
	});

	async function as(user, tabOpts) {
		const s = await login(d, user, tabOpts);
		sockets.push(s);
		return s;
	}
	// Two users' tabs on different workers.
	async function pair(u1, u2) {
		const a = await as(u1);
		const b = await as(u2, { notOn: [a.who.pid] });
		return [a, b];
	}

	it('dm:open: one direct channel, both told and listing it',
	    withLogs(async () => {
		const [alice, bob] = await pair(ALICE, BOB);
		const first = await ok(alice, 'dm:open', { userId: 703 });
		const ch = first.channel;
		assertId(ch.id);
		assert.equal(ch.kind, 'direct');
		assert.equal(ch.isPrivate, true);
		assert.equal(ch.otherUserId, 703);
		assert.equal(ch.otherUserName, 'Bob');
		const added = await waitFor(bob, 'channel:added',
		    (e) => e.channel.id === ch.id);
		assert.equal(added.addedBy, 702);
		assert.equal(added.channel.otherUserId, 702);
		assert.equal(added.channel.otherUserName, 'Alice');
		// Idempotent, from either side, by number or string id.
		const again = await ok(alice, 'dm:open', { userId: '703' });
		assert.equal(again.channel.id, ch.id);
		const m = await mark([bob]);
		const back = await ok(bob, 'dm:open', { userId: 702 });
		assert.equal(back.channel.id, ch.id);
		assert.equal(back.channel.otherUserId, 702);
		await assertNone(m, ['channel:added']);
		for (const [s, other, name] of [[alice, 703, 'Bob'],
		    [bob, 702, 'Alice']]) {
			const l = await listed(s, ch.id);
			assert.equal(l.kind, 'direct');
			assert.equal(l.otherUserId, other);
			assert.equal(l.otherUserName, name);
			assert.equal(l.isMember, true);
			assert.equal(l.mentionCount, 0);
		}
		// Every other channel says kind "channel".
		const all = (await ok(alice, 'channel:list')).channels;
		assert.ok(all.every((c) => c.kind === 'channel' ||
		    c.kind === 'direct'));
		// A third user neither sees nor reaches it.
		const carol = await as(CAROL);
		assert.equal(await listed(carol, ch.id), undefined);
		await refused(carol, 'join_channel', [ch.id], 'not_found');
		await refused(carol, 'chat:send_message', [{ channelId: ch.id,
		    message: 'hi' }], 'not_found');
		// Messages, receipts and typing work as in any channel.
		const msg = await send(alice, ch.id, 'hello Bob');
		const got = await waitFor(bob, 'chat:new_message',
		    (x) => x.id === msg.id);
		assert.equal(got.channelId, ch.id);
		await ok(bob, 'message_read', { channelId: ch.id,
		    messageId: msg.id });
		await waitFor(alice, 'message_read_receipt',
		    (r) => r.channelId === ch.id);
		await ok(bob, 'chat:typing', { channelId: ch.id,
		    isTyping: true });
		await waitFor(alice, 'chat:user_typing',
		    (t) => t.channelId === ch.id);
		await ok(bob, 'file_uploaded', { channelId: ch.id,
		    fileName: 'a.txt', fileType: 'text/plain', fileSize: 3 });
		await waitFor(alice, 'file_upload_notification',
		    (f) => f.channelId === ch.id);
		assert.deepEqual((await history(alice, ch.id)).map((x) =>
		    x.message).slice(0, 1), ['hello Bob']);
	}));

	it('dm:open with oneself; refusals store and tell nothing',
	    withLogs(async () => {
		const [alice, bob] = await pair(ALICE, BOB);
		const self = (await ok(alice, 'dm:open', { userId: 702 }))
		    .channel;
		assert.equal(self.kind, 'direct');
		assert.equal(self.otherUserId, 702);
		assert.equal((await ok(alice, 'dm:open', { userId: 702 }))
		    .channel.id, self.id);
		const l = await listed(alice, self.id);
		assert.equal(l.otherUserId, 702);
		assert.equal(l.otherUserName, 'Alice');
		await send(alice, self.id, 'note to self');

		const before = (await ok(alice, 'channel:list')).channels;
		const m = await mark([alice, bob]);
		await refused(alice, 'dm:open', [{ userId: 'nobody-here' }],
		    'not_found', 'unknown user');
		for (const [what, v] of [['absent', {}], ['object',
		    { userId: {} }], ['array', { userId: [703] }], ['empty',
		    { userId: '' }], ['zero', { userId: 0 }], ['huge',
		    { userId: 'u'.repeat(100) }], ['not an object', 703]])
			await refused(alice, 'dm:open', [v], 'invalid_payload',
			    what);
		assert.deepEqual((await ok(alice, 'channel:list')).channels,
		    before);
		await assertNone(m, ['channel:added']);

		// A direct channel keeps its members, name and privacy.
		const dm = (await ok(alice, 'dm:open', { userId: 703 }))
		    .channel;
		const admin = await as(ADMIN);
		const adm = (await ok(admin, 'dm:open', { userId: 702 }))
		    .channel;
		await refused(admin, 'channel_updated', [{ channelId: adm.id,
		    changes: { name: 'mine' } }], 'forbidden');
		await refused(admin, 'channel_updated', [{ channelId: adm.id,
		    changes: { isPrivate: false } }], 'forbidden');
		await refused(admin, 'channel:archive', [{ channelId:
		    adm.id }], 'forbidden');
		await refused(admin, 'channel:add_members', [{ channelId:
		    adm.id, userIds: [703] }], 'forbidden');
		await refused(admin, 'channel:remove_member', [{ channelId:
		    adm.id, userId: 702 }], 'forbidden');
		// Not a member of alice and bob's: not found, even for admin.
		await refused(admin, 'channel:members', [{ channelId:
		    dm.id }], 'not_found');
		await refused(admin, 'channel:archive', [{ channelId:
		    dm.id }], 'not_found');
		await refused(admin, 'channel:create', [{ name: uniq('d'),
		    kind: 'direct' }], 'invalid_payload');
		const members = (await ok(alice, 'channel:members',
		    { channelId: adm.id })).members;
		assert.deepEqual(members.map((x) => x.userId), [701, 702]);
	}));

	it('dm:open from both users at once: one channel', withLogs(async () => {
		const [carol, dave] = await pair(CAROL, DAVE);
		const [c2, d2] = await pair(CAROL, DAVE);
		const acks = await Promise.all([
		    ...[carol, c2].flatMap((s) => [1, 2, 3].map(() =>
			ok(s, 'dm:open', { userId: 706 }))),
		    ...[dave, d2].flatMap((s) => [1, 2, 3].map(() =>
			ok(s, 'dm:open', { userId: '704' })))]);
		const ids = new Set(acks.map((a) => a.channel.id));
		assert.equal(ids.size, 1, JSON.stringify([...ids]));
		const dms = (await ok(carol, 'channel:list')).channels.filter(
		    (c) => c.kind === 'direct' && c.otherUserId === 706);
		assert.equal(dms.length, 1);
	}));

	it('mentions: chat:mentioned to the mentioned, mentionCount',
	    withLogs(async () => {
		const admin = await as(ADMIN);
		const ch = await createChannel(admin, { name: uniq('m'),
		    isPrivate: true, memberIds: [702, 703] });
		// Bob's tab is on another worker and never joined the channel.
		const bob = await as(BOB, { notOn: [admin.who.pid] });
		const carol = await as(CAROL);
		const m = await mark([bob, carol]);
		const long = 'x'.repeat(150);
		const msg = await send(admin, ch.id, long, { mentions: [703,
		    '703', 702, 701] });
		assert.deepEqual(msg.mentions, [703, 702]);
		const ev = await waitFor(bob, 'chat:mentioned',
		    (e) => e.messageId === msg.id);
		assert.deepEqual(Object.keys(ev).sort(), ['channelId',
		    'channelName', 'excerpt', 'fromDisplayName', 'fromUserId',
		    'messageId']);
		assert.equal(ev.channelId, ch.id);
		assert.equal(ev.channelName, ch.name);
		assert.equal(ev.fromUserId, 701);
		assert.equal(ev.fromDisplayName, 'Admin');
		assert.equal(ev.excerpt, 'x'.repeat(100) + '\u2026');
		await assertNone(new Map([[carol, m.get(carol)]]),
		    ['chat:mentioned']);
		assert.equal((await listed(bob, ch.id)).mentionCount, 1);
		await send(admin, ch.id, 'again', { mentions: [703] });
		assert.equal((await listed(bob, ch.id)).mentionCount, 2);
		await ok(bob, 'message_read', { channelId: ch.id });
		assert.equal((await listed(bob, ch.id)).mentionCount, 0);
		// Without mentions nothing changes; null is none.
		const plain = await send(admin, ch.id, 'plain', {
		    mentions: null });
		assert.equal(plain.mentions, undefined);
		await assertNone(new Map([[carol, m.get(carol)]]),
		    ['chat:mentioned']);
	}));

	it('mentions: refusals store and emit nothing', withLogs(async () => {
		const admin = await as(ADMIN);
		const ch = await createChannel(admin, { name: uniq('r'),
		    isPrivate: true, memberIds: [702] });
		const carol = await as(CAROL);
		const alice = await as(ALICE);
		const m = await mark([carol, alice]);
		const before = await history(admin, ch.id);
		await refused(admin, 'chat:send_message', [{ channelId: ch.id,
		    message: 'hi', mentions: [704] }], 'invalid_payload',
		    'not a member');
		await refused(admin, 'chat:send_message', [{ channelId: ch.id,
		    message: 'hi', mentions: [702, 'nobody'] }],
		    'invalid_payload', 'unknown user');
		await refused(admin, 'chat:send_message', [{ channelId: ch.id,
		    message: 'hi', mentions: Array.from({ length: 51 },
		    (_, i) => i + 1) }], 'invalid_payload', '51 mentions');
		for (const v of ['702', 702, {}, [{}], [true], [''], [0],
		    ['u'.repeat(100)]])
			await refused(admin, 'chat:send_message', [{
			    channelId: ch.id, message: 'hi', mentions: v }],
			    'invalid_payload', JSON.stringify(v));
		assert.deepEqual(await history(admin, ch.id), before);
		await assertNone(m, ['chat:mentioned', 'chat:new_message']);
	}));

	it('channel:members, add_members, remove_member', withLogs(async () => {
		const owner = await as(OWNER);
		const ch = await createChannel(owner, { name: uniq('p'),
		    isPrivate: true });
		const bob = await as(BOB, { notOn: [owner.who.pid] });
		let r = await ok(owner, 'channel:members', { channelId: ch.id });
		assert.equal(r.channelId, ch.id);
		assert.deepEqual(r.members.map((x) => x.userId), [705]);
		assert.deepEqual(Object.keys(r.members[0]).sort(),
		    ['displayName', 'lastReadMessageId', 'role', 'status',
		    'userId']);
		assert.equal(r.members[0].status, 'online');
		// The creator adds (no manage_channels needed); duplicates once.
		r = await ok(owner, 'channel:add_members', { channelId: ch.id,
		    userIds: [703, '703', 706] });
		assert.deepEqual(r.added, [703, 706]);
		const added = await waitFor(bob, 'channel:added',
		    (e) => e.channel.id === ch.id);
		assert.equal(added.addedBy, 705);
		r = await ok(owner, 'channel:add_members', { channelId: ch.id,
		    userIds: [703] });
		assert.deepEqual(r.added, []);
		r = await ok(bob, 'channel:members', { channelId: ch.id });
		const byId = Object.fromEntries(r.members.map((x) =>
		    [x.userId, x]));
		assert.deepEqual(Object.keys(byId).sort(), ['703', '705',
		    '706']);
		assert.equal(byId[706].status, 'offline');
		assert.equal(byId[703].displayName, 'Bob');
		assert.equal(byId[703].lastReadMessageId, null);
		await ok(bob, 'join_channel', ch.id);

		// Refusals: nothing added, nobody told.
		const carol = await as(CAROL);
		const m = await mark([bob, carol]);
		await refused(carol, 'channel:members', [{ channelId: ch.id }],
		    'not_found', 'not a member of a private channel');
		await refused(bob, 'channel:add_members', [{ channelId: ch.id,
		    userIds: [704] }], 'forbidden', 'member, not creator');
		await refused(bob, 'channel:remove_member', [{ channelId:
		    ch.id, userId: 706 }], 'forbidden');
		await refused(owner, 'channel:add_members', [{ channelId:
		    ch.id, userIds: [704, 'no-such-user'] }], 'not_found');
		await refused(owner, 'channel:add_members', [{ channelId:
		    999999, userIds: [704] }], 'not_found');
		await refused(owner, 'channel:add_members', [{ channelId: ch.id,
		    userIds: Array.from({ length: 101 }, (_, i) => i + 1) }],
		    'invalid_payload', '101 ids');
		for (const [what, v] of [...TYPES.filter((t) =>
		    t[0] !== 'an array'), ['empty', []],
		    ['bad id', [{}]], ['absent', undefined]])
			await refused(owner, 'channel:add_members', [{
			    channelId: ch.id, userIds: v }],
			    'invalid_payload', what);
		for (const [what, v] of TYPES.filter((t) => t[0] !== 'a number'
		    && t[0] !== 'a string'))
			await refused(owner, 'channel:remove_member', [{
			    channelId: ch.id, userId: v }],
			    'invalid_payload', what);
		await refused(owner, 'channel:members', [{ channelId: 'x' }],
		    'invalid_payload');
		await refused(owner, 'channel:remove_member', [{ channelId:
		    ch.id, userId: 704 }], 'not_found', 'not a member');
		await assertNone(m, ['channel:added', 'channel:removed']);
		assert.equal((await ok(owner, 'channel:members',
		    { channelId: ch.id })).members.length, 3);

		// Removed: told at once, out of the room.
		r = await ok(owner, 'channel:remove_member', { channelId: ch.id,
		    userId: 703 });
		assert.equal(r.userId, 703);
		const gone = await waitFor(bob, 'channel:removed',
		    (e) => e.channelId === ch.id);
		assert.equal(gone.removedBy, 705);
		const m2 = await mark([bob]);
		await send(owner, ch.id, 'after bob left');
		await assertNone(m2, ['chat:new_message']);
		await refused(bob, 'channel:members', [{ channelId: ch.id }],
		    'not_found');

		// A public channel: anyone may list its members.
		const admin = await as(ADMIN);
		const pub = await createChannel(admin, { name: uniq('pub') });
		r = await ok(carol, 'channel:members', { channelId: pub.id });
		assert.deepEqual(r.members.map((x) => x.userId), [701]);
		// manage_channels adds to any channel it may see.
		r = await ok(admin, 'channel:add_members', { channelId: pub.id,
		    userIds: [704] });
		assert.deepEqual(r.added, [704]);
	}));

	it('HTTP API: POST /dms, mentions on POST messages, direct ' +
	    'channels refused', withLogs(async () => {
		const [bob, carol] = await pair(BOB, CAROL);
		let r = await call('POST', '/dms', { body: { userIds: [703,
		    '704'] } });
		assert.equal(r.status, 201, r.text);
		const ch = r.body.channel;
		assert.equal(ch.kind, 'direct');
		assert.equal(r.body.created, true);
		for (const [s, other] of [[bob, 704], [carol, 703]]) {
			const e = await waitFor(s, 'channel:added',
			    (x) => x.channel.id === ch.id);
			assert.equal(e.channel.otherUserId, other);
		}
		r = await call('POST', '/dms', { body: { userIds: [704,
		    703] } });
		assert.equal(r.status, 200, r.text);
		assert.equal(r.body.channel.id, ch.id);
		assert.equal((await ok(carol, 'dm:open', { userId: 703 }))
		    .channel.id, ch.id);
		for (const body of [{}, { userIds: [703] }, { userIds: 703 },
		    { userIds: [703, 704, 705] }, { userIds: [703, {}] },
		    { userIds: [703, 704], x: 1 }]) {
			r = await call('POST', '/dms', { body });
			assert.equal(r.status, 400, JSON.stringify(body));
		}
		r = await call('POST', '/dms', { body: { userIds: [703,
		    'nobody'] } });
		assert.equal(r.status, 404, r.text);
		// Direct channels: no member change, rename or archive.
		for (const [m, path, body] of [
		    ['PUT', `/channels/${ch.id}/members/701`, undefined],
		    ['DELETE', `/channels/${ch.id}/members/703`, undefined],
		    ['PATCH', `/channels/${ch.id}`, { name: 'x' }],
		    ['DELETE', `/channels/${ch.id}`, undefined]]) {
			r = await call(m, path, body ? { body } : {});
			assert.equal(r.status, 403, `${m} ${path}: ${r.text}`);
			assert.equal(r.body.error.code, 'forbidden');
		}
		// Mentions through the API.
		await ok(carol, 'join_channel', ch.id);
		r = await call('POST', `/channels/${ch.id}/messages`, { body: {
		    message: 'ping', userId: 703, mentions: [704] } });
		assert.equal(r.status, 201, r.text);
		assert.deepEqual(r.body.message.mentions, [704]);
		const ev = await waitFor(carol, 'chat:mentioned',
		    (x) => x.messageId === r.body.message.id);
		assert.equal(ev.fromUserId, 703);
		assert.equal(ev.fromDisplayName, 'Bob');
		const before = await history(carol, ch.id);
		for (const mentions of [[701], 'x', Array.from({ length: 51 },
		    () => 704)]) {
			r = await call('POST', `/channels/${ch.id}/messages`, {
			    body: { message: 'no', mentions } });
			assert.equal(r.status, 400, r.text);
		}
		assert.deepEqual(await history(carol, ch.id), before);
	}));

	it('channel:archive: told, refused writes, hidden from the list',
	    withLogs(async () => {
		const admin = await as(ADMIN);
		const ch = await createChannel(admin, { name: uniq('a') });
		const alice = await as(ALICE, { notOn: [admin.who.pid] });
		await ok(alice, 'join_channel', ch.id);
		await refused(alice, 'channel:archive', [{ channelId: ch.id }],
		    'forbidden', 'no manage_channels');
		for (const v of [{}, { channelId: 'x' }, 5, null])
			await refused(admin, 'channel:archive', [v],
			    'invalid_payload', JSON.stringify(v));
		await refused(admin, 'channel:archive', [{ channelId:
		    999999 }], 'not_found');
		const r = await ok(admin, 'channel:archive', { channelId:
		    ch.id });
		assert.equal(r.channel.id, ch.id);
		assert.equal(typeof r.channel.archivedAt, 'string');
		const ev = await waitFor(alice, 'channel_updated',
		    (e) => e.channelId === ch.id);
		assert.deepEqual(ev.changes, { archived: true });
		// Again: ok, nothing told.
		const m = await mark([alice]);
		await ok(admin, 'channel:archive', { channelId: ch.id });
		await assertNone(m, ['channel_updated']);
		const bad = /archived/;
		let a = await refused(alice, 'chat:send_message', [{
		    channelId: ch.id, message: 'x' }], 'forbidden');
		assert.match(a.error.message, bad);
		a = await refused(admin, 'join_channel', [ch.id], 'forbidden');
		assert.match(a.error.message, bad);
		a = await refused(admin, 'channel:add_members', [{ channelId:
		    ch.id, userIds: [703] }], 'forbidden');
		assert.match(a.error.message, bad);
		a = await refused(admin, 'channel:remove_member', [{
		    channelId: ch.id, userId: 702 }], 'forbidden');
		assert.match(a.error.message, bad);
		// History stays readable.
		await ok(alice, 'chat:get_messages', { channelId: ch.id });
		assert.equal(await listed(alice, ch.id), undefined);
		let l = (await ok(alice, 'channel:list',
		    { includeArchived: true })).channels;
		assert.equal(typeof l.find((c) => c.id === ch.id)?.archivedAt,
		    'string');
		l = (await ok(alice, 'channel:list', { includeArchived:
		    false })).channels;
		assert.equal(l.find((c) => c.id === ch.id), undefined);
		for (const v of [5, 'x', [true], { includeArchived: 'yes' }])
			await refused(alice, 'channel:list', [v],
			    'invalid_payload', JSON.stringify(v));
	}));
});

describe('direct messages and mentions across two hosts on PostgreSQL',
    () => {
	const h = useTwoHosts();
	const sockets = h.sockets;
	let a, b;
	before(() => ({ a, b } = h));
	const on = (d, u) => h.on(d, u);

	it('dm:open at once on both hosts: one channel; mentions and ' +
	    'members reach the other host', async () => {
		const alice = await on(a, ALICE), bob = await on(b, BOB);
		const acks = await Promise.all([1, 2, 3, 4].flatMap(() => [
		    ok(alice, 'dm:open', { userId: 703 }),
		    ok(bob, 'dm:open', { userId: 702 })]));
		const ids = new Set(acks.map((x) => x.channel.id));
		assert.equal(ids.size, 1);
		const id = acks[0].channel.id;
		assert.equal(acks.filter((x) => x.created).length, 1);
		if (acks.find((x) => x.created).channel.otherUserId === 703)
			await waitFor(bob, 'channel:added',
			    (e) => e.channel.id === id);
		else
			await waitFor(alice, 'channel:added',
			    (e) => e.channel.id === id);
		await ok(bob, 'join_channel', id);
		const msg = await send(alice, id, 'across', { mentions:
		    [703] });
		await waitFor(bob, 'chat:new_message', (x) => x.id === msg.id);
		const ev = await waitFor(bob, 'chat:mentioned',
		    (e) => e.messageId === msg.id);
		assert.equal(ev.fromUserId, 702);
		assert.equal((await listed(bob, id)).mentionCount, 1);
		// Members and archive on host A reach host B.
		const admin = await on(a, ADMIN);
		const ch = await createChannel(admin, { name: uniq('x'),
		    isPrivate: true });
		await ok(admin, 'channel:add_members', { channelId: ch.id,
		    userIds: [703] });
		await waitFor(bob, 'channel:added', (e) => e.channel.id ===
		    ch.id);
		await ok(bob, 'join_channel', ch.id);
		await ok(admin, 'channel:archive', { channelId: ch.id });
		await waitFor(bob, 'channel_updated', (e) => e.channelId ===
		    ch.id && e.changes.archived === true);
		await ok(admin, 'channel:members', { channelId: ch.id });
		const removed = await refused(admin, 'channel:remove_member',
		    [{ channelId: ch.id, userId: 703 }], 'forbidden');
		assert.match(removed.error.message, /archived/);
	});
});

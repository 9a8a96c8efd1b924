// Channels (doc/events.md "Channels") and the permission checks: create,
// list, join/leave with user_joined/user_left across workers, private
// channels, channel_updated; every denial stores and broadcasts nothing.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { useDaemon, withLogs } from './lib/daemon.mjs';
import { ask } from './lib/client.mjs';
import { mint } from './lib/token.mjs';
import { CHAT_CONF, openTab, auth, login, ok, refused, got, waitFor, mark,
    assertNone, createChannel, send, listed, history, assertIso, assertId,
    assertNoWorkerDied, uniq } from './lib/chat.mjs';

const ADMIN = { userId: '1', displayName: 'Admin', role: 'admin' };
const ALICE = { userId: '2', displayName: 'Alice', role: 'user' };
const BOB = { userId: '3', displayName: 'Bob', role: 'user' };
const GUEST = { userId: '4', displayName: 'Guest', role: 'guest' };
const CAROL = { userId: '5', displayName: 'Carol', role: 'user' };

const CHANNEL_KEYS = ['createdAt', 'createdBy', 'description', 'id',
    'isPrivate', 'name'];
const ROOM_EVENTS = ['chat:new_message', 'user_joined', 'user_left',
    'channel_updated', 'system_broadcast_received', 'chat:user_typing',
    'message_read_receipt', 'file_upload_notification'];

describe('channels', () => {
	let pidsBefore;
	const sockets = [];

	const d = useDaemon({ workers: 2, extraConf: [...CHAT_CONF,
	    'role guest none', 'rate-limit 10000 1'],
	    sockets, closeEach: true });
	before(async () => {
		pidsBefore = d.workerPids();
		// Every user authenticates once so that their rows exist
		// (memberIds may need them).
		for (const u of [ADMIN, ALICE, BOB, GUEST, CAROL])
			(await login(d, u)).close();
	});

	async function as(user, tabOpts) {
		const s = await login(d, user, tabOpts);
		sockets.push(s);
		return s;
	}

	it('channel:create: the channel, the creator joined', withLogs(async () => {
		const admin = await as(ADMIN);
		const name = uniq('General');
		const ack = await ok(admin, 'channel:create', { name,
		    description: 'Everything', isPrivate: false });
		const c = ack.channel;
		assert.deepEqual(Object.keys(c).sort(), CHANNEL_KEYS);
		assertId(c.id);
		assert.equal(c.name, name);
		assert.equal(c.description, 'Everything');
		assert.equal(c.isPrivate, false);
		assert.strictEqual(c.createdBy, 1);
		assertIso(c.createdAt, 'createdAt');
		// The creator's socket joined: its message comes back to it.
		const m = await send(admin, c.id, 'first');
		const nm = await waitFor(admin, 'chat:new_message',
		    (x) => x.id === m.id);
		assert.equal(nm.channelId, c.id);
		const l = await listed(admin, c.id);
		assert.equal(l.isMember, true);
		// Boundaries: name 100 and description 1000 characters.
		const u = uniq('c');
		const c100 = await createChannel(admin, { name: u +
		    'n'.repeat(100 - u.length), description: 'd'.repeat(1000),
		    isPrivate: true });
		assert.equal(c100.name.length, 100);
		assert.equal(c100.description.length, 1000);
		assert.equal(c100.isPrivate, true);
		const listBefore = (await ok(admin, 'channel:list')).channels;
		await refused(admin, 'channel:create', [{ name: 'n'.repeat(101) }],
		    'invalid_payload', '101-character name');
		await refused(admin, 'channel:create', [{ name: '' }],
		    'invalid_payload', 'empty name');
		await refused(admin, 'channel:create', [{ name: uniq('d'),
		    description: 'd'.repeat(1001) }], 'invalid_payload',
		    '1001-character description');
		await refused(admin, 'channel:create', [{ name: uniq('m'),
		    memberIds: Array.from({ length: 1001 }, (_, i) => i + 1) }],
		    'invalid_payload', '1001 memberIds');
		assert.deepEqual((await ok(admin, 'channel:list')).channels,
		    listBefore, 'nothing created');
	}));

	it('channel:create: duplicate names conflict, case-insensitively',
	    withLogs(async () => {
		const admin = await as(ADMIN);
		const name = uniq('Dup');
		await createChannel(admin, { name });
		const listBefore = (await ok(admin, 'channel:list')).channels;
		for (const n of [name, name.toUpperCase(), name.toLowerCase()]) {
			await refused(admin, 'channel:create', [{ name: n }],
			    'conflict', n);
		}
		const list = (await ok(admin, 'channel:list')).channels;
		assert.deepEqual(list, listBefore);
		assert.equal(list.filter((c) => c.name.toLowerCase() ===
		    name.toLowerCase()).length, 1);
	}));

	it('channel:list: isMember, unreadCount, lastReadMessageId',
	    withLogs(async () => {
		const admin = await as(ADMIN);
		const alice = await as(ALICE);
		const pub = await createChannel(admin, { name: uniq('pub') });
		const priv = await createChannel(admin, { name: uniq('priv'),
		    isPrivate: true, memberIds: [3] });
		const ms = [];
		for (let i = 0; i < 3; i++)
			ms.push(await send(admin, pub.id, `m${i}`));

		let a = await listed(alice, pub.id);
		assert.ok(a, 'a public channel is listed for everyone');
		for (const k of ['id', 'name', 'description', 'isPrivate',
		    'createdBy', 'createdAt'])
			assert.deepEqual(a[k], pub[k], k);
		assert.equal(a.isMember, false);
		assert.equal(await listed(alice, priv.id), undefined,
		    'a private channel is hidden from non-members');
		const bob = await as(BOB);
		const bp = await listed(bob, priv.id);
		assert.equal(bp?.isMember, true, 'memberIds member sees it');
		assert.equal(bp.isPrivate, true);

		await ok(alice, 'join_channel', pub.id);
		a = await listed(alice, pub.id);
		assert.equal(a.isMember, true);
		assert.strictEqual(a.lastReadMessageId, null);
		assert.strictEqual(a.unreadCount, 3);

		await ok(alice, 'message_read', { channelId: pub.id,
		    messageId: ms[1].id });
		a = await listed(alice, pub.id);
		assert.strictEqual(a.lastReadMessageId, ms[1].id);
		assert.strictEqual(a.unreadCount, 1);
		// Her own messages do not count.
		await send(alice, pub.id, 'mine');
		assert.strictEqual((await listed(alice, pub.id)).unreadCount, 1);
		// The admin never read: alice's message is unread for him.
		const ad = await listed(admin, pub.id);
		assert.equal(ad.isMember, true);
		assert.strictEqual(ad.unreadCount, 1);
		assert.strictEqual(ad.lastReadMessageId, null);
	}));

	it('private channels: members only', withLogs(async () => {
		const admin = await as(ADMIN);
		const priv = await createChannel(admin, { name: uniq('secret'),
		    isPrivate: true, memberIds: [3, '5'] });
		await send(admin, priv.id, 'classified');
		const alice = await as(ALICE);
		const bob = await as(BOB);
		const m = await mark([admin, bob]);
		// A private channel of others is "not found", as a missing one.
		await refused(alice, 'join_channel', [priv.id], 'not_found');
		await refused(alice, 'chat:get_messages', [{ channelId: priv.id }],
		    'not_found');
		await refused(alice, 'chat:send_message', [{ channelId: priv.id,
		    message: 'let me in' }], 'not_found');
		await assertNone(m, ROOM_EVENTS, 300);
		const j = await ok(bob, 'join_channel', priv.id);
		assert.equal(j.channel.id, priv.id);
		assert.equal(j.channel.isPrivate, true);
		assert.equal((await history(bob, priv.id)).length, 1);
		const carol = await as(CAROL);
		await ok(carol, 'join_channel', String(priv.id));
		assert.equal(await listed(alice, priv.id), undefined);
	}));

	it('unknown channels: not_found', withLogs(async () => {
		const alice = await as(ALICE);
		await refused(alice, 'join_channel', [987654], 'not_found');
		await refused(alice, 'join_channel', ['987655'], 'not_found');
		await refused(alice, 'leave_channel', [987654], 'not_found');
		await refused(alice, 'chat:get_messages', [{ channelId: 987654 }],
		    'not_found');
	}));

	it('user_joined once per user; joining again is a no-op',
	    withLogs(async () => {
		const admin = await as(ADMIN);
		const ch = await createChannel(admin);
		const bob = await as(BOB);
		await ok(bob, 'join_channel', ch.id);
		const a1 = await as(ALICE);
		const a2 = await as(ALICE, { notOn: [a1.who.pid] });
		const outsider = await as(CAROL);
		let m = await mark([admin, bob, a1, a2, outsider]);
		const j = await ok(a1, 'join_channel', ch.id);
		assert.equal(j.channel.id, ch.id);
		assert.equal(j.channel.name, ch.name);
		const want = (p) => p.userId === 2 && p.channelId === ch.id;
		for (const s of [admin, bob, a1]) {
			const ev = await waitFor(s, 'user_joined', want, 3000,
			    m.get(s));
			assert.deepEqual(Object.keys(ev).sort(), ['channelId',
			    'joinedAt', 'userDisplayName', 'userId', 'userRole']);
			assert.equal(ev.userDisplayName, 'Alice');
			assert.equal(ev.userRole, 'user');
			assertIso(ev.joinedAt, 'joinedAt');
		}
		await assertNone(new Map([[outsider, m.get(outsider)]]),
		    ['user_joined'], 100);
		// Alice's second tab, on another worker, and the first again.
		m = await mark([admin, bob, a1, a2]);
		assert.equal((await ok(a2, 'join_channel', ch.id)).channel.id,
		    ch.id);
		assert.equal((await ok(a1, 'join_channel', ch.id)).channel.id,
		    ch.id);
		await assertNone(m, ['user_joined'], 300);
		// Both tabs now get the channel's messages.
		const msg = await send(bob, ch.id, 'to both tabs');
		for (const s of [a1, a2]) {
			await waitFor(s, 'chat:new_message', (x) =>
			    x.id === msg.id, 3000);
		}
	}));

	it('user_left: reason leave only when the last tab leaves; ' +
	    'membership kept', withLogs(async () => {
		const admin = await as(ADMIN);
		const ch = await createChannel(admin);
		const bob = await as(BOB);
		await ok(bob, 'join_channel', ch.id);
		const a1 = await as(ALICE);
		const a2 = await as(ALICE, { notOn: [a1.who.pid] });
		await ok(a1, 'join_channel', ch.id);
		await ok(a2, 'join_channel', ch.id);
		let m = await mark([admin, bob]);
		await ok(a1, 'leave_channel', ch.id);
		await assertNone(m, ['user_left'], 300);
		// a1 left the room: it no longer gets the channel's messages.
		const since1 = a1.rec.length;
		const x = await send(bob, ch.id, 'after a1 left');
		await waitFor(a2, 'chat:new_message', (y) => y.id === x.id);
		await assertNone(new Map([[a1, since1]]), ['chat:new_message'],
		    200);
		m = await mark([admin, bob]);
		await ok(a2, 'leave_channel', ch.id);
		for (const s of [admin, bob]) {
			const ev = await waitFor(s, 'user_left', (p) =>
			    p.userId === 2 && p.channelId === ch.id, 3000,
			    m.get(s));
			assert.deepEqual(Object.keys(ev).sort(), ['channelId',
			    'leftAt', 'reason', 'userDisplayName', 'userId']);
			assert.equal(ev.reason, 'leave');
			assert.equal(ev.userDisplayName, 'Alice');
			assertIso(ev.leftAt, 'leftAt');
		}
		assert.equal(got(bob, 'user_left', (p) => p.userId === 2,
		    m.get(bob)).length, 1, 'exactly one user_left');
		const l = await listed(a1, ch.id);
		assert.equal(l.isMember, true, 'still a member after leaving');
		// As a member, she can still send without joining.
		await send(a1, ch.id, 'member, not joined');
	}));

	it('user_left: reason disconnect only when the last tab goes',
	    withLogs(async () => {
		const admin = await as(ADMIN);
		const ch = await createChannel(admin);
		const bob = await as(BOB, { notOn: [] });
		await ok(bob, 'join_channel', ch.id);
		const a1 = await as(ALICE);
		const a2 = await as(ALICE, { notOn: [a1.who.pid] });
		await ok(a1, 'join_channel', ch.id);
		await ok(a2, 'join_channel', ch.id);
		let m = await mark([admin, bob]);
		a1.close();
		await assertNone(m, ['user_left'], 500);
		m = await mark([admin, bob]);
		a2.close();
		for (const s of [admin, bob]) {
			const ev = await waitFor(s, 'user_left', (p) =>
			    p.userId === 2 && p.channelId === ch.id, 3000,
			    m.get(s));
			assert.equal(ev.reason, 'disconnect');
			assert.equal(ev.userDisplayName, 'Alice');
			assertIso(ev.leftAt, 'leftAt');
		}
		// A tab that left before disconnecting causes no second one.
		const a3 = await as(ALICE);
		await ok(a3, 'join_channel', ch.id);
		await ok(a3, 'leave_channel', ch.id);
		await waitFor(bob, 'user_left', (p) => p.userId === 2 &&
		    p.reason === 'leave', 3000, m.get(bob));
		m = await mark([bob]);
		a3.close();
		await assertNone(m, ['user_left'], 400);
	}));

	it('channel_updated: stored and broadcast to the channel',
	    withLogs(async () => {
		const admin = await as(ADMIN);
		const ch = await createChannel(admin, { description: 'old' });
		const alice = await as(ALICE);
		await ok(alice, 'join_channel', ch.id);
		const outsider = await as(BOB);
		const m = await mark([admin, alice, outsider]);
		const newName = uniq('Renamed');
		const ack = await ok(admin, 'channel_updated', { channelId: ch.id,
		    changes: { name: newName, description: 'Updated' } });
		assert.equal(ack.channel.id, ch.id);
		assert.equal(ack.channel.name, newName);
		assert.equal(ack.channel.description, 'Updated');
		for (const s of [admin, alice]) {
			const ev = await waitFor(s, 'channel_updated', (p) =>
			    p.channelId === ch.id, 3000, m.get(s));
			assert.deepEqual(Object.keys(ev).sort(), ['changes',
			    'channelId', 'updatedAt', 'updatedBy', 'updaterName']);
			assert.deepEqual(ev.changes, { name: newName,
			    description: 'Updated' });
			assert.strictEqual(ev.updatedBy, 1);
			assert.equal(ev.updaterName, 'Admin');
			assertIso(ev.updatedAt, 'updatedAt');
		}
		await assertNone(new Map([[outsider, m.get(outsider)]]),
		    ['channel_updated'], 100);
		const l = await listed(alice, ch.id);
		assert.equal(l.name, newName);
		assert.equal(l.description, 'Updated');
		// isPrivate alone; the id as a digit string.
		const p = await ok(admin, 'channel_updated', {
		    channelId: String(ch.id), changes: { isPrivate: true } });
		assert.equal(p.channel.isPrivate, true);
		assert.equal(p.channel.name, newName);
		assert.equal((await listed(alice, ch.id)).isPrivate, true);
	}));

	it('channel_updated: bad changes are refused, nothing stored',
	    withLogs(async () => {
		const admin = await as(ADMIN);
		const ch = await createChannel(admin, { description: 'keep' });
		const taken = await createChannel(admin);
		const alice = await as(ALICE);
		await ok(alice, 'join_channel', ch.id);
		const m = await mark([admin, alice]);
		const bad = [
			[{ topic: 'x' }, 'invalid_payload'],
			[{ name: uniq('n'), createdBy: 5 }, 'invalid_payload'],
			[{ name: uniq('n'), id: 99 }, 'invalid_payload'],
			[{ name: '' }, 'invalid_payload'],
			[{ name: 'n'.repeat(101) }, 'invalid_payload'],
			[{ name: 42 }, 'invalid_payload'],
			[{ description: 'd'.repeat(1001) }, 'invalid_payload'],
			[{ isPrivate: 'yes' }, 'invalid_payload'],
			['name', 'invalid_payload'],
			[null, 'invalid_payload'],
			[[{ name: 'x' }], 'invalid_payload'],
			[{ name: taken.name.toUpperCase() }, 'conflict'],
		];
		for (const [changes, code] of bad) {
			await refused(admin, 'channel_updated', [{ channelId: ch.id,
			    changes }], code);
		}
		await refused(admin, 'channel_updated', [{ channelId: ch.id }],
		    'invalid_payload', 'no changes');
		await refused(admin, 'channel_updated', [{ channelId: 987654,
		    changes: { name: uniq('n') } }], 'not_found');
		await assertNone(m, ['channel_updated'], 300);
		const l = await listed(alice, ch.id);
		assert.equal(l.name, ch.name);
		assert.equal(l.description, 'keep');
		assert.equal(l.isPrivate, false);
	}));

	it('no worker died', () => {
		assertNoWorkerDied(d, pidsBefore);
	});
});

describe('permissions', () => {
	let pidsBefore;
	const sockets = [];

	const d = useDaemon({ workers: 2, extraConf: [...CHAT_CONF,
	    'role guest none'], sockets, closeEach: true });
	before(() => {
		pidsBefore = d.workerPids();
	});

	async function as(user, tabOpts) {
		const s = await login(d, user, tabOpts);
		sockets.push(s);
		return s;
	}

	async function setup() {
		const admin = await as(ADMIN);
		const ch = await createChannel(admin, { description: 'orig' });
		const bob = await as(BOB);
		await ok(bob, 'join_channel', ch.id);
		const idle = await as(CAROL);	// not in the channel
		return { admin, ch, bob, idle };
	}

	it('role user: channel:create, channel_updated, system_broadcast ' +
	    'forbidden', withLogs(async () => {
		const { admin, ch, bob, idle } = await setup();
		const alice = await as(ALICE);
		await ok(alice, 'join_channel', ch.id);
		const m = await mark([admin, bob, idle, alice]);
		const name = uniq('byuser');
		await refused(alice, 'channel:create', [{ name }], 'forbidden');
		await refused(alice, 'channel_updated', [{ channelId: ch.id,
		    changes: { name: uniq('hijack'), description: 'x' } }],
		    'forbidden');
		await refused(alice, 'system_broadcast', [{ message: 'hi all',
		    priority: 'high' }], 'forbidden');
		await assertNone(m, ['channel_updated',
		    'system_broadcast_received', 'user_joined'], 300);
		const list = (await ok(admin, 'channel:list')).channels;
		assert.ok(!list.some((c) => c.name === name), 'not created');
		const l = list.find((c) => c.id === ch.id);
		assert.equal(l.name, ch.name);
		assert.equal(l.description, 'orig');
		// She may send messages, though.
		await send(alice, ch.id, 'allowed');
	}));

	it('a role without chat.access cannot join or send',
	    withLogs(async () => {
		const { admin, ch, bob, idle } = await setup();
		const guest = await as(GUEST);
		assert.deepEqual(guest.user.permissions, []);
		const hist0 = await history(admin, ch.id);
		const m = await mark([admin, bob, idle]);
		await refused(guest, 'join_channel', [ch.id], 'forbidden');
		await refused(guest, 'chat:send_message', [{ channelId: ch.id,
		    message: 'guest here' }], 'forbidden');
		await refused(guest, 'channel:create', [{ name: uniq('g') }],
		    'forbidden');
		await assertNone(m, ROOM_EVENTS, 300);
		assert.deepEqual(await history(admin, ch.id), hist0);
		assert.equal((await listed(admin, ch.id)).name, ch.name);
	}));

	it('a "permissions" claim overrides the role', withLogs(async () => {
		const { admin, ch, bob, idle } = await setup();
		// An admin reduced to chat.access: may join, nothing more.
		const reduced = await openTab(d);
		sockets.push(reduced);
		const ra = await auth(reduced, mint({ userId: '6',
		    displayName: 'Reduced', role: 'admin',
		    permissions: ['chat.access'] }));
		assert.deepEqual(ra.user.permissions, ['chat.access']);
		await ok(reduced, 'join_channel', ch.id);
		const hist0 = await history(admin, ch.id);
		const m = await mark([admin, bob, idle]);
		await refused(reduced, 'chat:send_message', [{ channelId: ch.id,
		    message: 'no' }], 'forbidden');
		await refused(reduced, 'channel:create', [{ name: uniq('r') }],
		    'forbidden');
		await refused(reduced, 'channel_updated', [{ channelId: ch.id,
		    changes: { name: uniq('r') } }], 'forbidden');
		await refused(reduced, 'system_broadcast', [{ message: 'no' }],
		    'forbidden');
		await assertNone(m, ['chat:new_message', 'channel_updated',
		    'system_broadcast_received'], 300);
		assert.deepEqual(await history(admin, ch.id), hist0);
		// A user granted chat.create_channels may create.
		const granted = await openTab(d);
		sockets.push(granted);
		await auth(granted, mint({ userId: '7', displayName: 'Granted',
		    role: 'user', permissions: ['chat.access',
		    'chat.send_messages', 'chat.create_channels'] }));
		const c = await createChannel(granted);
		assert.equal(c.createdBy, 7);
		// A guest granted chat.access may join.
		const g = await openTab(d);
		sockets.push(g);
		await auth(g, mint({ ...GUEST, userId: '8',
		    permissions: ['chat.access'] }));
		await ok(g, 'join_channel', ch.id);
	}));

	it('no worker died', () => {
		assertNoWorkerDied(d, pidsBefore);
	});
});

// Messages (doc/events.md "Messages, receipts, typing, files"):
// chat:send_message to every socket of the channel, validation, replies,
// clientMsgId dedupe, history paging and catch-up, read receipts.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { useDaemon, withLogs, sleep } from './lib/daemon.mjs';
import { CHAT_CONF, login, ok, refused, got, waitFor, mark, assertNone,
    createChannel, send, listed, history, assertIso, assertId,
    assertNoWorkerDied } from './lib/chat.mjs';

const ADMIN = { userId: '1', displayName: 'Admin', role: 'admin' };
const ALICE = { userId: '2', displayName: 'Alice', role: 'user' };
const BOB = { userId: '3', displayName: 'Bob', role: 'user' };
const CAROL = { userId: '4', displayName: 'Carol', role: 'user' };
const DAVE = { userId: 'dave', displayName: 'Dave', role: 'user' };

const MSG_KEYS = ['channelId', 'deleted', 'editedAt', 'id', 'lastReplyAt',
    'message', 'messageType', 'reactions', 'replyCount', 'replyToId',
    'timestamp', 'userDisplayName', 'userId'];

describe('messages', () => {
	let pidsBefore;
	const sockets = [];

	const d = useDaemon({ workers: 2, extraConf: [...CHAT_CONF,
	    'max-message-length 100', 'rate-limit 10000 1'],
	    sockets, closeEach: true });
	before(() => {
		pidsBefore = d.workerPids();
	});

	async function as(user, tabOpts) {
		const s = await login(d, user, tabOpts);
		sockets.push(s);
		return s;
	}

	// A channel with the admin (creator), alice on two workers and bob
	// joined; carol authenticated elsewhere.
	async function room() {
		const admin = await as(ADMIN);
		const ch = await createChannel(admin);
		const a1 = await as(ALICE);
		const a2 = await as(ALICE, { notOn: [a1.who.pid] });
		const bob = await as(BOB);
		const carol = await as(CAROL);
		for (const s of [a1, a2, bob])
			await ok(s, 'join_channel', ch.id);
		return { admin, ch, a1, a2, bob, carol,
		    inRoom: [admin, a1, a2, bob] };
	}

	it('chat:new_message reaches every socket of the channel',
	    withLogs(async () => {
		const { ch, a1, a2, bob, carol, inRoom } = await room();
		const m = await mark([...inRoom, carol]);
		const ack = await ok(a1, 'chat:send_message', { channelId: ch.id,
		    message: 'hello', messageType: 'text' });
		const msg = ack.message;
		assert.deepEqual(Object.keys(msg).sort(), MSG_KEYS,
		    'no clientMsgId when none was given');
		assertId(msg.id);
		assert.strictEqual(msg.channelId, ch.id);
		assert.strictEqual(msg.userId, 2);
		assert.equal(msg.userDisplayName, 'Alice');
		assert.equal(msg.message, 'hello');
		assert.equal(msg.messageType, 'text');
		assert.strictEqual(msg.replyToId, null);
		assertIso(msg.timestamp, 'timestamp', 10000);
		for (const s of inRoom) {
			const ev = await waitFor(s, 'chat:new_message', (x) =>
			    x.id === msg.id, 3000, m.get(s));
			assert.deepEqual(ev, msg, `${s.label}: as acked`);
		}
		assert.ok(a1.who.pid !== a2.who.pid, 'tabs on two workers');
		await assertNone(new Map([[carol, m.get(carol)]]),
		    ['chat:new_message'], 200);
		for (const s of inRoom) {
			assert.equal(got(s, 'chat:new_message', (x) =>
			    x.id === msg.id, m.get(s)).length, 1, 'exactly once');
		}
		// Default type, id as a digit string, text kept verbatim.
		const v = await send(bob, String(ch.id), '  spaced\tout  ');
		assert.equal(v.message, '  spaced\tout  ');
		assert.equal(v.messageType, 'text');
		assert.strictEqual(v.channelId, ch.id);
		assert.ok(v.id > msg.id, 'ids increase');
		const h = await history(bob, ch.id);
		assert.deepEqual(h.slice(-2), [msg, v]);
	}));

	it('messageType and length validation', withLogs(async () => {
		const { ch, a1, bob, inRoom } = await room();
		for (const t of ['text', 'file', 'image', 'gif', 'ticket_link']) {
			const m = await send(a1, ch.id, `a ${t}`,
			    { messageType: t });
			assert.equal(m.messageType, t);
		}
		const hist0 = await history(bob, ch.id);
		const m = await mark(inRoom);
		const bad = [
			[{ message: 'x', messageType: 'video' }, 'bad type'],
			[{ message: 'x', messageType: 'TEXT' }, 'case'],
			[{ message: 'x', messageType: 3 }, 'type number'],
			[{ message: '' }, 'empty'],
			[{ message: '   ' }, 'spaces'],
			[{ message: '\n\t \r' }, 'whitespace'],
			[{ message: 'x'.repeat(101) }, '101 characters'],
			[{ message: '\u00e9'.repeat(101) }, '101 characters'],
			[{ message: 42 }, 'number'],
			[{ message: null }, 'null'],
			[{}, 'missing'],
		];
		for (const [fields, what] of bad) {
			await refused(a1, 'chat:send_message', [{ channelId: ch.id,
			    ...fields }], 'invalid_payload', what);
		}
		await assertNone(m, ['chat:new_message'], 300);
		assert.deepEqual(await history(bob, ch.id), hist0,
		    'nothing stored');
		// Exactly max-message-length characters (not bytes) pass.
		assert.equal((await send(a1, ch.id, 'x'.repeat(100))).message
		    .length, 100);
		const e = await send(a1, ch.id, '\u00e9'.repeat(100));
		assert.equal(e.message, '\u00e9'.repeat(100));
	}));

	it('replyToId: a message of the same channel', withLogs(async () => {
		const { admin, ch, a1, bob, inRoom } = await room();
		const other = await createChannel(admin);
		const elsewhere = await send(admin, other.id, 'other channel');
		const orig = await send(bob, ch.id, 'question');
		const r = await send(a1, ch.id, 'answer', { replyToId: orig.id });
		assert.strictEqual(r.replyToId, orig.id);
		const ev = await waitFor(bob, 'chat:new_message', (x) =>
		    x.id === r.id);
		assert.strictEqual(ev.replyToId, orig.id);
		const r2 = await send(a1, ch.id, 'string id',
		    { replyToId: String(orig.id) });
		assert.strictEqual(r2.replyToId, orig.id);
		const n = await send(a1, ch.id, 'explicit null',
		    { replyToId: null });
		assert.strictEqual(n.replyToId, null);
		const hist0 = await history(bob, ch.id);
		const m = await mark(inRoom);
		// Unknown or foreign message: assumed not_found (or
		// invalid_payload); a malformed id: invalid_payload.
		await refused(a1, 'chat:send_message', [{ channelId: ch.id,
		    message: 'x', replyToId: 99999999 }],
		    ['not_found', 'invalid_payload'], 'unknown message');
		await refused(a1, 'chat:send_message', [{ channelId: ch.id,
		    message: 'x', replyToId: elsewhere.id }],
		    ['not_found', 'invalid_payload'], 'other channel');
		for (const bad of ['abc', -1, 1.5, {}, [orig.id], true]) {
			await refused(a1, 'chat:send_message', [{ channelId: ch.id,
			    message: 'x', replyToId: bad }], 'invalid_payload');
		}
		await assertNone(m, ['chat:new_message'], 300);
		assert.deepEqual(await history(bob, ch.id), hist0);
	}));

	it('clientMsgId: a resend is acked with the original, stored once',
	    withLogs(async () => {
		const { admin, ch, a1, a2, bob, inRoom } = await room();
		const m = await mark(inRoom);
		const first = await ok(a1, 'chat:send_message', { channelId: ch.id,
		    message: 'once', clientMsgId: 'cm-1' });
		assert.equal(first.message.clientMsgId, 'cm-1');
		const ev = await waitFor(bob, 'chat:new_message', (x) =>
		    x.id === first.message.id);
		assert.equal(ev.clientMsgId, 'cm-1');
		// The resend, from the other tab, and a third time to
		// another channel: the original each time.
		const again = await ok(a2, 'chat:send_message', { channelId: ch.id,
		    message: 'once', clientMsgId: 'cm-1' });
		assert.deepEqual(again.message, first.message);
		const other = await createChannel(admin);
		await ok(a1, 'join_channel', other.id);
		const third = await ok(a1, 'chat:send_message', {
		    channelId: other.id, message: 'different', clientMsgId: 'cm-1' });
		assert.deepEqual(third.message, first.message);
		await sleep(300);
		for (const s of inRoom) {
			assert.equal(got(s, 'chat:new_message', () => true,
			    m.get(s)).length, 1, `${s.label}: one chat:new_message`);
		}
		assert.equal((await history(bob, ch.id)).filter((x) =>
		    x.clientMsgId === 'cm-1').length, 1);
		assert.equal((await history(a1, other.id)).length, 0);
		// Another user may use the same value.
		const b = await send(bob, ch.id, 'mine', { clientMsgId: 'cm-1' });
		assert.notEqual(b.id, first.message.id);
		// 128 characters pass, 129 do not.
		const c128 = 'k'.repeat(128);
		assert.equal((await send(a1, ch.id, 'long id',
		    { clientMsgId: c128 })).clientMsgId, c128);
		await refused(a1, 'chat:send_message', [{ channelId: ch.id,
		    message: 'x', clientMsgId: 'k'.repeat(129) }],
		    'invalid_payload');
		await refused(a1, 'chat:send_message', [{ channelId: ch.id,
		    message: 'x', clientMsgId: 12 }], 'invalid_payload');
	}));

	it('sending needs membership or a joined socket', withLogs(async () => {
		const { admin, ch, bob } = await room();
		const dave = await as(DAVE);
		const hist0 = await history(admin, ch.id);
		const m = await mark([admin, bob]);
		await refused(dave, 'chat:send_message', [{ channelId: ch.id,
		    message: 'not a member' }], 'forbidden');
		await refused(dave, 'chat:send_message', [{ channelId: 987654,
		    message: 'no channel' }], 'not_found');
		await assertNone(m, ['chat:new_message'], 300);
		assert.deepEqual(await history(admin, ch.id), hist0);
		// Bob leaves the room but stays a member: he may still send.
		await ok(bob, 'leave_channel', ch.id);
		const x = await send(bob, ch.id, 'still a member');
		assert.equal(x.userId, 3);
		assert.equal(x.userDisplayName, 'Bob');
	}));

	it('history: 130 messages, paging before/after, hasMore, limits',
	    withLogs(async () => {
		const admin = await as(ADMIN);
		const ch = await createChannel(admin);
		const ids = [];
		for (let i = 0; i < 130; i++)
			ids.push((await send(admin, ch.id, `h${i}`)).id);
		for (let i = 1; i < ids.length; i++)
			assert.ok(ids[i] > ids[i - 1], 'increasing ids');
		const page = async (q) => {
			const a = await ok(admin, 'chat:get_messages',
			    { channelId: ch.id, ...q });
			assert.equal(typeof a.hasMore, 'boolean');
			assert.ok(Array.isArray(a.messages));
			return { ids: a.messages.map((x) => x.id),
			    texts: a.messages.map((x) => x.message),
			    hasMore: a.hasMore, messages: a.messages };
		};
		const rev = (a) => a.slice().reverse();

		let p = await page({});
		assert.deepEqual(p.ids, rev(ids.slice(80)), 'default: 50 newest');
		assert.equal(p.hasMore, true);
		for (const x of p.messages) {
			assert.deepEqual(Object.keys(x).sort(), MSG_KEYS);
			assert.strictEqual(x.channelId, ch.id);
			assertIso(x.timestamp, 'timestamp');
		}
		assert.equal(p.texts[0], 'h129');

		p = await page({ limit: 100 });
		assert.deepEqual(p.ids, rev(ids.slice(30)));
		assert.equal(p.hasMore, true);
		p = await page({ limit: 100, before: ids[30] });
		assert.deepEqual(p.ids, rev(ids.slice(0, 30)));
		assert.equal(p.hasMore, false);
		p = await page({ before: ids[11], limit: 10 });
		assert.deepEqual(p.ids, rev(ids.slice(1, 11)));
		assert.equal(p.hasMore, true);
		p = await page({ before: ids[10], limit: 10 });
		assert.deepEqual(p.ids, rev(ids.slice(0, 10)));
		assert.equal(p.hasMore, false);
		p = await page({ before: String(ids[0]) });
		assert.deepEqual(p.ids, []);
		assert.equal(p.hasMore, false);

		p = await page({ after: ids[0], limit: 10 });
		assert.deepEqual(p.ids, ids.slice(1, 11), 'after: oldest first');
		assert.equal(p.hasMore, true);
		p = await page({ after: ids[99], limit: 100 });
		assert.deepEqual(p.ids, ids.slice(100));
		assert.equal(p.hasMore, false);
		p = await page({ after: ids[119], limit: 10 });
		assert.deepEqual(p.ids, ids.slice(120));
		assert.equal(p.hasMore, false);
		p = await page({ after: ids[129] });
		assert.deepEqual(p.ids, []);
		assert.equal(p.hasMore, false);
		p = await page({ limit: 1 });
		assert.deepEqual(p.ids, [ids[129]]);
		assert.equal(p.hasMore, true);

		for (const limit of [0, 101, -1, 1.5, 'ten', 1000000]) {
			await refused(admin, 'chat:get_messages', [{ channelId: ch.id,
			    limit }], 'invalid_payload', `limit ${limit}`);
		}
		for (const q of [{ before: 'x' }, { after: -5 }, { before: {} }]) {
			await refused(admin, 'chat:get_messages', [{ channelId: ch.id,
			    ...q }], 'invalid_payload');
		}
		// Members only.
		const dave = await as(DAVE);
		await refused(dave, 'chat:get_messages', [{ channelId: ch.id }],
		    'forbidden');
		await refused(dave, 'chat:get_messages', [{ channelId: 987654 }],
		    'not_found');

		// Catch-up: carol reads up to a point, goes away, 5 messages
		// later asks for what came after what she saw.
		const carol = await as(CAROL);
		await ok(carol, 'join_channel', ch.id);
		const seen = (await page({ limit: 1 })).ids[0];
		carol.close();
		const missed = [];
		for (let i = 0; i < 5; i++)
			missed.push((await send(admin, ch.id, `missed${i}`)).id);
		const back = await as(CAROL);
		const c = await ok(back, 'chat:get_messages', { channelId: ch.id,
		    after: seen });
		assert.deepEqual(c.messages.map((x) => x.id), missed);
		assert.deepEqual(c.messages.map((x) => x.message),
		    ['missed0', 'missed1', 'missed2', 'missed3', 'missed4']);
		assert.equal(c.hasMore, false);
	}));

	it('message_read: receipt to the channel, never backwards, null = latest',
	    withLogs(async () => {
		const { admin, ch, a1, a2, bob, carol } = await room();
		const ms = [];
		for (let i = 0; i < 4; i++)
			ms.push(await send(admin, ch.id, `r${i}`));
		const m = await mark([admin, a1, a2, bob, carol]);
		const ack = await ok(a1, 'message_read', { channelId: ch.id,
		    messageId: ms[2].id });
		assert.strictEqual(ack.messageId, ms[2].id);
		for (const s of [admin, a2, bob]) {
			const r = await waitFor(s, 'message_read_receipt', (x) =>
			    x.userId === 2 && x.messageId === ms[2].id, 3000,
			    m.get(s));
			assert.deepEqual(Object.keys(r).sort(), ['channelId',
			    'messageId', 'readAt', 'userDisplayName', 'userId']);
			assert.strictEqual(r.channelId, ch.id);
			assert.equal(r.userDisplayName, 'Alice');
			assertIso(r.readAt, 'readAt');
		}
		await assertNone(new Map([[carol, m.get(carol)]]),
		    ['message_read_receipt'], 100);
		let l = await listed(a2, ch.id);
		assert.strictEqual(l.lastReadMessageId, ms[2].id);
		assert.strictEqual(l.unreadCount, 1);

		// An older message: the position stays (assumed: the ack
		// carries the position in force).
		const older = await ok(a1, 'message_read', { channelId: ch.id,
		    messageId: String(ms[0].id) });
		assert.strictEqual(older.messageId, ms[2].id);
		l = await listed(a1, ch.id);
		assert.strictEqual(l.lastReadMessageId, ms[2].id);
		assert.strictEqual(l.unreadCount, 1);

		// null: the latest.
		const latest = await ok(a2, 'message_read', { channelId: ch.id,
		    messageId: null });
		assert.strictEqual(latest.messageId, ms[3].id);
		await waitFor(bob, 'message_read_receipt', (x) => x.userId === 2 &&
		    x.messageId === ms[3].id, 3000, m.get(bob));
		l = await listed(a1, ch.id);
		assert.strictEqual(l.lastReadMessageId, ms[3].id);
		assert.strictEqual(l.unreadCount, 0);

		// Members only; ids that are not messages of the channel.
		const dave = await as(DAVE);
		await refused(dave, 'message_read', [{ channelId: ch.id,
		    messageId: null }], 'forbidden');
		const other = await createChannel(admin);
		const foreign = await send(admin, other.id, 'elsewhere');
		await refused(a1, 'message_read', [{ channelId: ch.id,
		    messageId: foreign.id }], ['not_found', 'invalid_payload'],
		    'message of another channel');
		await refused(a1, 'message_read', [{ channelId: ch.id,
		    messageId: 99999999 }], ['not_found', 'invalid_payload'],
		    'unknown message');
		l = await listed(a1, ch.id);
		assert.strictEqual(l.lastReadMessageId, ms[3].id);
	}));

	it('no worker died', () => {
		assertNoWorkerDied(d, pidsBefore);
	});
});

// Limits and bad input (doc/events.md "Limits", "Conventions"): the
// per-socket rate limit, and for every client->server event wrong types,
// missing fields, 1 MB strings and unknown ids -> the error event and an
// ack with the right code, nothing stored or broadcast, no worker dies.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { useDaemon, withLogs, sleep } from './lib/daemon.mjs';
import { ask } from './lib/client.mjs';
import { CHAT_CONF, openTab, login, ok, refused, got, waitFor, mark,
    assertNone, createChannel, send, history, disconnected,
    assertNoWorkerDied, uniq, short } from './lib/chat.mjs';

const ADMIN = { userId: '1', displayName: 'Admin', role: 'admin' };
const BOB = { userId: '3', displayName: 'Bob', role: 'user' };
const CAROL = { userId: '4', displayName: 'Carol', role: 'user' };

const BIG = 'x'.repeat(1 << 20);		// 1 MB
const BIG_DIGITS = '7'.repeat(1 << 20);
const MISSING = Symbol('no argument');

// Values of the wrong type for an object payload.
const NOT_OBJECTS = [42, 'str', [], [1, 2], null, true, MISSING, BIG];

const ROOM_EVENTS = ['chat:new_message', 'user_joined', 'user_left',
    'channel_updated', 'chat:user_typing', 'message_read_receipt',
    'file_upload_notification', 'system_broadcast_received'];

function argsOf(v) {
	return v === MISSING ? [] : [v];
}

describe('rate-limit 5 1', () => {
	const sockets = [];

	const d = useDaemon({ workers: 2, extraConf: [...CHAT_CONF,
	    'rate-limit 5 1'], sockets });

	it('the 6th event within a second is refused, nothing happens',
	    withLogs(async () => {
		const admin = await login(d, ADMIN);
		sockets.push(admin);
		const ch = await createChannel(admin);
		const bob = await login(d, BOB);
		sockets.push(bob);
		await ok(bob, 'join_channel', ch.id);
		await sleep(1200);		// a full bucket again
		const since = bob.rec.length;
		const m = await mark([admin]);
		const acks = await Promise.all([
			...Array.from({ length: 5 }, () =>
			    ask(bob, 'channel:list')),
			ask(bob, 'chat:send_message', { channelId: ch.id,
			    message: 'over the limit' }),
		]);
		acks.slice(0, 5).forEach((a, i) => assert.equal(a.ok, true,
		    `event ${i + 1}: ${short(a)}`));
		assert.equal(acks[5].ok, false, short(acks[5]));
		assert.equal(acks[5].error.code, 'rate_limited');
		assert.equal(await waitFor(bob, 'chat:error', null, 2000, since),
		    'Rate limit exceeded');
		assert.equal(acks[5].error.message, 'Rate limit exceeded');
		await assertNone(m, ['chat:new_message'], 300);
		assert.deepEqual(await history(admin, ch.id), []);
		// A second later the socket works again.
		await sleep(1100);
		assert.equal(bob.connected, true);
		await send(bob, ch.id, 'in time');
	}));

	it('a socket that keeps flooding is disconnected; others are not',
	    withLogs(async () => {
		const other = await login(d, CAROL);
		const flood = await login(d, BOB);
		sockets.push(other, flood);
		await sleep(1200);
		for (let i = 0; i < 40; i++)
			flood.emit('channel:list');
		await disconnected(flood, 3000);
		// The refusals sent just before the disconnect may be lost
		// with the connection; those that arrive are rate limits.
		assert.ok(got(flood, 'chat:error').every((m) =>
		    m === 'Rate limit exceeded'));
		assert.equal(other.connected, true);
		await ok(other, 'channel:list');
	}));
});

describe('bad input for every event', () => {
	let pidsBefore, admin, bob, carol, ch, m0, setupMark;
	let listBefore;
	const sockets = [];

	const d = useDaemon({ workers: 2, extraConf: [...CHAT_CONF,
	    'rate-limit 100000 1', 'max-payload 4m'], sockets });
	before(async () => {
		pidsBefore = d.workerPids();
		admin = await login(d, ADMIN);
		ch = await createChannel(admin, { description: 'stable' });
		m0 = await send(admin, ch.id, 'the only message');
		bob = await login(d, BOB, { notOn: [admin.who.pid] });
		await ok(bob, 'join_channel', ch.id);
		carol = await login(d, CAROL);
		sockets.push(admin, bob, carol);
		listBefore = (await ok(admin, 'channel:list')).channels;
		setupMark = await mark([admin, bob, carol]);
	});

	// Run [what, arg-or-MISSING, code(s)] cases of one event on s.
	async function cases(s, event, list) {
		for (const [what, arg, code] of list) {
			await refused(s, event, argsOf(arg), code, what);
		}
		assert.deepEqual(s.events.disconnects, [],
		    'bad input does not disconnect');
	}

	const typeCases = (code = 'invalid_payload') => NOT_OBJECTS.map((v) =>
	    [`payload ${v === MISSING ? 'missing' : short(v, 20)}`, v, code]);

	const BAD_IDS = ['abc', '12a', '', ' 1', '1.5', '-3', '0x10', -1, 1.5,
	    null, {}, [], [1], true, BIG, MISSING];

	for (const event of ['join_channel', 'leave_channel']) {
		it(`${event}: bad ids -> invalid_payload, unknown -> not_found`,
		    withLogs(async () => {
			await cases(carol, event, [
			    ...BAD_IDS.map((v) => [`id ${v === MISSING ?
				'missing' : short(v, 20)}`, v,
				'invalid_payload']),
			    // Beyond a 64-bit id: not an id at all.
			    ['huge number', '99999999999999999999999',
				'invalid_payload'],
			    ['1 MB of digits', BIG_DIGITS, 'invalid_payload'],
			]);
			// An id of no channel: not_found for join and leave.
			for (const id of [987654, '987654'])
				await refused(carol, event, [id], 'not_found');
		}));
	}

	it('channel:create', withLogs(async () => {
		const n = () => uniq('bad');
		await cases(admin, 'channel:create', [
		    ...typeCases(),
		    ['no name', {}, 'invalid_payload'],
		    ['name null', { name: null }, 'invalid_payload'],
		    ['name number', { name: 5 }, 'invalid_payload'],
		    ['name 1 MB', { name: BIG }, 'invalid_payload'],
		    ['description 1 MB', { name: n(), description: BIG },
			'invalid_payload'],
		    ['description number', { name: n(), description: 5 },
			'invalid_payload'],
		    ['isPrivate string', { name: n(), isPrivate: 'yes' },
			'invalid_payload'],
		    ['memberIds string', { name: n(), memberIds: '2' },
			'invalid_payload'],
		    ['memberIds of objects', { name: n(), memberIds: [{}] },
			'invalid_payload'],
		    ['memberIds 1 MB id', { name: n(), memberIds: [BIG] },
			'invalid_payload'],
		    ['1001 memberIds', { name: n(), memberIds: Array.from(
			{ length: 1001 }, (_, i) => String(i + 1)) },
			'invalid_payload'],
		]);
	}));

	it('channel:list with junk arguments: answered, no crash',
	    withLogs(async () => {
		for (const v of [42, BIG, null, { a: 1 }]) {
			const a = await ask(admin, 'channel:list', v);
			assert.equal(typeof a, 'object', short(a));
			assert.equal(typeof a.ok, 'boolean', short(a));
		}
	}));

	it('chat:get_messages', withLogs(async () => {
		const c = ch.id;
		await cases(admin, 'chat:get_messages', [
		    ...typeCases(),
		    ['no channelId', {}, 'invalid_payload'],
		    ['channelId abc', { channelId: 'abc' }, 'invalid_payload'],
		    ['channelId 1 MB', { channelId: BIG }, 'invalid_payload'],
		    ['channelId array', { channelId: [c] }, 'invalid_payload'],
		    ['limit 1 MB', { channelId: c, limit: BIG },
			'invalid_payload'],
		    ['limit object', { channelId: c, limit: {} },
			'invalid_payload'],
		    ['before 1 MB', { channelId: c, before: BIG },
			'invalid_payload'],
		    ['after abc', { channelId: c, after: 'abc' },
			'invalid_payload'],
		    ['unknown channel', { channelId: 987654 }, 'not_found'],
		]);
	}));

	it('channel_updated', withLogs(async () => {
		const c = ch.id;
		await cases(admin, 'channel_updated', [
		    ...typeCases(),
		    ['no channelId', { changes: { name: uniq('u') } },
			'invalid_payload'],
		    ['no changes', { channelId: c }, 'invalid_payload'],
		    ['changes 1 MB string', { channelId: c, changes: BIG },
			'invalid_payload'],
		    ['name 1 MB', { channelId: c, changes: { name: BIG } },
			'invalid_payload'],
		    ['description 1 MB', { channelId: c,
			changes: { description: BIG } }, 'invalid_payload'],
		    ['unknown key', { channelId: c, changes: { owner: 3 } },
			'invalid_payload'],
		    ['channelId abc', { channelId: 'abc',
			changes: { name: uniq('u') } }, 'invalid_payload'],
		    ['unknown channel', { channelId: 987654,
			changes: { name: uniq('u') } }, 'not_found'],
		]);
	}));

	it('chat:send_message', withLogs(async () => {
		const c = ch.id;
		await cases(admin, 'chat:send_message', [
		    ...typeCases(),
		    ['no message', { channelId: c }, 'invalid_payload'],
		    ['no channelId', { message: 'x' }, 'invalid_payload'],
		    ['channelId abc', { channelId: 'abc', message: 'x' },
			'invalid_payload'],
		    ['channelId 1 MB', { channelId: BIG, message: 'x' },
			'invalid_payload'],
		    ['channelId array', { channelId: [c], message: 'x' },
			'invalid_payload'],
		    ['message 1 MB', { channelId: c, message: BIG },
			'invalid_payload'],
		    ['message object', { channelId: c, message: { t: 'x' } },
			'invalid_payload'],
		    ['messageType 1 MB', { channelId: c, message: 'x',
			messageType: BIG }, 'invalid_payload'],
		    ['replyToId 1 MB', { channelId: c, message: 'x',
			replyToId: BIG }, 'invalid_payload'],
		    ['clientMsgId 1 MB', { channelId: c, message: 'x',
			clientMsgId: BIG }, 'invalid_payload'],
		    ['clientMsgId object', { channelId: c, message: 'x',
			clientMsgId: {} }, 'invalid_payload'],
		    ['unknown channel', { channelId: 987654, message: 'x' },
			'not_found'],
		]);
	}));

	it('message_read', withLogs(async () => {
		const c = ch.id;
		await cases(admin, 'message_read', [
		    ...typeCases(),
		    ['no channelId', { messageId: null }, 'invalid_payload'],
		    ['channelId abc', { channelId: 'abc', messageId: null },
			'invalid_payload'],
		    ['messageId abc', { channelId: c, messageId: 'abc' },
			'invalid_payload'],
		    ['messageId 1 MB', { channelId: c, messageId: BIG },
			'invalid_payload'],
		    ['messageId object', { channelId: c, messageId: {} },
			'invalid_payload'],
		    ['unknown channel', { channelId: 987654, messageId: null },
			'not_found'],
		    ['unknown message', { channelId: c, messageId: 99999999 },
			'not_found'],
		]);
	}));

	it('chat:typing', withLogs(async () => {
		const c = ch.id;
		await cases(admin, 'chat:typing', [
		    ...typeCases(),
		    ['no isTyping', { channelId: c }, 'invalid_payload'],
		    ['isTyping string', { channelId: c, isTyping: 'true' },
			'invalid_payload'],
		    ['no channelId', { isTyping: true }, 'invalid_payload'],
		    ['channelId 1 MB', { channelId: BIG, isTyping: true },
			'invalid_payload'],
		    // Typing needs the channel joined, checked first: an
		    // unknown channel is not joined either.
		    ['unknown channel', { channelId: 987654, isTyping: true },
			'forbidden'],
		]);
	}));

	it('file_uploaded', withLogs(async () => {
		const f = { channelId: ch.id, fileName: 'a.txt', fileSize: 3,
		    fileType: 'text/plain' };
		await cases(admin, 'file_uploaded', [
		    ...typeCases(),
		    ['empty object', {}, 'invalid_payload'],
		    ['no fileName', { ...f, fileName: undefined },
			'invalid_payload'],
		    ['no fileSize', { ...f, fileSize: undefined },
			'invalid_payload'],
		    ['no fileType', { ...f, fileType: undefined },
			'invalid_payload'],
		    ['fileName 1 MB', { ...f, fileName: BIG },
			'invalid_payload'],
		    ['fileType 1 MB', { ...f, fileType: BIG },
			'invalid_payload'],
		    ['fileSize 1 MB string', { ...f, fileSize: BIG },
			'invalid_payload'],
		    ['fileSize object', { ...f, fileSize: {} },
			'invalid_payload'],
		    ['messageId abc', { ...f, messageId: 'abc' },
			'invalid_payload'],
		    ['channelId abc', { ...f, channelId: 'abc' },
			'invalid_payload'],
		    ['unknown channel', { ...f, channelId: 987654 },
			'not_found'],
		]);
	}));

	it('update_presence', withLogs(async () => {
		await cases(carol, 'update_presence', [
		    ...typeCases(),
		    ['no status', {}, 'invalid_payload'],
		    ['status 1 MB', { status: BIG }, 'invalid_payload'],
		    ['status unknown', { status: 'gone' }, 'invalid_payload'],
		    ['statusMessage 1 MB', { status: 'away',
			statusMessage: BIG }, 'invalid_payload'],
		    ['customStatus 1 MB', { status: 'away',
			customStatus: BIG }, 'invalid_payload'],
		    ['statusMessage object', { status: 'away',
			statusMessage: {} }, 'invalid_payload'],
		]);
	}));

	it('presence:set_status', withLogs(async () => {
		await cases(carol, 'presence:set_status', [
		    ...NOT_OBJECTS.map((v) => [`status ${v === MISSING ?
			'missing' : short(v, 20)}`, v, 'invalid_payload']),
		    ['an object', { status: 'away' }, 'invalid_payload'],
		    ['unknown status', 'gone', 'invalid_payload'],
		]);
	}));

	it('presence:get_online_users with junk arguments: invalid_payload',
	    withLogs(async () => {
		// The event takes no argument: any one is one too many.
		await cases(carol, 'presence:get_online_users',
		    [42, BIG, null, { a: 1 }].map((v) => [`argument ${
		    short(v, 20)}`, v, 'invalid_payload']));
	}));

	it('system_broadcast', withLogs(async () => {
		await cases(admin, 'system_broadcast', [
		    ...typeCases(),
		    ['no message', {}, 'invalid_payload'],
		    ['message 1 MB', { message: BIG }, 'invalid_payload'],
		    ['message object', { message: { a: 1 } },
			'invalid_payload'],
		    ['priority 1 MB', { message: 'x', priority: BIG },
			'invalid_payload'],
		    ['priority unknown', { message: 'x', priority: 'max' },
			'invalid_payload'],
		]);
	}));

	it('authenticate with non-tokens', withLogs(async () => {
		// A fresh socket: the one of before() may have met the
		// authentication timeout by now.
		const anon = await openTab(d, { label: 'anon' });
		sockets.push(anon);
		// A payload that is not a token string is refused like a bad
		// token (not_authenticated); no payload at all is
		// invalid_payload.
		const bad = 'not_authenticated';
		await cases(anon, 'authenticate', [
		    ...[42, {}, { token: 'x' }, [], null, true].map(
			(v) => [`token ${short(v, 20)}`, v, bad]),
		    ['token missing', MISSING, 'invalid_payload'],
		    ['1 MB string', BIG, bad],
		    ['three dots', 'a.b.c', bad],
		    ['9000 characters', 'e'.repeat(9000), bad],
		]);
		assert.deepEqual(got(anon, 'authenticated'), []);
		await refused(anon, 'channel:list', [], 'not_authenticated');
	}));

	it('unknown events -> unknown_event', withLogs(async () => {
		for (const name of ['chat:nope', 'call:invite_everyone',
		    'x'.repeat(1000)]) {
			const a = await ask(admin, name, { channelId: ch.id });
			assert.equal(a?.ok, false, short(a));
			assert.equal(a.error.code, 'unknown_event');
		}
	}));

	it('nothing was stored or broadcast; no worker died',
	    withLogs(async () => {
		await assertNone(setupMark, ROOM_EVENTS, 300);
		await assertNone(setupMark, ['presence_updated'], 0,
		    (ev, p) => p?.reason === 'status_change');
		assert.deepEqual(await history(admin, ch.id), [m0]);
		assert.deepEqual((await ok(admin, 'channel:list')).channels,
		    listBefore);
		for (const s of [admin, bob, carol]) {
			assert.equal(s.connected, true);
			assert.deepEqual(s.events.disconnects, []);
		}
		assert.equal((await onlineStatus(admin, 4)), 'online');
		assertNoWorkerDied(d, pidsBefore);
		// Everything still works.
		const x = await send(admin, ch.id, 'still alive');
		await waitFor(bob, 'chat:new_message', (y) => y.id === x.id);
	}));
});

async function onlineStatus(s, userId) {
	const list = await ask(s, 'presence:get_online_users');
	return list.find((o) => o.userId === userId)?.status;
}

// Typing indicators, file notifications and system broadcasts
// (doc/events.md "Messages, receipts, typing, files", "Broadcasts").
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { useDaemon, withLogs, sleep } from './lib/daemon.mjs';
import { CHAT_CONF, openTab, login, ok, refused, got, waitFor, mark,
    assertNone, createChannel, send, history, assertIso, assertId,
    assertNoWorkerDied } from './lib/chat.mjs';

const ADMIN = { userId: '1', displayName: 'Admin', role: 'admin' };
const ALICE = { userId: '2', displayName: 'Alice', role: 'user' };
const BOB = { userId: '3', displayName: 'Bob', role: 'user' };
const CAROL = { userId: '4', displayName: 'Carol', role: 'user' };

const TYPING_KEYS = ['channelId', 'isTyping', 'userDisplayName', 'userId'];

function setupRoom(d, sockets) {
	const as = async (user, tabOpts) => {
		const s = await login(d, user, tabOpts);
		sockets.push(s);
		return s;
	};
	// The admin creates a channel; alice (two tabs on two workers) and
	// bob join it; carol is authenticated but not in it.
	return async () => {
		const admin = await as(ADMIN);
		const ch = await createChannel(admin);
		const a1 = await as(ALICE);
		const a2 = await as(ALICE, { notOn: [a1.who.pid] });
		const bob = await as(BOB, { notOn: [a1.who.pid] });
		const carol = await as(CAROL);
		for (const s of [a1, a2, bob])
			await ok(s, 'join_channel', ch.id);
		return { as, admin, ch, a1, a2, bob, carol };
	};
}

const typingOf = (uid, isTyping) => (p) => p.userId === uid &&
    p.isTyping === isTyping;

describe('typing (typing-timeout 1s)', () => {
	let pidsBefore, room;
	const sockets = [];

	const d = useDaemon({ workers: 4, extraConf: [...CHAT_CONF,
	    'typing-timeout 1s', 'rate-limit 10000 1'],
	    sockets, closeEach: true });
	before(() => {
		pidsBefore = d.workerPids();
		room = setupRoom(d, sockets);
	});

	it('chat:user_typing to the others, not to the sender', withLogs(
	    async () => {
		const { admin, ch, a1, a2, bob, carol } = await room();
		const m = await mark([admin, a1, a2, bob, carol]);
		const ack = await ok(a1, 'chat:typing', { channelId: ch.id,
		    isTyping: true });
		assert.deepEqual(ack, { ok: true });
		for (const s of [admin, a2, bob]) {
			const ev = await waitFor(s, 'chat:user_typing',
			    typingOf(2, true), 3000, m.get(s));
			assert.deepEqual(Object.keys(ev).sort(), TYPING_KEYS);
			assert.deepEqual(ev, { userId: 2, userDisplayName: 'Alice',
			    isTyping: true, channelId: ch.id });
		}
		await ok(a1, 'chat:typing', { channelId: ch.id, isTyping: false });
		for (const s of [admin, a2, bob]) {
			await waitFor(s, 'chat:user_typing', typingOf(2, false),
			    3000, m.get(s));
		}
		await assertNone(new Map([[a1, m.get(a1)], [carol, m.get(carol)]]),
		    ['chat:user_typing'], 200);
	}));

	it('a typing state not refreshed is cleared after typing-timeout',
	    withLogs(async () => {
		const { ch, a1, bob } = await room();
		const m = bob.rec.length;
		const t0 = Date.now();
		await ok(a1, 'chat:typing', { channelId: ch.id, isTyping: true });
		await waitFor(bob, 'chat:user_typing', typingOf(2, true), 3000, m);
		await waitFor(bob, 'chat:user_typing', typingOf(2, false), 4000, m);
		const dt = Date.now() - t0;
		assert.ok(dt >= 800, `cleared after ${dt} ms, before 1 s`);
		// Refreshed every 400 ms for 2 s: never cleared meanwhile.
		const m2 = bob.rec.length;
		for (let i = 0; i < 5; i++) {
			await ok(a1, 'chat:typing', { channelId: ch.id,
			    isTyping: true });
			await sleep(400);
		}
		assert.deepEqual(got(bob, 'chat:user_typing', typingOf(2, false),
		    m2), [], 'not cleared while refreshed');
		await waitFor(bob, 'chat:user_typing', typingOf(2, false), 4000,
		    m2);
	}));

	it('chat:typing: bad input and non-members', withLogs(async () => {
		const { admin, ch, a1, bob, carol } = await room();
		const m = await mark([admin, bob]);
		for (const p of [{ channelId: ch.id }, { channelId: ch.id,
		    isTyping: 'yes' }, { channelId: ch.id, isTyping: 1 },
		    { isTyping: true }, { channelId: 'abc', isTyping: true },
		    42, 'typing', null, []]) {
			await refused(a1, 'chat:typing', [p], 'invalid_payload');
		}
		// An unknown channel is not joined either: either answer.
		await refused(a1, 'chat:typing', [{ channelId: 987654,
		    isTyping: true }], ['not_found', 'forbidden']);
		// Assumed: typing in a channel one is not in is forbidden.
		await refused(carol, 'chat:typing', [{ channelId: ch.id,
		    isTyping: true }], 'forbidden');
		await assertNone(m, ['chat:user_typing'], 300);
	}));

	it('no worker died', () => {
		assertNoWorkerDied(d, pidsBefore);
	});
});

describe('typing cleared on leave/disconnect (typing-timeout 10s)', () => {
	let room;
	const sockets = [];

	const d = useDaemon({ workers: 2, extraConf: [...CHAT_CONF,
	    'typing-timeout 10s', 'rate-limit 10000 1'],
	    sockets, closeEach: true });
	before(() => {
		room = setupRoom(d, sockets);
	});

	it('leave_channel clears it', withLogs(async () => {
		const { ch, a1, bob } = await room();
		const m = bob.rec.length;
		await ok(a1, 'chat:typing', { channelId: ch.id, isTyping: true });
		await waitFor(bob, 'chat:user_typing', typingOf(2, true), 3000, m);
		await ok(a1, 'leave_channel', ch.id);
		const ev = await waitFor(bob, 'chat:user_typing',
		    typingOf(2, false), 2000, m);
		assert.equal(ev.channelId, ch.id);
	}));

	it('a disconnect clears it', withLogs(async () => {
		const { ch, a1, bob } = await room();
		const m = bob.rec.length;
		await ok(a1, 'chat:typing', { channelId: ch.id, isTyping: true });
		await waitFor(bob, 'chat:user_typing', typingOf(2, true), 3000, m);
		a1.close();
		const ev = await waitFor(bob, 'chat:user_typing',
		    typingOf(2, false), 2000, m);
		assert.equal(ev.channelId, ch.id);
		assert.equal(ev.userDisplayName, 'Alice');
	}));
});

describe('file_uploaded', () => {
	let pidsBefore, room;
	const sockets = [];

	const d = useDaemon({ workers: 2, extraConf: [...CHAT_CONF,
	    'rate-limit 10000 1'], sockets, closeEach: true });
	before(() => {
		pidsBefore = d.workerPids();
		room = setupRoom(d, sockets);
	});

	it('without messageId: a file message and the notification',
	    withLogs(async () => {
		const { admin, ch, a1, a2, bob, carol } = await room();
		const m = await mark([admin, a1, a2, bob, carol]);
		const ack = await ok(a1, 'file_uploaded', { channelId: ch.id,
		    fileName: 'report.pdf', fileSize: 12345,
		    fileType: 'application/pdf' });
		const msg = ack.message;
		assertId(msg.id);
		assert.equal(msg.messageType, 'file');
		assert.equal(msg.message, 'report.pdf');
		assert.strictEqual(msg.channelId, ch.id);
		assert.strictEqual(msg.userId, 2);
		for (const s of [admin, a1, a2, bob]) {
			const n = await waitFor(s, 'file_upload_notification',
			    (x) => x.messageId === msg.id, 3000, m.get(s));
			assert.deepEqual(Object.keys(n).sort(), ['channelId',
			    'fileName', 'fileSize', 'fileType', 'messageId',
			    'uploadedAt', 'uploadedBy', 'uploaderName']);
			assert.deepEqual({ ...n, uploadedAt: 0 }, {
			    messageId: msg.id, channelId: ch.id, uploadedBy: 2,
			    uploaderName: 'Alice', fileName: 'report.pdf',
			    fileSize: 12345, fileType: 'application/pdf',
			    uploadedAt: 0 });
			assertIso(n.uploadedAt, 'uploadedAt');
			const nm = await waitFor(s, 'chat:new_message', (x) =>
			    x.id === msg.id, 3000, m.get(s));
			assert.equal(nm.messageType, 'file');
			assert.equal(nm.message, 'report.pdf');
		}
		await assertNone(new Map([[carol, m.get(carol)]]),
		    ['file_upload_notification', 'chat:new_message'], 200);
		const h = await history(bob, ch.id);
		assert.equal(h[h.length - 1].id, msg.id);
		assert.equal(h[h.length - 1].messageType, 'file');
	}));

	it('with messageId: attached to the sender\'s message, no new message',
	    withLogs(async () => {
		const { admin, ch, a1, bob } = await room();
		const own = await send(a1, ch.id, 'see attachment',
		    { messageType: 'image' });
		const hist0 = await history(bob, ch.id);
		const m = await mark([admin, bob]);
		const ack = await ok(a1, 'file_uploaded', { channelId: ch.id,
		    fileName: 'cat.png', fileSize: 2048, fileType: 'image/png',
		    messageId: own.id });
		assert.equal(ack.message.id, own.id);
		const n = await waitFor(bob, 'file_upload_notification', (x) =>
		    x.messageId === own.id, 3000, m.get(bob));
		assert.equal(n.fileName, 'cat.png');
		assert.equal(n.fileSize, 2048);
		assert.equal(n.fileType, 'image/png');
		assert.strictEqual(n.uploadedBy, 2);
		await assertNone(m, ['chat:new_message'], 300);
		assert.equal((await history(bob, ch.id)).length, hist0.length,
		    'no message added');
		// Someone else's message, another channel's, an unknown one.
		const bobs = await send(bob, ch.id, 'mine');
		const other = await createChannel(admin);
		await ok(a1, 'join_channel', other.id);
		const foreign = await send(a1, other.id, 'elsewhere');
		const m2 = await mark([admin, bob]);
		await refused(a1, 'file_uploaded', [{ channelId: ch.id,
		    fileName: 'x', fileSize: 1, fileType: 'text/plain',
		    messageId: bobs.id }], ['forbidden', 'not_found'],
		    'another user\'s message');
		await refused(a1, 'file_uploaded', [{ channelId: ch.id,
		    fileName: 'x', fileSize: 1, fileType: 'text/plain',
		    messageId: foreign.id }], ['not_found', 'invalid_payload',
		    'forbidden'], 'message of another channel');
		await refused(a1, 'file_uploaded', [{ channelId: ch.id,
		    fileName: 'x', fileSize: 1, fileType: 'text/plain',
		    messageId: 99999999 }], ['not_found', 'invalid_payload'],
		    'unknown message');
		await assertNone(m2, ['file_upload_notification',
		    'chat:new_message'], 300);
	}));

	it('permissions and bad input', withLogs(async () => {
		const { admin, ch, a1, bob, carol } = await room();
		const hist0 = await history(admin, ch.id);
		const m = await mark([admin, bob]);
		const f = { channelId: ch.id, fileName: 'a.txt', fileSize: 10,
		    fileType: 'text/plain' };
		await refused(carol, 'file_uploaded', [f], 'forbidden',
		    'not a member');
		await refused(a1, 'file_uploaded', [{ ...f, channelId: 987654 }],
		    'not_found');
		for (const bad of [{ ...f, fileName: '' }, { ...f, fileName: 5 },
		    { ...f, fileName: undefined }, { ...f, fileSize: 'big' },
		    { ...f, fileSize: -1 }, { ...f, fileSize: 1.5 },
		    { ...f, fileType: 7 }, { ...f, messageId: 'abc' },
		    { ...f, channelId: 'abc' }, 42, 'file', null, []]) {
			await refused(a1, 'file_uploaded', [bad],
			    'invalid_payload');
		}
		await assertNone(m, ['file_upload_notification',
		    'chat:new_message'], 300);
		assert.deepEqual(await history(admin, ch.id), hist0);
	}));

	it('no worker died', () => {
		assertNoWorkerDied(d, pidsBefore);
	});
});

describe('system_broadcast over 4 workers', () => {
	let pidsBefore;
	const sockets = [];
	let authed, anon, admin, alice;

	const d = useDaemon({ workers: 4, extraConf: [...CHAT_CONF,
	    'rate-limit 10000 1'], sockets });
	before(async () => {
		pidsBefore = d.workerPids();
		authed = [];
		anon = [];
		// An authenticated and an unauthenticated socket on each
		// worker.
		for (let i = 0; i < 4; i++) {
			const s = await login(d, { userId: String(20 + i),
			    displayName: `W${i}`, role: 'user' },
			    { notOn: authed.map((x) => x.who.pid) });
			authed.push(s);
			anon.push(await openTab(d, { on: s.who.pid,
			    label: `anon${i}` }));
		}
		admin = await login(d, ADMIN);
		alice = await login(d, ALICE);
		authed.push(admin, alice);
		sockets.push(...authed, ...anon);
	});

	it('reaches every authenticated socket on every worker, no one else',
	    withLogs(async () => {
		assert.equal(new Set(authed.slice(0, 4).map((s) => s.who.pid))
		    .size, 4);
		const m = await mark([...authed, ...anon]);
		const ack = await ok(admin, 'system_broadcast', {
		    message: 'System maintenance in 10 minutes',
		    priority: 'high' });
		assertId(ack.broadcastId, 'broadcastId');
		for (const s of authed) {
			const b = await waitFor(s, 'system_broadcast_received',
			    (x) => x.broadcastId === ack.broadcastId, 3000,
			    m.get(s));
			assert.deepEqual(Object.keys(b).sort(), ['broadcastAt',
			    'broadcastId', 'from', 'message', 'priority']);
			assert.equal(b.message, 'System maintenance in 10 minutes');
			assert.equal(b.priority, 'high');
			assert.equal(b.from, 'Admin');
			assertIso(b.broadcastAt, 'broadcastAt');
		}
		await assertNone(new Map(anon.map((s) => [s, m.get(s)])),
		    ['system_broadcast_received'], 300);
		for (const s of authed) {
			assert.equal(got(s, 'system_broadcast_received', null,
			    m.get(s)).length, 1, 'exactly once');
		}
	}));

	it('priority defaults to normal; low; validation', withLogs(async () => {
		const m = await mark(authed);
		const a = await ok(admin, 'system_broadcast', { message: 'n' });
		const b = await waitFor(alice, 'system_broadcast_received', (x) =>
		    x.broadcastId === a.broadcastId, 3000, m.get(alice));
		assert.equal(b.priority, 'normal');
		const l = await ok(admin, 'system_broadcast', { message: 'l',
		    priority: 'low' });
		assert.ok(l.broadcastId > a.broadcastId);
		assert.equal((await waitFor(alice, 'system_broadcast_received',
		    (x) => x.broadcastId === l.broadcastId, 3000, m.get(alice)))
		    .priority, 'low');
		const m2 = await mark(authed);
		for (const bad of [{ message: 'x', priority: 'urgent' },
		    { message: 'x', priority: 3 }, { message: '' },
		    { message: '  ' }, { message: 'x'.repeat(4001) },
		    { message: 5 }, {}, 'hello', null, 42]) {
			await refused(admin, 'system_broadcast', [bad],
			    'invalid_payload');
		}
		await assertNone(m2, ['system_broadcast_received'], 300);
		const max = await ok(admin, 'system_broadcast',
		    { message: 'y'.repeat(4000) });
		assert.ok(max.broadcastId > l.broadcastId);
	}));

	it('non-admins: broadcast:error, nothing sent or stored',
	    withLogs(async () => {
		const m0 = await mark(authed);
		const first = await ok(admin, 'system_broadcast',
		    { message: 'one' });
		// Let 'one' (and anything before it) reach every socket first,
		// so that the window below only sees what the refusal causes.
		for (const s of authed)
			await waitFor(s, 'system_broadcast_received', (x) =>
			    x.broadcastId === first.broadcastId, 3000, m0.get(s));
		const m = await mark([...authed, ...anon]);
		const ack = await refused(alice, 'system_broadcast', [{
		    message: 'I am not an admin', priority: 'high' }],
		    'forbidden');
		assert.ok(got(alice, 'broadcast:error').includes(
		    ack.error.message));
		await assertNone(m, ['system_broadcast_received'], 300);
		const next = await ok(admin, 'system_broadcast',
		    { message: 'two' });
		assert.equal(next.broadcastId, first.broadcastId + 1,
		    'the refused broadcast was not stored');
	}));

	it('no worker died', () => {
		assertNoWorkerDied(d, pidsBefore);
	});
});

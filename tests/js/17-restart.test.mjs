// Persistence across a restart: a daemon stopped with SIGTERM and a new
// one started on the same data-dir keep the history (same ids, order and
// content), read positions, chosen presence statuses and clientMsgIds.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, withLogs } from './lib/daemon.mjs';
import { closeAll } from './lib/client.mjs';
import { CHAT_CONF, login, ok, waitFor, createChannel, send, history,
    listed, onlineUsers } from './lib/chat.mjs';

const ADMIN = { userId: '1', displayName: 'Admin', role: 'admin' };
const ALICE = { userId: '2', displayName: 'Alice', role: 'user' };
const BOB = { userId: 'bob', displayName: 'Bob', role: 'user' };

describe('restart on the same data-dir', () => {
	let d1, d2;
	const sockets = [];
	const saved = {};

	after(async () => {
		closeAll(sockets);
		if (d1)
			await d1.stop();
		if (d2)
			await d2.stop();
	});

	it('first daemon: messages, a read position, statuses',
	    withLogs(async () => {
		d1 = await startDaemon({ workers: 2, extraConf: CHAT_CONF,
		    keepDir: true });
		const admin = await login(d1, ADMIN);
		const alice = await login(d1, ALICE);
		const bob = await login(d1, BOB);
		sockets.push(admin, alice, bob);
		const ch = await createChannel(admin, { description: 'kept' });
		await ok(alice, 'join_channel', ch.id);
		const ms = [];
		for (let i = 0; i < 10; i++) {
			ms.push(await send(i % 2 ? alice : admin, ch.id, `p${i}`,
			    i === 3 ? { clientMsgId: 'persist-3' } : {}));
		}
		await ok(alice, 'message_read', { channelId: ch.id,
		    messageId: ms[6].id });
		await ok(alice, 'update_presence', { status: 'away',
		    statusMessage: 'lunch', customStatus: 'Working on tickets' });
		await ok(bob, 'presence:set_status', 'busy');
		Object.assign(saved, {
			ch,
			ms,
			history: await history(alice, ch.id),
			alice: await listed(alice, ch.id),
		});
		assert.equal(saved.history.length, 10);
		assert.equal(saved.alice.lastReadMessageId, ms[6].id);
		assert.equal(saved.alice.unreadCount, 1);	// p8; p7, p9 are hers

		closeAll(sockets);
		const r = await d1.stop();
		assert.deepEqual({ code: r.code, signal: r.signal },
		    { code: 0, signal: null }, 'clean exit on SIGTERM');
	}));

	it('second daemon: everything is back', withLogs(async () => {
		assert.ok(saved.ch, 'the first test ran');
		d2 = await startDaemon({ workers: 2, extraConf: CHAT_CONF,
		    dir: d1.dir });
		const obs = await login(d2, ADMIN);
		sockets.push(obs);
		const m = obs.rec.length;
		const alice = await login(d2, ALICE);
		const bob = await login(d2, BOB);
		sockets.push(alice, bob);

		const { ch, ms } = saved;
		assert.deepEqual(await history(alice, ch.id), saved.history,
		    'same messages, ids, order and timestamps');
		const l = await listed(alice, ch.id);
		assert.deepEqual(l, saved.alice, 'channel and read position');

		// The stored statuses come back with the connections.
		const a = await waitFor(obs, 'presence_updated', (p) =>
		    p.userId === 2 && p.reason === 'connect', 3000, m);
		assert.equal(a.status, 'away');
		assert.equal(a.statusMessage, 'lunch');
		assert.equal(a.customStatus, 'Working on tickets');
		const b = await waitFor(obs, 'presence_updated', (p) =>
		    p.userId === 'bob' && p.reason === 'connect', 3000, m);
		assert.equal(b.status, 'busy');
		const online = await onlineUsers(obs);
		assert.equal(online.find((o) => o.userId === 2)?.status, 'away');
		assert.equal(online.find((o) => o.userId === 'bob')?.status,
		    'busy');

		// Alice's clientMsgId from before the restart still dedupes; new
		// ids continue after the old ones.
		const dup = await ok(alice, 'chat:send_message', {
		    channelId: ch.id, message: 'again', clientMsgId: 'persist-3' });
		assert.deepEqual(dup.message, ms[3]);
		await ok(alice, 'join_channel', ch.id);
		const n = await send(alice, ch.id, 'after restart');
		assert.ok(n.id > ms[9].id, `new id ${n.id} after ${ms[9].id}`);
		assert.equal((await history(alice, ch.id)).length, 11);
		// The read position moves on from where it was.
		await ok(alice, 'message_read', { channelId: ch.id,
		    messageId: null });
		assert.equal((await listed(alice, ch.id)).lastReadMessageId, n.id);
	}));
});

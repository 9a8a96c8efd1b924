// Authorisation against hostile clients (issue 11, items 8, 12, 13):
// a private channel of others answers exactly as a missing one on every
// event that takes a channelId, so private ids cannot be enumerated; a
// non-member admin cannot change a private channel (rename it, make it
// public, then join and read it); call:invite to an offline user records
// a missed call only for a known user, and calls that cannot ring (missed,
// busy) at most 10 per caller per minute.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { useDaemon, withLogs } from './lib/daemon.mjs';
import { ask } from './lib/client.mjs';
import { CHAT_CONF, login, ok, refused, createChannel, send, listed,
    history, mark, assertNone, short, disconnected, assertNoWorkerDied,
    uniq } from './lib/chat.mjs';

const OWNER = { userId: '1', displayName: 'Owner', role: 'admin' };
const ADMIN2 = { userId: '2', displayName: 'Other admin', role: 'admin' };
const USER = { userId: '3', displayName: 'User', role: 'user' };
const FRIEND = { userId: '4', displayName: 'Friend', role: 'user' };
const VICTIM = { userId: '5', displayName: 'Victim', role: 'user' };
const CALLER2 = { userId: '6', displayName: 'Caller 2', role: 'user' };

const OFFER = { type: 'offer', sdp: 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n' };
const MISSING_ID = 987654321;

describe('authorisation', () => {
	let pidsBefore;
	const sockets = [];

	const d = useDaemon({ workers: 2, extraConf: [...CHAT_CONF,
	    'rate-limit 100000 1'], sockets, closeEach: true });
	before(async () => {
		pidsBefore = d.workerPids();
		// Known users (rows in users): they authenticated once.
		for (const u of [OWNER, ADMIN2, USER, FRIEND, VICTIM, CALLER2])
			(await login(d, u)).close();
	});

	async function as(user) {
		const s = await login(d, user);
		sockets.push(s);
		return s;
	}

	// Every event taking a channel id, with the channel id in its place.
	const PROBES = [
		['join_channel', (id) => [id]],
		['leave_channel', (id) => [id]],
		['chat:get_messages', (id) => [{ channelId: id }]],
		['chat:send_message', (id) => [{ channelId: id,
		    message: 'probe' }]],
		['message_read', (id) => [{ channelId: id }]],
		['chat:typing', (id) => [{ channelId: id, isTyping: true }]],
		['file_uploaded', (id) => [{ channelId: id, fileName: 'a.txt',
		    fileType: 'text/plain', fileSize: 1 }]],
		['channel_updated', (id) => [{ channelId: id,
		    changes: { description: 'probe' } }]],
	];

	it('a private channel of others answers as a missing one, on every ' +
	    'event with a channelId', withLogs(async () => {
		const owner = await as(OWNER);
		const priv = await createChannel(owner, { name: uniq('secret'),
		    isPrivate: true, memberIds: ['4'] });
		await send(owner, priv.id, 'classified');
		// Both an admin (manage_channels) and a plain user.
		for (const who of [ADMIN2, USER]) {
			const s = await as(who);
			const m = await mark([owner]);
			for (const [ev, args] of PROBES) {
				const missing = await ask(s, ev, ...args(MISSING_ID));
				const hidden = await ask(s, ev, ...args(priv.id));
				assert.equal(missing?.ok, false,
				    `${ev} missing: ${short(missing)}`);
				assert.deepEqual(hidden, missing, `${ev} by ` +
				    `${who.displayName}: private ${short(hidden)} vs ` +
				    `missing ${short(missing)}`);
				// Also with the id as a string.
				assert.deepEqual(await ask(s, ev,
				    ...args(String(priv.id))), missing,
				    `${ev} (string id)`);
			}
			// The join answer itself is the missing one's.
			await refused(s, 'join_channel', [priv.id], 'not_found');
			await assertNone(m, ['chat:new_message', 'user_joined',
			    'channel_updated', 'chat:user_typing',
			    'message_read_receipt'], 200);
			assert.equal(await listed(s, priv.id), undefined);
		}
		// A member still gets in.
		const friend = await as(FRIEND);
		await ok(friend, 'join_channel', priv.id);
		assert.equal((await history(friend, priv.id)).length, 1);
		await ok(friend, 'leave_channel', priv.id);
		assertNoWorkerDied(d, pidsBefore);
	}));

	it('a non-member admin cannot change a private channel; members and ' +
	    'public channels as before', withLogs(async () => {
		const owner = await as(OWNER);
		const name = uniq('vault');
		const priv = await createChannel(owner, { name, isPrivate: true });
		await send(owner, priv.id, 'the plans');
		const other = await as(ADMIN2);
		const m = await mark([owner]);
		await refused(other, 'channel_updated', [{ channelId: priv.id,
		    changes: { isPrivate: false } }], 'not_found');
		await refused(other, 'channel_updated', [{ channelId: priv.id,
		    changes: { name: uniq('mine') } }], 'not_found');
		// Still private, same name: the admin cannot join nor read.
		const seen = await listed(owner, priv.id);
		assert.equal(seen.isPrivate, true);
		assert.equal(seen.name, name);
		await refused(other, 'join_channel', [priv.id], 'not_found');
		await refused(other, 'chat:get_messages', [{ channelId:
		    priv.id }], 'not_found');
		await assertNone(m, ['channel_updated'], 200);

		// The owner (a member) may change it.
		const n2 = uniq('vault2');
		const ack = await ok(owner, 'channel_updated', { channelId:
		    priv.id, changes: { name: n2 } });
		assert.equal(ack.channel.name, n2);
		// A public channel: manage_channels is enough, as before.
		const pub = await createChannel(owner, { name: uniq('pub') });
		const n3 = uniq('pub2');
		const ack2 = await ok(other, 'channel_updated', { channelId:
		    pub.id, changes: { name: n3 } });
		assert.equal(ack2.channel.name, n3);
		// A plain user lacks the permission, whatever the channel.
		const user = await as(USER);
		await refused(user, 'channel_updated', [{ channelId: pub.id,
		    changes: { name: uniq('x') } }], 'forbidden');
	}));

	it('call:invite to offline users: missed calls only for known users, ' +
	    'at most 10 per caller per minute', withLogs(async () => {
		const attacker = await as(USER);
		// 60 invitations to a user id nobody has: nothing stored.
		for (let i = 0; i < 60; i++) {
			const r = await ask(attacker, 'call:invite', {
			    targetUserId: 900000 + (i % 3), callType: 'audio',
			    offer: OFFER });
			assert.equal(r?.error?.code, 'not_found', short(r));
		}
		let own = await ok(attacker, 'call:history', { limit: 100 });
		assert.deepEqual(own.calls, [], 'no call to unknown users');

		// 60 to a known user who is offline: 10 recorded.
		for (let i = 0; i < 60; i++) {
			const r = await ask(attacker, 'call:invite', {
			    targetUserId: VICTIM.userId, callType: 'video',
			    offer: OFFER });
			assert.equal(r?.error?.code, 'not_found', short(r));
			assert.equal(r.error.message, 'User is offline');
		}
		own = await ok(attacker, 'call:history', { limit: 100 });
		assert.equal(own.calls.length, 10, short(own.calls));

		// Another caller keeps its own allowance.
		const caller2 = await as(CALLER2);
		const r = await ask(caller2, 'call:invite', { targetUserId:
		    VICTIM.userId, callType: 'audio', offer: OFFER });
		assert.equal(r?.error?.code, 'not_found', short(r));

		const victim = await as(VICTIM);
		const h = await ok(victim, 'call:history', { limit: 100 });
		assert.equal(h.calls.length, 11, short(h.calls));
		assert.ok(h.calls.every((c) => c.status === 'missed'),
		    short(h.calls));
		assert.equal(h.calls.filter((c) => c.callerId ===
		    Number(USER.userId)).length, 10);
		assert.equal(h.calls[0].callerId, Number(CALLER2.userId));
		victim.close();
		await disconnected(victim);
		assertNoWorkerDied(d, pidsBefore);
	}));

	it('call:invite to a user in a call: busy calls recorded at most 10 ' +
	    'per caller per minute', withLogs(async () => {
		const V = { userId: '7', displayName: 'Busy victim', role: 'user' };
		const F = { userId: '8', displayName: 'Friend 2', role: 'user' };
		const X = { userId: '9', displayName: 'Attacker 2', role: 'user' };
		const v = await as(V);
		const f = await as(F);
		const x = await as(X);
		const ring = await ok(f, 'call:invite', { targetUserId: V.userId,
		    callType: 'audio', offer: OFFER });
		const since = x.rec.length;
		for (let i = 0; i < 30; i++) {
			const r = await ask(x, 'call:invite', { targetUserId:
			    V.userId, callType: 'audio', offer: OFFER });
			assert.equal(r?.error?.code, 'busy', short(r));
		}
		const h = await ok(v, 'call:history', { limit: 100 });
		const fromX = h.calls.filter((c) => c.callerId === 9);
		assert.equal(fromX.length, 10, short(h.calls));
		assert.ok(fromX.every((c) => c.status === 'busy'));
		// call:rejected only for the recorded ones.
		const rj = x.rec.slice(since).filter((r) =>
		    r.event === 'call:rejected');
		assert.equal(rj.length, 10, short(rj));
		// The ringing call itself is untouched.
		assert.equal(h.calls.find((c) => c.id === ring.callId)?.status,
		    'ringing');
		await ok(f, 'call:end', { callId: ring.callId });
		assertNoWorkerDied(d, pidsBefore);
	}));
});

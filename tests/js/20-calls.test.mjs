// 1:1 call signalling (doc/events.md "Calls") over 4 workers, with the two
// parties' tabs on different workers: invite / ringing / incoming on every
// callee tab, accept (once, by the callee), reject, end by either party,
// ICE relayed to the right tabs, busy, self-call, offline target, ring
// timeout, disconnect grace, call:history, call:get_ice_servers with TURN
// REST credentials, permissions, and bad input for every call event.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { useDaemon, withLogs, sleep } from './lib/daemon.mjs';
import { ask, closeAll, until } from './lib/client.mjs';
import { nowSec } from './lib/token.mjs';
import { CHAT_CONF, openTab, login, ok, refused, got, waitFor, mark,
    assertNone, assertId, assertIso, assertNoWorkerDied, short,
    disconnected, onlineUsers } from './lib/chat.mjs';

const TURN_SECRET = 'turn-test-secret-0123456789';
const STUN_URL = 'stun:stun.example.org:3478';
const TURN_URL = 'turn:turn.example.org:3478?transport=udp';

const CALL_CONF = [
	...CHAT_CONF,
	'rate-limit 100000 1',
	'max-sdp-size 2k',
	'max-ice-candidate-size 512',
	`ice-server ${STUN_URL}`,
	`ice-server ${TURN_URL}`,
	`turn-secret ${TURN_SECRET}`,
	'turn-credential-ttl 1h',
	'role nohist call.audio call.video chat.access',
	'role audioonly call.audio call.view_history chat.access',
	'role nocall chat.access',
];

const CALL_EVENTS = ['call:incoming', 'call:ringing', 'call:accepted',
    'call:rejected', 'call:ended', 'call:ice_candidate'];
const HISTORY_KEYS = ['answeredAt', 'callType', 'calleeId', 'callerId',
    'durationMs', 'endedAt', 'id', 'startedAt', 'status'];

const OFFER = { type: 'offer', sdp: 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n' };
const ANSWER = { type: 'answer', sdp: 'v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\n' };
const CAND = { candidate: 'candidate:1 1 udp 2122260223 10.0.0.1 40000 ' +
    'typ host', sdpMid: '0', sdpMLineIndex: 0 };

const MISSING = Symbol('no argument');
const NOT_OBJECTS = [42, 'str', [], [1, 2], null, true, MISSING];

// A fresh user for every call of it: calls left ringing or active by one
// test must not make another one's parties busy.
let nextUser = 7000;
function newUser(role = 'user') {
	const n = ++nextUser;
	return { userId: String(n), displayName: `User ${n}`, role, id: n };
}

/*
 * Ask and assert a refusal of a call event: ack {ok: false, error: {code,
 * message}} with code (or one of an array of codes), and call:error with
 * that message (auth:error for not_authenticated, chat:error for a rate
 * limit: chat.mjs refused() knows those).
 */
async function callRefused(s, event, args, code, what = '') {
	const codes = Array.isArray(code) ? code : [code];
	if (codes.includes('not_authenticated'))
		return refused(s, event, args, code, what);
	const since = s.rec.length;
	const ack = await ask(s, event, ...args);
	const ctx = `${event} ${short(args)}${what ? ` (${what})` : ''}`;
	assert.equal(ack?.ok, false, `${ctx}: expected a refusal, got ` +
	    short(ack, 400));
	assert.ok(ack.error && codes.includes(ack.error.code),
	    `${ctx}: error code ${short(ack.error)}, expected ${codes}`);
	assert.equal(typeof ack.error.message, 'string', ctx);
	assert.ok(ack.error.message.length > 0, `${ctx}: empty message`);
	await until(() => s.rec.slice(since).some((r) =>
	    r.event === 'call:error'), 2000, `${ctx}: "call:error" event`, 10);
	const r = s.rec.slice(since).find((x) => x.event === 'call:error');
	assert.deepEqual(r.args, [ack.error.message],
	    `${ctx}: "call:error" must carry the ack's message`);
	return ack;
}

// call:history of s (ok), the calls array.
async function calls(s, args = {}) {
	const ack = await ok(s, 'call:history', args);
	assert.ok(Array.isArray(ack.calls), `calls: ${short(ack)}`);
	for (const c of ack.calls) {
		assert.deepEqual(Object.keys(c).sort(), HISTORY_KEYS,
		    `history row ${short(c)}`);
	}
	return ack.calls;
}

// The history row of callId as seen by s.
async function callRow(s, callId) {
	const row = (await calls(s, { limit: 100 })).find((c) =>
	    c.id === callId);
	assert.ok(row, `call ${callId} in the history of ${s.label}`);
	return row;
}

/*
 * No worker died, and SIGTERM stops the daemon with exit code 0 and no
 * sanitizer report in its log (when built with ASan/UBSan).
 */
async function stopsCleanly(d, pidsBefore, sockets) {
	assertNoWorkerDied(d, pidsBefore);
	closeAll(sockets);
	const r = await d.stop();
	assert.deepEqual([r.code, r.signal], [0, null], 'exit status');
	const bad = d.stderrLines().filter((l) =>
	    /Sanitizer|runtime error:/.test(l));
	assert.deepEqual(bad, [], 'sanitizer reports');
}

describe('calls over 4 workers', () => {
	let pidsBefore;
	const sockets = [];

	const d = useDaemon({ workers: 4, extraConf: CALL_CONF,
	    sockets, closeEach: true });
	before(() => {
		pidsBefore = d.workerPids();
	});

	/*
	 * A tab of `claims` on a worker none of `avoid` (tabs) is on.  The
	 * workers share one listening socket, so the spread of connections
	 * over them is uneven: allow many tries.
	 */
	async function tabOf(claims, avoid = [], label) {
		const s = await login(d, claims, { notOn: avoid.map((t) =>
		    t.who.pid), label: label ?? claims.displayName, tries: 400 });
		sockets.push(s);
		return s;
	}

	/*
	 * A (tabs a1, a2) and B (tabs b1, b2): a1, b1 and b2 on three
	 * different workers, a2 on another worker than a1.  a1 invites; the
	 * caller's other tab a2 must stay quiet.
	 */
	async function fourTabs() {
		const A = newUser(), B = newUser();
		const a1 = await tabOf(A, [], 'a1');
		const b1 = await tabOf(B, [a1], 'b1');
		const b2 = await tabOf(B, [a1, b1], 'b2');
		const a2 = await tabOf(A, [a1], 'a2');
		assert.equal(new Set([a1, b1, b2].map((s) => s.who.pid)).size, 3,
		    'a1, b1, b2 on three workers');
		assert.notEqual(a2.who.pid, a1.who.pid);
		return { A, B, a1, a2, b1, b2 };
	}

	// s invites user `to`; asserts the ack and the ringing event.
	async function invite(s, to, callType = 'video', offer = OFFER) {
		const since = s.rec.length;
		const ack = await ok(s, 'call:invite', { targetUserId: to.id,
		    callType, offer });
		assertId(ack.callId, 'callId');
		const r = await waitFor(s, 'call:ringing', (x) =>
		    x?.callId === ack.callId, 3000, since);
		assert.deepEqual(r, { callId: ack.callId, targetUserId: to.id });
		return ack.callId;
	}

	const incoming = (s, callId, since = 0) => waitFor(s, 'call:incoming',
	    (x) => x?.callId === callId, 3000, since);

	it('invite rings every callee tab; accept answers the inviting tab ' +
	    'only; ICE goes to the right tabs; the callee ends',
	    withLogs(async () => {
		const { A, B, a1, a2, b1, b2 } = await fourTabs();
		const m = await mark([a1, a2, b1, b2]);
		const callId = await invite(a1, B);
		for (const b of [b1, b2]) {
			assert.deepEqual(await incoming(b, callId, m.get(b)),
			    { callId, from: A.id, fromName: A.displayName,
			    callType: 'video', offer: OFFER });
		}
		await assertNone(new Map([[a2, m.get(a2)]]), CALL_EVENTS, 200);
		assert.deepEqual(got(a1, 'call:incoming', null, m.get(a1)), []);

		const ringing = await callRow(a1, callId);
		assert.equal(ringing.status, 'ringing');
		assert.equal(ringing.callerId, A.id);
		assert.equal(ringing.calleeId, B.id);
		assert.equal(ringing.callType, 'video');
		assertIso(ringing.startedAt, 'startedAt');
		assert.equal(ringing.answeredAt, null);
		assert.equal(ringing.endedAt, null);
		assert.equal(ringing.durationMs, null);

		// ICE while ringing: the caller's reaches every callee tab;
		// the callee's reaches the inviting tab only.
		const m1 = await mark([a1, a2, b1, b2]);
		assert.deepEqual(await ok(a1, 'call:ice_candidate',
		    { targetUserId: B.id, candidate: CAND, callId }), { ok: true });
		for (const b of [b1, b2]) {
			assert.deepEqual(await waitFor(b, 'call:ice_candidate',
			    null, 3000, m1.get(b)), { from: A.id, candidate: CAND,
			    callId });
		}
		const c2 = { ...CAND, sdpMid: '1' };
		await ok(b2, 'call:ice_candidate', { targetUserId: A.id,
		    candidate: c2, callId });
		assert.deepEqual(await waitFor(a1, 'call:ice_candidate', null,
		    3000, m1.get(a1)), { from: B.id, candidate: c2, callId });
		await assertNone(new Map([[a2, m1.get(a2)]]), CALL_EVENTS, 200);

		// b2 answers.
		const m2 = await mark([a1, a2, b1, b2]);
		const acc = await ok(b2, 'call:accept', { callId,
		    answer: ANSWER, targetUserId: A.id });
		assert.deepEqual(acc, { ok: true, callId });
		assert.deepEqual(await waitFor(a1, 'call:accepted', null, 3000,
		    m2.get(a1)), { callId, answer: ANSWER });
		assert.deepEqual(await waitFor(b1, 'call:ended', null, 3000,
		    m2.get(b1)), { callId, reason: 'answered_elsewhere' });
		await assertNone(new Map([[a2, m2.get(a2)], [b2, m2.get(b2)]]),
		    CALL_EVENTS, 200);
		assert.deepEqual(got(b1, 'call:accepted', null, m2.get(b1)), []);

		const active = await callRow(b2, callId);
		assert.equal(active.status, 'active');
		assertIso(active.answeredAt, 'answeredAt');
		assert.equal(active.endedAt, null);

		// ICE after the answer: only the answering tab; the
		// callee's still to the inviting tab.
		const m3 = await mark([a1, a2, b1, b2]);
		const c3 = { ...CAND, sdpMid: '2' };
		await ok(a1, 'call:ice_candidate', { targetUserId: B.id,
		    candidate: c3, callId });
		assert.deepEqual(await waitFor(b2, 'call:ice_candidate', null,
		    3000, m3.get(b2)), { from: A.id, candidate: c3, callId });
		const c4 = 'candidate:2 1 udp 1 10.0.0.2 40001 typ host';
		// callId is optional.
		await ok(b2, 'call:ice_candidate', { targetUserId: A.id,
		    candidate: c4 });
		assert.deepEqual(await waitFor(a1, 'call:ice_candidate', null,
		    3000, m3.get(a1)), { from: B.id, candidate: c4, callId });
		await assertNone(new Map([[a2, m3.get(a2)], [b1, m3.get(b1)]]),
		    ['call:ice_candidate', 'call:accepted', 'call:incoming'],
		    200);

		// The callee ends.
		const m4 = await mark([a1, a2, b1, b2]);
		await sleep(50);
		assert.deepEqual(await ok(b2, 'call:end', { callId,
		    targetUserId: A.id }), { ok: true, callId });
		assert.deepEqual(await waitFor(a1, 'call:ended', null, 3000,
		    m4.get(a1)), { callId, reason: 'ended' });
		assert.deepEqual(got(b2, 'call:ended', null, m4.get(b2)), [],
		    'the ender gets no call:ended');
		const ended = await callRow(a1, callId);
		assert.equal(ended.status, 'ended');
		assertIso(ended.endedAt, 'endedAt');
		assert.equal(typeof ended.durationMs, 'number');
		assert.ok(ended.durationMs >= 50 && ended.durationMs < 60000,
		    `durationMs ${ended.durationMs}`);
		assert.deepEqual(await callRow(b1, callId), ended,
		    'both parties see the same row');

		// Over: no more ICE, no second end.
		await callRefused(a1, 'call:ice_candidate', [{
		    targetUserId: B.id, candidate: CAND, callId }],
		    ['forbidden', 'not_found', 'conflict']);
		await callRefused(a1, 'call:end', [{ callId }],
		    ['conflict', 'not_found', 'forbidden']);
	}));

	it('the caller ends an active call; the caller cancels a ringing one',
	    withLogs(async () => {
		const A = newUser(), B = newUser();
		const a = await tabOf(A, [], 'a');
		const b1 = await tabOf(B, [a], 'b1');
		const b2 = await tabOf(B, [a, b1], 'b2');
		let callId = await invite(a, B, 'audio');
		await incoming(b1, callId);
		await ok(b1, 'call:accept', { callId, answer: ANSWER });
		await waitFor(a, 'call:accepted', (x) => x.callId === callId);
		let m = await mark([a, b1, b2]);
		await ok(a, 'call:end', { callId, targetUserId: B.id });
		assert.deepEqual(await waitFor(b1, 'call:ended', null, 3000,
		    m.get(b1)), { callId, reason: 'ended' });
		assert.equal((await callRow(a, callId)).status, 'ended');
		assert.equal((await callRow(a, callId)).callType, 'audio');

		// Cancelled while ringing: every callee tab hears of it;
		// recorded missed.
		callId = await invite(a, B, 'audio');
		await incoming(b1, callId);
		await incoming(b2, callId);
		m = await mark([a, b1, b2]);
		assert.deepEqual(await ok(a, 'call:end', { callId }),
		    { ok: true, callId });
		for (const b of [b1, b2]) {
			assert.deepEqual(await waitFor(b, 'call:ended', null,
			    3000, m.get(b)), { callId, reason: 'ended' });
		}
		const row = await callRow(b2, callId);
		assert.equal(row.status, 'missed');
		assert.equal(row.answeredAt, null);
		assert.equal(row.durationMs, null);
		assertIso(row.endedAt, 'endedAt');
		// The callee cannot pick it up any more.
		await callRefused(b1, 'call:accept', [{ callId,
		    answer: ANSWER }], 'conflict');
	}));

	it('reject: call:rejected to the caller, call:ended to the callee\'s ' +
	    'other tabs', withLogs(async () => {
		const { A, B, a1, a2, b1, b2 } = await fourTabs();
		const callId = await invite(a1, B, 'audio');
		await incoming(b1, callId);
		await incoming(b2, callId);
		const m = await mark([a1, a2, b1, b2]);
		assert.deepEqual(await ok(b1, 'call:reject', { callId,
		    targetUserId: A.id }), { ok: true, callId });
		const rj = await waitFor(a1, 'call:rejected', null, 3000,
		    m.get(a1));
		assert.equal(rj.callId, callId);
		assert.notEqual(rj.reason, 'busy');
		assert.deepEqual(await waitFor(b2, 'call:ended', null, 3000,
		    m.get(b2)), { callId, reason: 'rejected' });
		await assertNone(new Map([[a2, m.get(a2)], [b1, m.get(b1)]]),
		    CALL_EVENTS, 200);
		const row = await callRow(a1, callId);
		assert.equal(row.status, 'rejected');
		assert.equal(row.answeredAt, null);
		assert.equal(row.durationMs, null);
		assertIso(row.endedAt, 'endedAt');
		await callRefused(b2, 'call:accept', [{ callId,
		    answer: ANSWER }], 'conflict');
		await callRefused(b2, 'call:reject', [{ callId }], 'conflict');
	}));

	it('busy: caller or target already in a call', withLogs(async () => {
		const A = newUser(), B = newUser(), C = newUser(), E = newUser();
		const a = await tabOf(A, [], 'a');
		const b = await tabOf(B, [a], 'b');
		const c = await tabOf(C, [a, b], 'c');
		const e = await tabOf(E, [a], 'e');
		const callId = await invite(a, B);
		await incoming(b, callId);

		// [who, tab, target]: C calls the ringing target B, C calls
		// the ringing caller A, A (ringing) calls E.
		const cases = [['target ringing', c, C, B],
		    ['target is a ringing caller', c, C, A],
		    ['caller already calling', a, A, E]];
		const busyIds = [];
		for (const [what, s, , to] of cases) {
			const m = await mark([a, b, c, e]);
			const ack = await ask(s, 'call:invite', { targetUserId:
			    to.id, callType: 'audio', offer: OFFER });
			assert.equal(ack?.ok, false, `${what}: ${short(ack)}`);
			assert.equal(ack.error?.code, 'busy', `${what}: ` +
			    short(ack));
			assert.equal(typeof ack.error.message, 'string', what);
			const rj = await waitFor(s, 'call:rejected', (x) =>
			    x?.reason === 'busy', 3000, m.get(s));
			assertId(rj.callId, 'busy callId');
			assert.notEqual(rj.callId, callId);
			assert.deepEqual(rj, { callId: rj.callId, reason: 'busy' });
			busyIds.push(rj.callId);
			await assertNone(new Map([...m].filter(([t]) => t !== s)),
			    ['call:incoming', 'call:ringing', 'call:ended'], 200);
			assert.deepEqual(got(s, 'call:ringing', null, m.get(s)),
			    []);
		}
		// Recorded as busy, on both sides.
		for (const [i, [, s, who, to]] of cases.entries()) {
			const row = await callRow(s, busyIds[i]);
			assert.equal(row.status, 'busy');
			assert.equal(row.callerId, who.id);
			assert.equal(row.calleeId, to.id);
		}
		// Once accepted, still busy.
		await ok(b, 'call:accept', { callId, answer: ANSWER });
		const ack = await ask(c, 'call:invite', { targetUserId: B.id,
		    callType: 'video', offer: OFFER });
		assert.equal(ack?.error?.code, 'busy', short(ack));
		// Once ended, free again.
		await ok(a, 'call:end', { callId });
		await waitFor(b, 'call:ended', (x) => x.callId === callId);
		const again = await invite(c, B, 'video');
		await incoming(b, again);
		assert.equal((await callRow(a, callId)).status, 'ended');
	}));

	it('self-call -> invalid_payload; offline target -> not_found, ' +
	    'recorded missed', withLogs(async () => {
		const A = newUser(), B = newUser(), G = newUser();
		const a = await tabOf(A, [], 'a');
		const before0 = await calls(a);
		await callRefused(a, 'call:invite', [{ targetUserId: A.id,
		    callType: 'audio', offer: OFFER }], 'invalid_payload',
		    'self, number');
		await callRefused(a, 'call:invite', [{ targetUserId:
		    String(A.id), callType: 'audio', offer: OFFER }],
		    'invalid_payload', 'self, string');
		assert.deepEqual(await calls(a), before0, 'nothing recorded');

		// Never connected: not a user, nothing recorded.
		const m = await mark([a]);
		let ack = await callRefused(a, 'call:invite', [{ targetUserId:
		    G.id, callType: 'video', offer: OFFER }], 'not_found');
		assert.equal(ack.error.message, 'User is offline');
		await assertNone(m, ['call:ringing'], 100);
		assert.deepEqual(await calls(a), before0, 'nothing recorded');

		// Known (connected before), offline now: recorded missed.
		const g = await tabOf(G, [a], 'g');
		g.close();
		await disconnected(g);
		// Asked until G's worker has counted the disconnect (an invite
		// before that would ring, and its cancel be recorded too).
		await until(async () => !(await onlineUsers(a)).some((u) =>
		    String(u.userId) === String(G.id)), 3000, 'G offline');
		ack = await callRefused(a, 'call:invite', [{ targetUserId:
		    G.id, callType: 'video', offer: OFFER }], 'not_found');
		assert.equal(ack.error.message, 'User is offline');
		let h = (await calls(a)).filter((r) => r.status === 'missed');
		assert.equal(h.length, 1, short(h));
		assert.equal(h[0].status, 'missed');
		assert.equal(h[0].callerId, A.id);
		assert.equal(h[0].calleeId, G.id);
		assert.equal(h[0].callType, 'video');
		assert.equal(h[0].answeredAt, null);
		assert.equal(h[0].durationMs, null);
		assertIso(h[0].startedAt, 'startedAt');

		// Connected once, gone now (digits as a string work too).
		const b = await tabOf(B, [a], 'b');
		b.close();
		await disconnected(b);
		await until(async () => {
			const r = await ask(a, 'call:invite', { targetUserId:
			    String(B.id), callType: 'audio', offer: OFFER });
			if (r?.ok === true) {
				await ok(a, 'call:end', { callId: r.callId });
				return false;
			}
			assert.equal(r?.error?.code, 'not_found', short(r));
			return true;
		}, 3000, 'B offline');
		h = await calls(a);
		assert.equal(h[0].calleeId, B.id);
		assert.equal(h[0].status, 'missed');
	}));

	it('only the callee accepts, once; strangers are forbidden',
	    withLogs(async () => {
		const { A, B, a1, b1, b2 } = await fourTabs();
		const C = newUser();
		const c = await tabOf(C, [a1, b1], 'c');
		const callId = await invite(a1, B);
		await incoming(b1, callId);
		await incoming(b2, callId);
		await callRefused(c, 'call:accept', [{ callId,
		    answer: ANSWER }], 'forbidden', 'a third user');
		await callRefused(a1, 'call:accept', [{ callId,
		    answer: ANSWER }], 'forbidden', 'the caller');
		await callRefused(c, 'call:reject', [{ callId }], 'forbidden');
		await callRefused(a1, 'call:reject', [{ callId }], 'forbidden',
		    'the caller');
		await callRefused(c, 'call:end', [{ callId }], 'forbidden');
		assert.equal((await callRow(a1, callId)).status, 'ringing');

		// Both tabs answer at once: exactly one wins.
		const acks = await Promise.all([b1, b2].map((s) => ask(s,
		    'call:accept', { callId, answer: ANSWER })));
		const wins = acks.filter((x) => x?.ok === true);
		assert.equal(wins.length, 1, short(acks));
		assert.deepEqual(wins[0], { ok: true, callId });
		const lost = acks.find((x) => x?.ok !== true);
		assert.equal(lost?.error?.code, 'conflict', short(acks));
		await callRefused(b1, 'call:accept', [{ callId,
		    answer: ANSWER }], 'conflict', 'accepted already');
		await until(() => got(a1, 'call:accepted').length > 0, 3000,
		    'call:accepted');
		await sleep(200);
		assert.deepEqual(got(a1, 'call:accepted'), [{ callId,
		    answer: ANSWER }], 'one call:accepted');
		assert.equal((await callRow(a1, callId)).status, 'active');
		assert.deepEqual(got(c, 'call:incoming'), []);
		await ok(a1, 'call:end', { callId, targetUserId: B.id });
	}));

	it('ICE is refused between users without a live call',
	    withLogs(async () => {
		const A = newUser(), B = newUser(), C = newUser();
		const a = await tabOf(A, [], 'a');
		const b = await tabOf(B, [a], 'b');
		const c = await tabOf(C, [a, b], 'c');
		const m = await mark([a, b, c]);
		await callRefused(a, 'call:ice_candidate', [{ targetUserId:
		    B.id, candidate: CAND }], 'forbidden', 'no call at all');
		const callId = await invite(a, B);
		await incoming(b, callId);
		// A stranger into the call, and either party to a stranger.
		await callRefused(c, 'call:ice_candidate', [{ targetUserId:
		    B.id, candidate: CAND, callId }], 'forbidden', 'stranger');
		await callRefused(c, 'call:ice_candidate', [{ targetUserId:
		    B.id, candidate: CAND }], 'forbidden', 'stranger');
		await callRefused(a, 'call:ice_candidate', [{ targetUserId:
		    C.id, candidate: CAND }], 'forbidden', 'caller to C');
		await callRefused(b, 'call:ice_candidate', [{ targetUserId:
		    C.id, candidate: CAND, callId }],
		    ['forbidden', 'invalid_payload'], 'callee to C');
		await ok(b, 'call:reject', { callId });
		await callRefused(a, 'call:ice_candidate', [{ targetUserId:
		    B.id, candidate: CAND }], 'forbidden', 'after the reject');
		await assertNone(m, ['call:ice_candidate'], 200);
	}));

	it('call:history: newest first, limit, before, statuses; needs ' +
	    'call.view_history', withLogs(async () => {
		const A = newUser(), B = newUser(), C = newUser(), G = newUser();
		// G is a known user (connected once), offline from now on.
		const g = await tabOf(G, [], 'g');
		g.close();
		await disconnected(g);
		const a = await tabOf(A, [], 'a');
		const b = await tabOf(B, [a], 'b');
		const c = await tabOf(C, [a, b], 'c');
		assert.deepEqual(await calls(a), []);
		const ids = [];
		// 1: ended after an answer.
		let id = await invite(a, B);
		await incoming(b, id);
		await ok(b, 'call:accept', { callId: id, answer: ANSWER });
		await sleep(30);
		await ok(a, 'call:end', { callId: id });
		ids.push(id);
		// 2: missed (offline target).
		await callRefused(a, 'call:invite', [{ targetUserId: G.id,
		    callType: 'audio', offer: OFFER }], 'not_found');
		ids.push((await calls(a))[0].id);
		// 3: rejected, B calling A.
		id = await invite(b, A, 'audio');
		await incoming(a, id);
		await ok(a, 'call:reject', { callId: id });
		ids.push(id);
		// 4: busy (C rings B; A calls B), 5: C's ringing call.
		const cb = await invite(c, B, 'audio');
		await incoming(b, cb);
		const bz = await ask(a, 'call:invite', { targetUserId: B.id,
		    callType: 'video', offer: OFFER });
		assert.equal(bz?.error?.code, 'busy', short(bz));
		ids.push((await waitFor(a, 'call:rejected', (x) =>
		    x?.reason === 'busy')).callId);
		for (const x of ids)
			assertId(x);

		const h = await calls(a);
		assert.deepEqual(h.map((r) => r.id), [...ids].reverse(),
		    'newest first');
		assert.deepEqual(h.map((r) => r.status), ['busy', 'rejected',
		    'missed', 'ended']);
		assert.deepEqual(h.map((r) => r.callerId), [A.id, B.id, A.id,
		    A.id]);
		assert.deepEqual(h.map((r) => r.calleeId), [B.id, A.id, G.id,
		    B.id]);
		for (const r of h) {
			assertIso(r.startedAt, 'startedAt');
			if (r.status !== 'ended') {
				assert.equal(r.answeredAt, null, short(r));
				assert.equal(r.durationMs, null, short(r));
			}
		}
		const e = h[3];
		assertIso(e.answeredAt, 'answeredAt');
		assertIso(e.endedAt, 'endedAt');
		assert.equal(typeof e.durationMs, 'number');
		assert.ok(e.durationMs >= 30 && e.durationMs < 60000,
		    `durationMs ${e.durationMs}`);
		assert.ok(Date.parse(e.endedAt) >= Date.parse(e.answeredAt) &&
		    Date.parse(e.answeredAt) >= Date.parse(e.startedAt),
		    short(e));

		// limit and before.
		assert.deepEqual((await calls(a, { limit: 2 })).map((r) => r.id),
		    [ids[3], ids[2]]);
		assert.deepEqual((await calls(a, { before: ids[2] })).map((r) =>
		    r.id), [ids[1], ids[0]]);
		assert.deepEqual((await calls(a, { before: ids[2], limit: 1 }))
		    .map((r) => r.id), [ids[1]]);
		assert.deepEqual((await calls(a, { before: String(ids[1]) }))
		    .map((r) => r.id), [ids[0]]);
		assert.deepEqual(await calls(a, { before: ids[0] }), []);
		// No argument at all.
		const all = await ask(a, 'call:history');
		assert.equal(all?.ok, true, short(all));
		assert.deepEqual(all.calls, h);
		// B's view: only B's calls (not the missed one with G);
		// C sees its ringing call and nothing of A's.
		assert.deepEqual((await calls(b)).map((r) => r.id), [ids[3], cb,
		    ids[2], ids[0]]);
		const hc = await calls(c);
		assert.deepEqual(hc.map((r) => [r.id, r.status]),
		    [[cb, 'ringing']]);

		// A role without call.view_history.
		const N = newUser('nohist');
		const n = await tabOf(N, [], 'nohist');
		await callRefused(n, 'call:history', [{}], 'forbidden');
		await callRefused(n, 'call:history', [], 'forbidden');
		await ok(b, 'call:end', { callId: cb });
	}));

	it('call:get_ice_servers: STUN and TURN with REST credentials',
	    withLogs(async () => {
		const A = newUser();
		const a = await tabOf(A);
		const t0 = nowSec();
		const ack = await ok(a, 'call:get_ice_servers');
		const t1 = nowSec();
		assert.ok(Array.isArray(ack.iceServers), short(ack));
		assert.equal(ack.iceServers.length, 2, short(ack));
		const urlsOf = (e) => Array.isArray(e.urls) ? e.urls : [e.urls];
		const stun = ack.iceServers.find((e) =>
		    urlsOf(e).includes(STUN_URL));
		const turn = ack.iceServers.find((e) =>
		    urlsOf(e).includes(TURN_URL));
		assert.ok(stun, `STUN entry in ${short(ack)}`);
		assert.ok(turn, `TURN entry in ${short(ack)}`);
		assert.deepEqual(urlsOf(stun), [STUN_URL]);
		assert.equal(stun.username, undefined, 'STUN: no username');
		assert.equal(stun.credential, undefined, 'STUN: no credential');
		assert.deepEqual(urlsOf(turn), [TURN_URL]);
		assert.equal(typeof turn.username, 'string', short(turn));
		const mm = /^(\d+):(.+)$/.exec(turn.username);
		assert.ok(mm, `username ${turn.username}`);
		const expiry = Number(mm[1]);
		assert.equal(mm[2], String(A.id));
		assert.ok(expiry >= t0 + 3600 - 5 && expiry <= t1 + 3600 + 5,
		    `expiry ${expiry}, now ${t0}`);
		assert.equal(turn.credential, crypto.createHmac('sha1',
		    TURN_SECRET).update(turn.username).digest('base64'));
		// Junk arguments are ignored or refused, never a crash.
		for (const v of [42, 'x', null, { a: 1 }]) {
			const r = await ask(a, 'call:get_ice_servers', v);
			assert.equal(typeof r?.ok, 'boolean', short(r));
		}
	}));

	it('permissions: call.audio only cannot place a video call; no call ' +
	    'permission, no call; before authentication, nothing',
	    withLogs(async () => {
		const A = newUser('audioonly'), B = newUser(), N = newUser('nocall');
		const a = await tabOf(A, [], 'audioonly');
		const b = await tabOf(B, [a], 'b');
		const n = await tabOf(N, [a, b], 'nocall');
		assert.deepEqual([...a.user.permissions].sort(), ['call.audio',
		    'call.view_history', 'chat.access']);
		const m = await mark([b]);
		await callRefused(a, 'call:invite', [{ targetUserId: B.id,
		    callType: 'video', offer: OFFER }], 'forbidden');
		await callRefused(n, 'call:invite', [{ targetUserId: B.id,
		    callType: 'audio', offer: OFFER }], 'forbidden');
		await callRefused(n, 'call:invite', [{ targetUserId: B.id,
		    callType: 'video', offer: OFFER }], 'forbidden');
		await assertNone(m, ['call:incoming'], 200);
		assert.deepEqual(await calls(a), [], 'nothing recorded');
		const callId = await invite(a, B, 'audio');
		await incoming(b, callId);
		await ok(a, 'call:end', { callId });

		// The default roles have every call permission.
		for (const role of ['admin', 'agent', 'user']) {
			const s = await tabOf(newUser(role), [], role);
			for (const p of ['call.audio', 'call.video',
			    'call.view_history'])
				assert.ok(s.user.permissions.includes(p),
				    `${role}: ${p}`);
		}

		const anon = await openTab(d, { label: 'anon' });
		sockets.push(anon);
		for (const [ev, arg] of [['call:invite', { targetUserId: B.id,
		    callType: 'audio', offer: OFFER }], ['call:accept',
		    { callId, answer: ANSWER }], ['call:reject', { callId }],
		    ['call:end', { callId }], ['call:ice_candidate',
		    { targetUserId: B.id, candidate: CAND }],
		    ['call:history', {}], ['call:get_ice_servers', undefined]]) {
			await refused(anon, ev, arg === undefined ? [] : [arg],
			    'not_authenticated');
		}
		await sleep(200);
		assert.equal(got(b, 'call:incoming').length, 1);
	}));

	it('bad input for every call event: call:error + ack, no state change',
	    withLogs(async () => {
		const A = newUser(), B = newUser(), C = newUser();
		const a = await tabOf(A, [], 'a');
		const b = await tabOf(B, [a], 'b');
		const c = await tabOf(C, [a, b], 'c');

		// Near the limits: still relayed.
		const nearSdp = 's'.repeat(1900);
		let callId = await invite(a, B, 'audio', nearSdp);
		assert.equal((await incoming(b, callId)).offer, nearSdp);
		const nearCand = 'c'.repeat(480);
		await ok(a, 'call:ice_candidate', { targetUserId: B.id,
		    candidate: nearCand, callId });
		await waitFor(b, 'call:ice_candidate', (x) =>
		    x.candidate === nearCand);
		await ok(a, 'call:end', { callId });

		// A ringing call between A and B to act upon.
		callId = await invite(a, B);
		await incoming(b, callId);
		const hist = {
			a: await calls(a), b: await calls(b), c: await calls(c),
		};
		const m = await mark([a, b, c]);
		const bigSdp = 's'.repeat(3000);
		const bigObj = { type: 'offer', sdp: 'x'.repeat(2100) };
		const bigCand = 'c'.repeat(600);
		const bigCandObj = { ...CAND, candidate: 'c'.repeat(600) };
		const typeCases = NOT_OBJECTS.map((v) => [`payload ${v ===
		    MISSING ? 'missing' : short(v, 20)}`, v, 'invalid_payload']);
		const BAD_UIDS = ['', {}, [], true, null, 1.5, [C.id]];
		const BAD_CALL_IDS = ['abc', '', {}, [], true, null, 1.5, -1,
		    '1.5', [callId]];

		async function cases(s, event, list) {
			for (const [what, arg, code] of list) {
				await callRefused(s, event, arg === MISSING ? [] :
				    [arg], code, what);
			}
			assert.deepEqual(s.events.disconnects, [],
			    'bad input does not disconnect');
		}

		const inv = { targetUserId: B.id, callType: 'audio', offer: OFFER };
		// C is in no call: a valid invite from C would ring B.
		await cases(c, 'call:invite', [
		    ...typeCases,
		    ['empty object', {}, 'invalid_payload'],
		    ['no targetUserId', { ...inv, targetUserId: undefined },
			'invalid_payload'],
		    ...BAD_UIDS.map((v) => [`targetUserId ${short(v)}`,
			{ ...inv, targetUserId: v }, 'invalid_payload']),
		    ['no callType', { ...inv, callType: undefined },
			'invalid_payload'],
		    ['callType fax', { ...inv, callType: 'fax' },
			'invalid_payload'],
		    ['callType AUDIO', { ...inv, callType: 'AUDIO' },
			'invalid_payload'],
		    ['callType number', { ...inv, callType: 1 },
			'invalid_payload'],
		    ['callType null', { ...inv, callType: null },
			'invalid_payload'],
		    ['no offer', { ...inv, offer: undefined },
			'invalid_payload'],
		    ['offer null', { ...inv, offer: null }, 'invalid_payload'],
		    ['offer number', { ...inv, offer: 42 }, 'invalid_payload'],
		    ['offer true', { ...inv, offer: true }, 'invalid_payload'],
		    ['offer 3000 chars', { ...inv, offer: bigSdp },
			'invalid_payload'],
		    ['offer object > 2k', { ...inv, offer: bigObj },
			'invalid_payload'],
		]);
		await cases(b, 'call:accept', [
		    ...typeCases,
		    ['empty object', {}, 'invalid_payload'],
		    ['no callId', { answer: ANSWER }, 'invalid_payload'],
		    ...BAD_CALL_IDS.map((v) => [`callId ${short(v)}`,
			{ callId: v, answer: ANSWER }, 'invalid_payload']),
		    ['no answer', { callId }, 'invalid_payload'],
		    ['answer null', { callId, answer: null },
			'invalid_payload'],
		    ['answer number', { callId, answer: 7 },
			'invalid_payload'],
		    ['answer 3000 chars', { callId, answer: bigSdp },
			'invalid_payload'],
		    ['answer object > 2k', { callId, answer: { type: 'answer',
			sdp: 'y'.repeat(2100) } }, 'invalid_payload'],
		    ['targetUserId object', { callId, answer: ANSWER,
			targetUserId: {} }, 'invalid_payload'],
		    ['unknown callId', { callId: 987654321, answer: ANSWER },
			'not_found'],
		]);
		await cases(c, 'call:accept', [
		    ['non-party', { callId, answer: ANSWER }, 'forbidden'],
		]);
		for (const event of ['call:reject', 'call:end']) {
			await cases(b, event, [
			    ...typeCases,
			    ['empty object', {}, 'invalid_payload'],
			    ...BAD_CALL_IDS.map((v) => [`callId ${short(v)}`,
				{ callId: v }, 'invalid_payload']),
			    ['targetUserId object', { callId, targetUserId: {} },
				'invalid_payload'],
			    ['unknown callId', { callId: 987654321 },
				'not_found'],
			    ['unknown callId (string)', { callId: '987654321' },
				'not_found'],
			]);
			await cases(c, event, [['non-party', { callId },
			    'forbidden']]);
		}
		const ice = { targetUserId: B.id, candidate: CAND, callId };
		await cases(a, 'call:ice_candidate', [
		    ...typeCases,
		    ['empty object', {}, 'invalid_payload'],
		    ['no targetUserId', { ...ice, targetUserId: undefined },
			'invalid_payload'],
		    ...BAD_UIDS.map((v) => [`targetUserId ${short(v)}`,
			{ ...ice, targetUserId: v }, 'invalid_payload']),
		    ['no candidate', { ...ice, candidate: undefined },
			'invalid_payload'],
		    ['candidate null', { ...ice, candidate: null },
			'invalid_payload'],
		    ['candidate 600 chars', { ...ice, candidate: bigCand },
			'invalid_payload'],
		    ['candidate object > 512', { ...ice,
			candidate: bigCandObj }, 'invalid_payload'],
		    ...['abc', {}, [], true, 1.5].map((v) => [
			`callId ${short(v)}`, { ...ice, callId: v },
			'invalid_payload']),
		    ['unknown callId', { ...ice, callId: 987654321 },
			['not_found', 'forbidden']],
		]);
		await cases(c, 'call:ice_candidate', [['non-party', ice,
		    'forbidden']]);
		await cases(a, 'call:history', [
		    ...[42, 'str', [1], true].map((v) => [`payload ${short(v)}`,
			v, 'invalid_payload']),
		    ...[0, 101, -1, 1.5, 'abc', {}, [], true].map((v) =>
			[`limit ${short(v)}`, { limit: v }, 'invalid_payload']),
		    ...['abc', -1, 1.5, {}, [], true].map((v) =>
			[`before ${short(v)}`, { before: v },
			'invalid_payload']),
		]);

		// Nothing happened: no event to anyone, the histories are
		// as they were, the call still rings and can be answered.
		await assertNone(m, CALL_EVENTS, 300);
		assert.deepEqual({ a: await calls(a), b: await calls(b),
		    c: await calls(c) }, hist);
		assert.equal((await callRow(a, callId)).status, 'ringing');
		for (const s of [a, b, c])
			assert.equal(s.connected, true);
		assertNoWorkerDied(d, pidsBefore);
		await ok(b, 'call:accept', { callId, answer: ANSWER });
		assert.deepEqual(await waitFor(a, 'call:accepted', null, 3000,
		    m.get(a)), { callId, answer: ANSWER });
		await ok(b, 'call:end', { callId });
		await waitFor(a, 'call:ended', (x) => x.callId === callId);
	}));

	it('no worker died; the daemon stops cleanly', async () => {
		await stopsCleanly(d, pidsBefore, sockets);
	});
});

describe('call timers (call-ring-timeout 1s, call-disconnect-grace 1s)', () => {
	let pidsBefore;
	const sockets = [];

	const d = useDaemon({ workers: 2, extraConf: [...CHAT_CONF,
	    'rate-limit 100000 1', 'call-ring-timeout 1s',
	    'call-disconnect-grace 1s'], sockets, closeEach: true });
	before(() => {
		pidsBefore = d.workerPids();
	});

	async function pair() {
		const A = newUser(), B = newUser();
		const a = await login(d, A, { label: 'a' });
		const b = await login(d, B, { notOn: [a.who.pid], label: 'b',
		    tries: 400 });
		sockets.push(a, b);
		return { A, B, a, b };
	}

	it('ring timeout: call:ended timeout to both parties, recorded missed',
	    withLogs(async () => {
		const { B, a, b } = await pair();
		const t0 = Date.now();
		const ack = await ok(a, 'call:invite', { targetUserId: B.id,
		    callType: 'audio', offer: OFFER });
		const callId = ack.callId;
		await waitFor(b, 'call:incoming', (x) => x.callId === callId);
		for (const s of [a, b]) {
			assert.deepEqual(await waitFor(s, 'call:ended', null,
			    6000), { callId, reason: 'timeout' });
			const at = s.rec.find((r) => r.event === 'call:ended').at;
			assert.ok(at - t0 >= 800, `${s.label}: ended after ` +
			    `${at - t0} ms, before the ring timeout`);
		}
		const row = (await calls(a)).find((c) => c.id === callId);
		assert.equal(row?.status, 'missed', short(row));
		assert.equal(row.durationMs, null);
		await callRefused(b, 'call:accept', [{ callId,
		    answer: ANSWER }], 'conflict');
	}));

	it('an active call survives a short ring timeout', withLogs(async () => {
		const { A, B, a, b } = await pair();
		const { callId } = await ok(a, 'call:invite', { targetUserId:
		    B.id, callType: 'audio', offer: OFFER });
		await waitFor(b, 'call:incoming', (x) => x.callId === callId);
		await ok(b, 'call:accept', { callId, answer: ANSWER });
		await sleep(2500);
		assert.deepEqual(got(a, 'call:ended'), []);
		assert.deepEqual(got(b, 'call:ended'), []);
		await ok(b, 'call:ice_candidate', { targetUserId: A.id,
		    candidate: CAND, callId });
		await ok(a, 'call:end', { callId });
		const row = (await calls(a)).find((c) => c.id === callId);
		assert.equal(row.status, 'ended');
		assert.ok(row.durationMs >= 2000, short(row));
	}));

	it('disconnect grace: the caller\'s tab goes, the callee\'s answering ' +
	    'tab hears after ~1 s; a callee tab not in the call may go',
	    withLogs(async () => {
		const { A, B, a, b } = await pair();
		const b2 = await login(d, B, { label: 'b2' });
		sockets.push(b2);
		const { callId } = await ok(a, 'call:invite', { targetUserId:
		    B.id, callType: 'audio', offer: OFFER });
		await waitFor(b2, 'call:incoming', (x) => x.callId === callId);
		await waitFor(b, 'call:incoming', (x) => x.callId === callId);
		await ok(b, 'call:accept', { callId, answer: ANSWER });
		await waitFor(a, 'call:accepted');
		// b2 (not in the call) goes: nothing happens.
		b2.close();
		await sleep(1800);
		assert.deepEqual(got(a, 'call:ended'), []);
		assert.deepEqual(got(b, 'call:ended'), []);
		await ok(b, 'call:ice_candidate', { targetUserId: A.id,
		    candidate: CAND, callId });
		const t0 = Date.now();
		a.close();
		assert.deepEqual(await waitFor(b, 'call:ended', null, 6000),
		    { callId, reason: 'disconnect' });
		const dt = b.rec.find((r) => r.event === 'call:ended').at - t0;
		assert.ok(dt >= 800 && dt <= 4000, `call:ended ${dt} ms after ` +
		    'the disconnect');
		const row = (await calls(b)).find((c) => c.id === callId);
		assert.equal(row.status, 'ended');
	}));

	it('disconnect grace: the callee\'s tab goes, the caller hears ' +
	    'after ~1 s', withLogs(async () => {
		const { B, a, b } = await pair();
		const { callId } = await ok(a, 'call:invite', { targetUserId:
		    B.id, callType: 'video', offer: OFFER });
		await waitFor(b, 'call:incoming', (x) => x.callId === callId);
		await ok(b, 'call:accept', { callId, answer: ANSWER });
		await waitFor(a, 'call:accepted');
		const t0 = Date.now();
		b.close();
		assert.deepEqual(await waitFor(a, 'call:ended', null, 6000),
		    { callId, reason: 'disconnect' });
		const dt = a.rec.find((r) => r.event === 'call:ended').at - t0;
		assert.ok(dt >= 800, `call:ended ${dt} ms after the ` +
		    'disconnect, before the grace');
		assert.ok(dt <= 4000, `call:ended only after ${dt} ms`);
		const row = (await calls(a)).find((c) => c.id === callId);
		assert.equal(row.status, 'ended');
		assert.equal(typeof row.durationMs, 'number');
		// A is free again.
		const b2 = await login(d, B, { label: 'b2' });
		sockets.push(b2);
		const again = await ok(a, 'call:invite', { targetUserId: B.id,
		    callType: 'audio', offer: OFFER });
		await waitFor(b2, 'call:incoming', (x) =>
		    x.callId === again.callId);
		// (It may have timed out meanwhile: either answer will do.)
		await ask(a, 'call:end', { callId: again.callId });
	}));

	it('no worker died; the daemon stops cleanly', async () => {
		await stopsCleanly(d, pidsBefore, sockets);
	});
});

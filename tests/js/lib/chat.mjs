// Helpers for the chat-event tests (doc/events.md): authenticated tabs
// placed on chosen workers, a record of every event each socket receives,
// and assertions on acks, error events and silence.
import assert from 'node:assert/strict';
import { client, connected, ask, until, splitOffset } from './client.mjs';
import { sleep } from './daemon.mjs';
import { SECRET, mint } from './token.mjs';

// Configuration lines every chat daemon gets: tokens minted by token.mjs
// verify.
export const CHAT_CONF = [`jwt-secret ${SECRET}`];

export const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

export const CHAT_PERMS = ['chat.access', 'chat.send_messages',
    'chat.create_channels', 'chat.manage_channels', 'chat.send_broadcasts'];

// An ISO 8601 UTC time with milliseconds, within maxSkewMs of now.
export function assertIso(v, what = 'time', maxSkewMs = 120000) {
	assert.equal(typeof v, 'string', `${what}: ${JSON.stringify(v)}`);
	assert.match(v, ISO_MS, `${what}: ${v}`);
	const t = Date.parse(v);
	assert.ok(Number.isFinite(t), `${what}: Date.parse(${v})`);
	assert.ok(Math.abs(t - Date.now()) < maxSkewMs,
	    `${what}: ${v} is not close to now (${new Date().toISOString()})`);
}

export function assertId(v, what = 'id') {
	assert.ok(Number.isInteger(v) && v > 0,
	    `${what}: expected a positive integer, got ${JSON.stringify(v)}`);
}

let uniqNo = 0;
// A name no other test of this process uses.
export function uniq(prefix = 'c') {
	return `${prefix}-${process.pid}-${++uniqNo}`;
}

/*
 * The error event for a client->server event (doc/events.md, "Error
 * events"); a missing authentication is always auth:error.
 */
export function errorEventFor(event, code) {
	if (code === 'not_authenticated' || event === 'authenticate')
		return 'auth:error';
	if (event.startsWith('call:'))
		return 'call:error';
	if (event === 'update_presence' || event.startsWith('presence:'))
		return 'presence:error';
	if (event === 'system_broadcast')
		return 'broadcast:error';
	return 'chat:error';
}

/*
 * Keep every event the socket receives in socket.rec ({event, args, offset,
 * at}): args the payload, offset the trailing offset of connection state
 * recovery (splitOffset), when there is one.
 */
export function record(socket) {
	socket.rec = [];
	socket.onAny((event, ...all) => {
		const { args, offset } = splitOffset(socket, all);

		socket.rec.push({ event, args, offset, at: Date.now() });
	});
	return socket;
}

// First arguments of the recorded `event`s at index >= since matching pred.
export function got(socket, event, pred = null, since = 0) {
	return socket.rec.slice(since).filter((r) => r.event === event &&
	    (!pred || pred(...r.args))).map((r) => r.args[0]);
}

// Resolve the first argument of the first recorded `event` (index >= since,
// matching pred), waiting up to timeoutMs for it.
export async function waitFor(socket, event, pred = null, timeoutMs = 5000,
    since = 0) {
	const r = await until(() => socket.rec.slice(since).find((x) =>
	    x.event === event && (!pred || pred(...x.args))), timeoutMs,
	    `"${event}" on ${socket.label ?? 'socket'}`, 10);
	return r.args[0];
}

// Current record positions of sockets, for assertNone.
/*
 * Where each socket's record stands now, once the sockets have been quiet
 * for `quiet` ms (at most `max` ms): events of earlier actions still in
 * flight between workers land before the mark, not after it.
 */
export async function mark(sockets, quiet = 150, max = 3000) {
	const total = () => sockets.reduce((n, s) => n + s.rec.length, 0);
	const t0 = Date.now();
	let last = total(), since = Date.now();
	while (Date.now() - since < quiet && Date.now() - t0 < max) {
		await sleep(25);
		const n = total();
		if (n !== last) {
			last = n;
			since = Date.now();
		}
	}
	return new Map(sockets.map((s) => [s, s.rec.length]));
}

/*
 * Wait ms, then assert that no socket of marks received any of `events`
 * (matching pred) since its mark.
 */
export async function assertNone(marks, events, ms = 300, pred = null) {
	await sleep(ms);
	for (const [s, since] of marks) {
		const bad = s.rec.slice(since).filter((r) =>
		    events.includes(r.event) && (!pred || pred(r.event,
		    ...r.args)));
		assert.deepEqual(bad.map((r) => [r.event, ...r.args]), [],
		    `${s.label ?? 'a socket'} received unexpected events`);
	}
}

/*
 * Open a WebSocket client (no reconnection), recorded, and keep it only
 * when it lands on an acceptable worker: `on` (a worker pid) or not in
 * `notOn` (pids).  socket.who is its whoami answer.
 */
export async function openTab(d, { on = null, notOn = [], opts = {},
    label, tries = 80 } = {}) {
	for (let i = 0; i < tries; i++) {
		const s = record(client(d.url, { transports: ['websocket'],
		    reconnection: false, ...opts }));
		s.label = label;
		try {
			await connected(s, 5000);
			const w = await ask(s, 'whoami');
			if ((on === null || w.pid === on) &&
			    !notOn.includes(w.pid)) {
				s.who = w;
				return s;
			}
		} catch (e) {
			s.close();
			throw e;
		}
		s.close();
	}
	throw new Error(`no connection landed on the wanted worker in ${tries} ` +
	    `tries (on ${on}, not on ${notOn})`);
}

// One tab on each of n different workers.
export async function tabsOnWorkers(d, n, opts = {}) {
	const tabs = [];
	for (let i = 0; i < n; i++) {
		tabs.push(await openTab(d, { ...opts,
		    notOn: tabs.map((t) => t.who.pid) }));
	}
	return tabs;
}

/*
 * Authenticate with the `authenticate` event; asserts an ok ack and the
 * `authenticated` event.  Resolves the ack.
 */
export async function auth(s, token) {
	const since = s.rec.length;
	const ack = await ask(s, 'authenticate', token);
	assert.equal(ack?.ok, true, `authenticate (${s.label ?? ''}): ` +
	    JSON.stringify(ack));
	await waitFor(s, 'authenticated', null, 5000, since);
	s.user = ack.user;
	return ack;
}

// openTab + auth with a token minted from claims.
export async function login(d, claims, tabOpts = {}) {
	const s = await openTab(d, { label: claims.displayName, ...tabOpts });
	await auth(s, mint(claims));
	return s;
}

// Ask and assert {ok: true}; resolves the ack.
export async function ok(s, event, ...args) {
	const ack = await ask(s, event, ...args);
	assert.equal(ack?.ok, true, `${event} ${short(args)} -> ` +
	    JSON.stringify(ack));
	return ack;
}

export function short(v, n = 200) {
	const j = JSON.stringify(v) ?? String(v);
	return j.length > n ? `${j.slice(0, n)}...(${j.length} chars)` : j;
}

/*
 * Ask and assert a refusal: ack {ok: false, error: {code, message}} with
 * code (or one of an array of codes), and the matching error event carrying
 * that same message as its only argument.  Resolves the ack.
 */
export async function refused(s, event, args, code, what = '') {
	const codes = Array.isArray(code) ? code : [code];
	const since = s.rec.length;
	const ack = await ask(s, event, ...args);
	const ctx = `${event} ${short(args)}${what ? ` (${what})` : ''}`;
	assert.equal(ack?.ok, false, `${ctx}: expected a refusal, got ` +
	    short(ack, 400));
	assert.ok(ack.error && codes.includes(ack.error.code),
	    `${ctx}: error code ${short(ack.error)}, expected ${codes}`);
	assert.equal(typeof ack.error.message, 'string', ctx);
	assert.ok(ack.error.message.length > 0, `${ctx}: empty message`);
	const ev = errorEventFor(event, ack.error.code);
	await until(() => s.rec.slice(since).some((r) => r.event === ev),
	    2000, `${ctx}: "${ev}" event`, 10);
	const r = s.rec.slice(since).find((x) => x.event === ev);
	assert.deepEqual(r.args, [ack.error.message],
	    `${ctx}: "${ev}" must carry the ack's message`);
	return ack;
}

// channel:create by s (needs chat.create_channels); resolves the channel.
export async function createChannel(s, fields = {}) {
	const ack = await ok(s, 'channel:create', { name: uniq('chan'),
	    ...fields });
	assertId(ack.channel?.id, 'channel.id');
	return ack.channel;
}

// chat:send_message; resolves the stored message.
export async function send(s, channelId, message, extra = {}) {
	const ack = await ok(s, 'chat:send_message', { channelId, message,
	    ...extra });
	assertId(ack.message?.id, 'message.id');
	return ack.message;
}

// The whole history of a channel, oldest first (pages of 100).
export async function history(s, channelId) {
	const all = [];
	let before;
	for (;;) {
		const ack = await ok(s, 'chat:get_messages', { channelId,
		    limit: 100, ...(before ? { before } : {}) });
		all.push(...ack.messages);
		if (!ack.hasMore || ack.messages.length === 0)
			break;
		before = ack.messages[ack.messages.length - 1].id;
	}
	return all.reverse();
}

// This user's view of one channel in channel:list (undefined when absent).
export async function listed(s, channelId) {
	const ack = await ok(s, 'channel:list');
	assert.ok(Array.isArray(ack.channels), 'channels is an array');
	return ack.channels.find((c) => c.id === channelId);
}

// presence:get_online_users; resolves the array (the spec's form).
export async function onlineUsers(s) {
	const r = await ask(s, 'presence:get_online_users');
	assert.ok(Array.isArray(r), `presence:get_online_users -> ${short(r)}`);
	return r;
}

// Resolves when the socket is disconnected (rejects after timeoutMs).
export async function disconnected(s, timeoutMs = 5000) {
	await until(() => !s.connected && s.events.disconnects.length > 0,
	    timeoutMs, `${s.label ?? 'socket'} disconnected`, 10);
	return s.events.disconnects[s.events.disconnects.length - 1];
}

// No worker exited, and the same worker processes still run.
export function assertNoWorkerDied(d, pidsBefore) {
	assert.equal(d.proc.exitCode, null, 'master still running');
	assert.ok(!d.stderrLines().some((l) =>
	    /worker.*(exited|killed|respawn)/i.test(l)),
	    'no worker exit logged');
	if (pidsBefore)
		assert.deepEqual(d.workerPids(), pidsBefore, 'same worker pids');
}

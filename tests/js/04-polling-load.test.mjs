// 200 polling-only clients, one fresh TCP connection per HTTP request, on
// 4 workers: every request must reach the worker owning its session.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { useDaemon, withLogs } from './lib/daemon.mjs';
import { client, connected, ask, askAll, once, until } from './lib/client.mjs';

const N = 200;

// Does an error/disconnect description look like a sticky-routing failure?
function describeErr(e) {
	if (!e)
		return String(e);
	const parts = [e.message, e.type];
	const desc = e.description;
	if (desc !== undefined) {
		parts.push(typeof desc === 'object' ?
		    `${desc.message ?? ''} ${desc.description ?? ''} ` +
		    `${desc.context?.responseText ?? ''}` : String(desc));
	}
	if (e.context?.responseText)
		parts.push(e.context.responseText);
	return parts.filter((x) => x !== undefined).join(' | ');
}

function isStickyFailure(text) {
	return /Session ID unknown|\b400\b/.test(text);
}

describe('polling load, no keep-alive', { timeout: 60000 }, () => {
	const sockets = [];
	const problems = [];	// every error/disconnect seen, as text
	// N clients of one address stay unauthenticated (debug events only):
	// lift the per-address cap.
	const d = useDaemon({ workers: 4, sockets,
	    extraConf: ['max-unauthenticated-per-ip 0'] });

	it(`${N} polling clients connect and work`, withLogs(async (t) => {
		const t0 = Date.now();
		for (let i = 0; i < N; i++) {
			const agent = new http.Agent({ keepAlive: false });
			const s = client(d.url, { transports: ['polling'],
			    upgrade: false, agent, reconnection: false,
			    timeout: 20000 });
			s.on('connect_error', (e) => problems.push(
			    `client ${i}: connect_error: ${describeErr(e)}`));
			s.on('disconnect', (reason, desc) => problems.push(
			    `client ${i}: disconnect: ${reason}: ` +
			    describeErr(desc)));
			s.io.on('error', (e) => problems.push(
			    `client ${i}: manager error: ${describeErr(e)}`));
			sockets.push(s);
		}
		await Promise.all(sockets.map((s) => connected(s, 30000)));
		t.diagnostic(`${N} connected in ${Date.now() - t0} ms`);

		const who = await Promise.all(sockets.map((s) => ask(s, 'whoami')));
		const slots = new Set(who.map((w) => w.worker));
		t.diagnostic(`workers used: ${[...slots].sort().join(',')}`);
		assert.ok(slots.size >= 2, 'sessions on at least 2 workers');
		for (const w of who)
			assert.equal(w.transport, 'polling');

		const echoes = await Promise.all(sockets.map((s, i) =>
		    askAll(s, 'echo', i, `c${i}`)));
		echoes.forEach((r, i) => assert.deepEqual(r, [i, `c${i}`]));

		// Own-room round trip: join "c<i>" and "load", emit to "c<i>".
		await Promise.all(sockets.map(async (s, i) => {
			assert.deepEqual(await ask(s, 'room:join', `c${i}`),
			    { ok: true });
			assert.deepEqual(await ask(s, 'room:join', 'load'),
			    { ok: true });
			const got = once(s, 'self', 10000);
			assert.deepEqual(await ask(s, 'room:emit', `c${i}`,
			    'self', i), { ok: true });
			assert.deepEqual(await got, [i]);
		}));

		// One broadcast reaching all of them.
		const counts = new Array(N).fill(0);
		sockets.forEach((s, i) => s.on('bcast', () => counts[i]++));
		assert.deepEqual(await ask(sockets[N - 1], 'room:emit', 'load',
		    'bcast', 'x'), { ok: true });
		await until(() => counts.every((c) => c >= 1), 15000,
		    'broadcast reached all clients');
		assert.ok(counts.every((c) => c === 1), 'no duplicates');
		t.diagnostic(`done in ${Date.now() - t0} ms`);

		assert.deepEqual(problems.filter(isStickyFailure), [],
		    'no "Session ID unknown" / 400');
		assert.deepEqual(problems, [], 'no error or disconnect');
		for (const s of sockets)
			assert.ok(s.connected);
	}));
});

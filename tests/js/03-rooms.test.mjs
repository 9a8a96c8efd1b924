// Rooms across 4 workers, websocket and polling clients mixed.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { useDaemon, withLogs } from './lib/daemon.mjs';
import { connect, ask, until, TRANSPORTS } from './lib/client.mjs';

const NWS = 16;
const NPOLL = 8;
const N = NWS + NPOLL;
const NMEMBERS = 20;		// clients 0..19 join r1; 20..23 do not

const range = (a, b) => Array.from({ length: b - a }, (_, i) => a + i);

describe('rooms across workers', () => {
	const sockets = [];
	const got = [];		// per client: {m1: [], m2: [], fences: Set}
	let fenceNo = 0;

	// Every client receives a fence token through room "all"; once all
	// have it, anything sent before it to them has arrived too.
	async function fence() {
		const tok = `f${++fenceNo}`;
		const r = await ask(sockets[0], 'room:emit', 'all', 'fence', tok);
		assert.deepEqual(r, { ok: true });
		await until(() => got.every((g) => g.fences.has(tok)), 10000,
		    `fence ${tok} reached every client`);
	}

	const d = useDaemon({ workers: 4, sockets });
	before(async () => {
		// One after the other: a burst of connections is accepted by
		// whichever worker wakes first, in one batch, so the clients
		// would often all land on one worker.
		for (let i = 0; i < N; i++) {
			sockets.push(await connect(d.url, i < NWS ?
			    TRANSPORTS.websocket : TRANSPORTS.polling, 10000));
		}
		sockets.forEach((s, i) => {
			const g = { m1: [], m2: [], fences: new Set() };
			got[i] = g;
			s.on('m1', (n) => g.m1.push(n));
			s.on('m2', (n) => g.m2.push(n));
			s.on('fence', (t) => g.fences.add(t));
		});
	});

	it('clients are spread over several workers', withLogs(async (t) => {
		const who = await Promise.all(sockets.map((s) => ask(s, 'whoami')));
		const slots = new Set(who.map((w) => w.worker));
		const pids = new Set(who.map((w) => w.pid));
		for (const w of who)
			assert.ok(w.worker >= 0 && w.worker < 4, `slot ${w.worker}`);
		assert.equal(slots.size, pids.size, 'one pid per slot');
		assert.ok(slots.size >= 2, `only worker(s) ${[...slots]} used`);
		t.diagnostic(`workers used: ${[...slots].sort().join(',')}`);
		const pollSlots = new Set(who.slice(NWS).map((w) => w.worker));
		t.diagnostic(`polling clients on: ${[...pollSlots].join(',')}`);
		who.forEach((w, i) => assert.equal(w.transport,
		    i < NWS ? 'websocket' : 'polling'));
	}));

	it('join rooms', withLogs(async () => {
		const joins = [];
		sockets.forEach((s, i) => {
			joins.push(ask(s, 'room:join', 'all'));
			if (i < NMEMBERS)
				joins.push(ask(s, 'room:join', 'r1'));
			if (i % 3 === 0)
				joins.push(ask(s, 'room:join', 'r2'));
		});
		for (const r of await Promise.all(joins))
			assert.deepEqual(r, { ok: true });
	}));

	it('50 messages reach every r1 member once, in order',
	    withLogs(async () => {
		const sender = sockets[0];	// a member: gets its own too
		const acks = [];
		for (let n = 0; n < 50; n++)
			acks.push(ask(sender, 'room:emit', 'r1', 'm1', n));
		for (const r of await Promise.all(acks))
			assert.deepEqual(r, { ok: true });
		await until(() => got.slice(0, NMEMBERS)
		    .every((g) => g.m1.length >= 50), 10000,
		    'all members got 50 messages');
		await fence();
		got.forEach((g, i) => {
			assert.deepEqual(g.m1, i < NMEMBERS ? range(0, 50) : [],
			    `client ${i} (${i < NWS ? 'ws' : 'polling'})`);
			assert.deepEqual(g.m2, [], `client ${i} got no m2`);
		});
	}));

	it('a polling non-member sends to r2', withLogs(async () => {
		const sender = sockets[N - 2];	// polling, 22 % 3 != 0
		for (let n = 0; n < 10; n++) {
			assert.deepEqual(await ask(sender, 'room:emit', 'r2',
			    'm2', n), { ok: true });
		}
		await until(() => got.every((g, i) => i % 3 !== 0 ||
		    g.m2.length >= 10), 10000, 'r2 members got 10');
		await fence();
		got.forEach((g, i) => assert.deepEqual(g.m2,
		    i % 3 === 0 ? range(0, 10) : [], `client ${i} m2`));
	}));

	it('after room:leave nothing more is delivered', withLogs(async () => {
		const leavers = range(0, NMEMBERS).filter((i) => i % 2 === 1);
		for (const r of await Promise.all(leavers.map((i) =>
		    ask(sockets[i], 'room:leave', 'r1'))))
			assert.deepEqual(r, { ok: true });
		// Leaving a room one is not in is fine too.
		assert.deepEqual(await ask(sockets[N - 1], 'room:leave', 'r1'),
		    { ok: true });
		const sender = sockets[NWS];	// polling member, stays
		for (let n = 50; n < 70; n++) {
			assert.deepEqual(await ask(sender, 'room:emit', 'r1',
			    'm1', n), { ok: true });
		}
		await until(() => got.every((g, i) => i >= NMEMBERS ||
		    i % 2 === 1 || g.m1.length >= 70), 10000,
		    'remaining members got 70');
		await fence();
		got.forEach((g, i) => {
			let want = [];
			if (i < NMEMBERS)
				want = range(0, i % 2 === 1 ? 50 : 70);
			assert.deepEqual(g.m1, want, `client ${i} m1`);
		});
	}));

	it('nobody was disconnected', () => {
		sockets.forEach((s, i) => {
			assert.ok(s.connected, `client ${i} connected`);
			assert.deepEqual(s.events.disconnects, [], `client ${i}`);
			assert.equal(s.events.connects, 1, `client ${i}`);
		});
	});
});

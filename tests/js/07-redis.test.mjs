// Rooms through a real redis-server: across workers and across two daemons
// ("hosts"), and recovery after a Redis restart.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, startRedis, sleep, withLogs } from './lib/daemon.mjs';
import { connect, ask, until, closeAll, TRANSPORTS }
    from './lib/client.mjs';

describe('redis relay', () => {
	let redis, a, b;
	const sockets = [];	// [0..7] on daemon a, [8..11] on daemon b
	const got = [];		// per client: array of received values

	before(async () => {
		redis = await startRedis();
		a = await startDaemon({ workers: 2, redisUrl: redis.url });
		b = await startDaemon({ workers: 1, redisUrl: redis.url });
		// Which worker accepts a connection is the kernel's choice:
		// keep connecting until daemon a's 8 clients cover both of
		// its workers (bounded), closing the surplus of the other.
		const onA = [];
		for (let i = 0; i < 40 && onA.length < 8; i++) {
			const tr = i % 4 === 3 ? TRANSPORTS.polling :
			    TRANSPORTS.websocket;
			const s = await connect(a.url, tr);
			const w = (await ask(s, 'whoami')).worker;
			const slots = new Set(onA.map((x) => x.w));
			if (onA.length >= 7 && slots.size === 1 && slots.has(w)) {
				s.close();
				continue;
			}
			onA.push({ s, w });
		}
		for (let i = 0; i < 12; i++) {
			const tr = i % 4 === 3 ? TRANSPORTS.polling :
			    TRANSPORTS.websocket;
			const s = i < 8 ? onA[i].s : await connect(b.url, tr);
			const g = [];
			got.push(g);
			s.on('rm', (v) => g.push(v));
			sockets.push(s);
		}
	});
	after(async () => {
		closeAll(sockets);
		if (a)
			await a.stop();
		if (b)
			await b.stop();
		if (redis)
			await redis.stop();
	});

	it('room delivery across workers and daemons', withLogs(async (t) => {
		const who = await Promise.all(sockets.map((s) => ask(s, 'whoami')));
		const slotsA = new Set(who.slice(0, 8).map((w) => w.worker));
		t.diagnostic(`daemon a workers used: ${[...slotsA]}`);
		assert.equal(slotsA.size, 2, 'clients on both workers of a');
		for (const r of await Promise.all(sockets.map((s) =>
		    ask(s, 'room:join', 'r'))))
			assert.deepEqual(r, { ok: true });
		// Not a member: must get nothing.
		const outsider = await connect(a.url, TRANSPORTS.websocket);
		sockets.push(outsider);
		const outsiderGot = [];
		outsider.on('rm', (v) => outsiderGot.push(v));

		for (let n = 0; n < 20; n++) {
			const from = n % 2 ? sockets[9] : sockets[0];
			assert.deepEqual(await ask(from, 'room:emit', 'r', 'rm', n),
			    { ok: true });
		}
		await until(() => got.every((g) => g.length >= 20), 10000,
		    'every member got 20');
		await sleep(100);
		// Order is per sender; the set must be exact.
		got.forEach((g, i) => {
			assert.deepEqual([...g].sort((x, y) => x - y),
			    Array.from({ length: 20 }, (_, k) => k),
			    `client ${i}`);
			assert.deepEqual(g.filter((v) => v % 2 === 0),
			    [0, 2, 4, 6, 8, 10, 12, 14, 16, 18],
			    `client ${i}: order of one sender`);
		});
		assert.deepEqual(outsiderGot, []);
	}));

	it('delivery resumes after a Redis restart; nobody disconnects',
	    withLogs(async (t) => {
		for (const g of got)
			g.length = 0;
		await redis.stopOnly();
		await sleep(1000);
		assert.equal(a.proc.exitCode, null, 'daemon a survives');
		assert.equal(b.proc.exitCode, null, 'daemon b survives');
		await redis.start();
		const t0 = Date.now();
		let k = 0;
		const delivered = () => {
			// Some marker every member has seen.
			const sets = got.map((g) => new Set(g));
			return got[0].find((v) => sets.every((s) => s.has(v)));
		};
		let hit;
		while (Date.now() - t0 < 15000) {
			sockets[0].emit('room:emit', 'r', 'rm', `a${k}`);
			sockets[9].emit('room:emit', 'r', 'rm', `b${k}`);
			k++;
			await sleep(200);
			hit = delivered();
			if (hit !== undefined)
				break;
		}
		assert.ok(hit !== undefined, 'delivery to every member within ' +
		    '15 s of the restart');
		t.diagnostic(`delivery back after ${Date.now() - t0} ms ` +
		    `(marker ${hit})`);
		// Both directions work now.
		const seen = (v) => got.every((g) => g.includes(v));
		assert.deepEqual(await ask(sockets[0], 'room:emit', 'r', 'rm',
		    'final-a'), { ok: true });
		assert.deepEqual(await ask(sockets[9], 'room:emit', 'r', 'rm',
		    'final-b'), { ok: true });
		await until(() => seen('final-a') && seen('final-b'), 5000,
		    'final markers delivered');
		sockets.forEach((s, i) => {
			assert.ok(s.connected, `client ${i} connected`);
			assert.deepEqual(s.events.disconnects, [],
			    `client ${i} not disconnected`);
		});
	}));
});

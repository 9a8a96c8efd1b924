// A Node backend emitting into confabd through Redis with the official
// @socket.io/redis-emitter: room and global emits, socketsJoin,
// socketsLeave and disconnectSockets, over two workers.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from 'redis';
import { Emitter } from '@socket.io/redis-emitter';
import { useDaemon, startRedis, sleep, withLogs } from './lib/daemon.mjs';
import { connect, ask, until, TRANSPORTS, splitOffset } from './lib/client.mjs';

describe('@socket.io/redis-emitter into confabd', () => {
	let redis, rc, emitter;
	const sockets = [];
	const got = [];		// per socket: [event, ...args]

	before(async () => {
		redis = await startRedis();
	});
	const d = useDaemon({ workers: 2, redisUrl: () => redis.url, sockets,
	    teardown: async () => {
		if (rc)
			await rc.quit().catch(() => {});
	} });
	before(async () => {
		// Sockets on both workers (the kernel picks; bounded retries).
		const slots = new Set();
		for (let i = 0; i < 40 && (sockets.length < 6 ||
		    slots.size < 2); i++) {
			const s = await connect(d.url, i % 3 === 2 ?
			    TRANSPORTS.polling : TRANSPORTS.websocket);
			slots.add((await ask(s, 'whoami')).worker);
			const g = [];
			got.push(g);
			s.onAny((ev, ...all) => g.push([ev,
			    ...splitOffset(s, all).args]));
			sockets.push(s);
		}
		assert.equal(slots.size, 2, 'sockets on both workers');
		// Sockets 0..2 in "r1", the others in "r2".
		for (const [i, s] of sockets.entries())
			assert.deepEqual(await ask(s, 'room:join', i < 3 ? 'r1' : 'r2'),
			    { ok: true });
		rc = createClient({ url: redis.url });
		await rc.connect();
		emitter = new Emitter(rc);
	});
	after(async () => {
		if (redis)
			await redis.stop();
	});

	const received = (i, ev) => got[i].filter((e) => e[0] === ev);

	it('to(room).emit reaches the room on every worker, nobody else',
	    withLogs(async () => {
		emitter.to('r1').emit('from-backend', 'hello', { n: 1 });
		await until(() => [0, 1, 2].every((i) =>
		    received(i, 'from-backend').length === 1), 5000,
		    'r1 members got it');
		await sleep(200);
		for (let i = 0; i < sockets.length; i++)
			assert.deepEqual(received(i, 'from-backend'),
			    i < 3 ? [['from-backend', 'hello', { n: 1 }]] : [],
			    `socket ${i}`);
	}));

	it('emit without a room reaches every socket', withLogs(async () => {
		emitter.emit('to-all', 42);
		await until(() => got.every((g) =>
		    g.some((e) => e[0] === 'to-all')), 5000, 'everyone got it');
	}));

	it('socketsJoin and socketsLeave', withLogs(async () => {
		emitter.in('r2').socketsJoin('joined');
		await sleep(300);
		emitter.to('joined').emit('after-join');
		await until(() => sockets.every((_, i) => i < 3 ||
		    received(i, 'after-join').length === 1), 5000,
		    'r2 sockets joined "joined"');
		for (let i = 0; i < 3; i++)
			assert.deepEqual(received(i, 'after-join'), []);
		emitter.in('joined').socketsLeave('joined');
		await sleep(300);
		emitter.to('joined').emit('after-leave');
		await sleep(500);
		for (let i = 0; i < sockets.length; i++)
			assert.deepEqual(received(i, 'after-leave'), [],
			    `socket ${i}`);
	}));

	it('disconnectSockets on a room', withLogs(async () => {
		emitter.in('r1').disconnectSockets();
		await until(() => [0, 1, 2].every((i) => !sockets[i].connected),
		    5000, 'r1 sockets disconnected');
		await sleep(200);
		for (let i = 3; i < sockets.length; i++)
			assert.equal(sockets[i].connected, true, `socket ${i}`);
	}));
});

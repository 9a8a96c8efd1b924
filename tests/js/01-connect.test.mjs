// Connecting with the official client over every transport combination.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useDaemon, withLogs } from './lib/daemon.mjs';
import { client, connect, connected, ask, askAll, once }
    from './lib/client.mjs';

describe('connect', () => {
	const sockets = [];
	const d = useDaemon({ workers: 2, sockets, closeEach: true });

	it('default options: polling first, then upgrade to websocket',
	    withLogs(async () => {
		const s = client(d.url);
		sockets.push(s);
		let first = null;
		const upgraded = new Promise((resolve) => {
			s.io.once('open', () => {
				first = s.io.engine.transport.name;
				s.io.engine.once('upgrade',
				    (t) => resolve(t.name));
			});
		});
		await connected(s);
		assert.equal(first, 'polling',
		    'the default client opens on polling');
		let timer;
		const name = await Promise.race([upgraded,
		    new Promise((_, rej) => {
			timer = setTimeout(() => rej(new Error(
			    'no upgrade within 5 s')), 5000);
		    })]);
		clearTimeout(timer);
		assert.equal(name, 'websocket');
		assert.equal(s.io.engine.transport.name, 'websocket');
		const who = await ask(s, 'whoami');
		assert.equal(who.transport, 'websocket');
		assert.equal(who.sid, s.id);
		assert.equal(who.eioSid, s.io.engine.id);
		assert.deepEqual(await askAll(s, 'echo', 'hi', 2),
		    ['hi', 2]);
		assert.deepEqual(s.events.disconnects, []);
	}));

	it('GET /healthz answers 200 while serving; other paths 404',
	    withLogs(async () => {
		const r = await fetch(`${d.url}/healthz`);
		assert.equal(r.status, 200);
		assert.equal(await r.text(), 'ok\n');
		const n = await fetch(`${d.url}/not-here`);
		assert.equal(n.status, 404);
		await n.text();
	}));

	it('websocket only', withLogs(async () => {
		const s = await connect(d.url, { transports: ['websocket'] });
		sockets.push(s);
		assert.equal(s.io.engine.transport.name, 'websocket');
		const who = await ask(s, 'whoami');
		assert.equal(who.transport, 'websocket');
		assert.ok(Number.isInteger(who.worker) && who.worker >= 0 &&
		    who.worker < 2, `worker slot ${who.worker}`);
		assert.ok(Number.isInteger(who.pid) && who.pid > 0);
		assert.deepEqual(await askAll(s, 'echo', { a: [1, 'b'] }),
		    [{ a: [1, 'b'] }]);
	}));

	it('polling only, no upgrade', withLogs(async () => {
		const s = await connect(d.url, { transports: ['polling'],
		    upgrade: false });
		sockets.push(s);
		assert.equal(s.io.engine.transport.name, 'polling');
		for (let i = 0; i < 5; i++) {
			assert.deepEqual(await askAll(s, 'echo', 'p', i),
			    ['p', i]);
		}
		const who = await ask(s, 'whoami');
		assert.equal(who.transport, 'polling');
		assert.equal(s.io.engine.transport.name, 'polling');
	}));

	it('echo without ack comes back as an "echo" event',
	    withLogs(async () => {
		const s = await connect(d.url, { transports: ['websocket'] });
		sockets.push(s);
		const got = once(s, 'echo');
		s.emit('echo', 'no-ack', 7);
		assert.deepEqual(await got, ['no-ack', 7]);
	}));

	it('unknown event with an ack gets unknown_event', withLogs(async () => {
		const s = await connect(d.url, { transports: ['websocket'] });
		sockets.push(s);
		const r = await ask(s, 'no-such-event', 1);
		assert.equal(r.ok, false);
		assert.equal(r.error.code, 'unknown_event');
		assert.equal(typeof r.error.message, 'string');
	}));

	it('auth payload is accepted', withLogs(async () => {
		for (const t of [{}, { transports: ['websocket'] },
		    { transports: ['polling'], upgrade: false }]) {
			const s = await connect(d.url, { ...t,
			    auth: { token: 'abc' } });
			sockets.push(s);
			assert.ok(s.connected);
			assert.deepEqual(await askAll(s, 'echo', 'auth'),
			    ['auth']);
		}
	}));

	it('each client gets its own ids', withLogs(async () => {
		const a = await connect(d.url, { transports: ['websocket'] });
		const b = await connect(d.url, { transports: ['polling'],
		    upgrade: false });
		sockets.push(a, b);
		const wa = await ask(a, 'whoami');
		const wb = await ask(b, 'whoami');
		assert.notEqual(wa.sid, wb.sid);
		assert.notEqual(wa.eioSid, wb.eioSid);
		assert.notEqual(wa.sid, wa.eioSid,
		    'Socket.IO id must differ from the Engine.IO sid');
	}));

	it('disconnect:me false gives "io server disconnect"; true gives ' +
	    '"transport close"', withLogs(async () => {
		const a = await connect(d.url, { transports: ['websocket'],
		    reconnection: false });
		sockets.push(a);
		const ra = once(a, 'disconnect');
		a.emit('disconnect:me', false);
		assert.equal((await ra)[0], 'io server disconnect');

		const b = await connect(d.url, { transports: ['websocket'],
		    reconnection: false });
		sockets.push(b);
		const rb = once(b, 'disconnect');
		b.emit('disconnect:me', true);
		assert.equal((await rb)[0], 'transport close');

		const c = await connect(d.url, { transports: ['polling'],
		    upgrade: false, reconnection: false });
		sockets.push(c);
		const rc = once(c, 'disconnect');
		c.emit('disconnect:me', true);
		assert.equal((await rc)[0], 'transport close');
	}));
});

// Acknowledgements both ways, JSON fidelity and binary payloads.
import { describe, it, before, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { useDaemon, withLogs } from './lib/daemon.mjs';
import { connect, askAll, once, TRANSPORTS } from './lib/client.mjs';
import { CHAT_CONF } from './lib/chat.mjs';
import { mint } from './lib/token.mjs';

// Binary packets are refused before authentication: the clients
// authenticate at CONNECT.
const authed = (topts) => ({ ...topts, auth: { token: mint({
    userId: '1', displayName: 'Ack', role: 'user' }) } });

// Values that must survive a round trip unchanged.
const NESTED = {
	a: 1,
	b: [1, 1.5, -3, 0, 1e21, -0.25],
	c: { d: { e: { f: ['deep', null, true, false] } } },
	s: 'h\u00e9llo \u4e16\u754c \ud83d\ude00',
	rs: 'before\u001eafter',
	ctl: 'tab\tnl\nquote"backslash\\ bell\u0007 del\u007f',
	empty: { o: {}, a: [], s: '' },
};

// Binary sent by the server must reach node's socket.io-client as a
// Buffer (it does with the reference server, over both transports).
function toBuf(x) {
	assert.ok(Buffer.isBuffer(x), `expected a Buffer, got ${
	    x?.constructor?.name ?? typeof x}: ${JSON.stringify(x)}`);
	return x;
}

const bin1 = Buffer.from([0, 1, 2, 3, 255, 254, 0x1e, 0x34]);
const bin2 = Buffer.alloc(5000, 0xab);
const bin3 = Buffer.alloc(0);

for (const [tname, topts] of Object.entries({
    websocket: TRANSPORTS.websocket, polling: TRANSPORTS.polling })) {
	describe(`acks over ${tname}`, () => {
		let s;
		const sockets = [];
		const d = useDaemon({ workers: 2, extraConf: CHAT_CONF,
		    sockets });

		before(async () => {
			s = await connect(d.url, authed(topts));
			sockets.push(s);
			assert.equal(s.io.engine.transport.name, tname);
		});
		afterEach(() => {
			s.offAny();
		});

		it('echo returns the same arguments', withLogs(async () => {
			assert.deepEqual(await askAll(s, 'echo'), []);
			assert.deepEqual(await askAll(s, 'echo', 1, 1.5, -3),
			    [1, 1.5, -3]);
			assert.deepEqual(await askAll(s, 'echo', NESTED),
			    [NESTED]);
			assert.deepEqual(await askAll(s, 'echo', 'x', null,
			    [true, { k: 'v' }], 42), ['x', null,
			    [true, { k: 'v' }], 42]);
			const r = await askAll(s, 'echo', '\u001e', '\u001e\u001e');
			assert.deepEqual(r, ['\u001e', '\u001e\u001e']);
			const big = 'z'.repeat(100000);
			assert.deepEqual(await askAll(s, 'echo', big), [big]);
		}));

		it('many acks in flight come back to the right callbacks',
		    withLogs(async () => {
			const all = [];
			for (let i = 0; i < 100; i++)
				all.push(askAll(s, 'echo', i, `n${i}`));
			const res = await Promise.all(all);
			res.forEach((r, i) => assert.deepEqual(r, [i, `n${i}`]));
		}));

		// Assertions stay out of the client's event handlers: a
		// throw there would escape the test.
		it('server -> client ack (ack:request)', withLogs(async () => {
			const got = once(s, 'ping:me');
			const resp = once(s, 'ack:response');
			s.on('ping:me', (...args) => {
				const cb = args.pop();
				if (typeof cb === 'function')
					cb('pong', ...args, { n: 1.5 });
			});
			s.emit('ack:request', 'ping:me', 1, 'two', { three: [3] });
			const args = await got;
			assert.equal(typeof args[args.length - 1], 'function',
			    'server event must carry an ack callback');
			assert.deepEqual(args.slice(0, -1),
			    [1, 'two', { three: [3] }]);
			assert.deepEqual(await resp,
			    ['pong', 1, 'two', { three: [3] }, { n: 1.5 }]);
			s.off('ping:me');
		}));

		it('server -> client ack with binary', withLogs(async () => {
			const resp = once(s, 'ack:response');
			let recv;
			s.once('bin:me', (b, cb) => {
				recv = b;
				cb(Buffer.isBuffer(b) ?
				    Buffer.concat([b, Buffer.from([7])]) :
				    'not binary');
			});
			s.emit('ack:request', 'bin:me', bin1);
			const [r] = await resp;
			assert.deepEqual(toBuf(recv), bin1, 'server sent binary');
			assert.deepEqual(toBuf(r),
			    Buffer.concat([bin1, Buffer.from([7])]),
			    'binary ack came back');
		}));

		it('binary echoed as binary, mixed with JSON',
		    withLogs(async () => {
			const r = await askAll(s, 'echo', bin1, 'text',
			    { nested: { b: bin2, n: 5 }, list: [bin3, 1] });
			assert.equal(r.length, 3);
			assert.deepEqual(toBuf(r[0]), bin1);
			assert.equal(r[1], 'text');
			assert.deepEqual(toBuf(r[2].nested.b), bin2);
			assert.equal(r[2].nested.n, 5);
			assert.equal(toBuf(r[2].list[0]).length, 0);
			assert.equal(r[2].list[1], 1);
		}));

		it('binary echo without ack comes back as an event',
		    withLogs(async () => {
			const got = once(s, 'echo');
			s.emit('echo', 'a', bin1, [bin2]);
			const [a, b, c] = await got;
			assert.equal(a, 'a');
			assert.deepEqual(toBuf(b), bin1);
			assert.deepEqual(toBuf(c[0]), bin2);
		}));

		it('ten attachments in one packet', withLogs(async () => {
			const parts = [];
			for (let i = 0; i < 10; i++)
				parts.push(Buffer.from([i, i + 1, i + 2]));
			const r = await askAll(s, 'echo', ...parts);
			assert.equal(r.length, 10);
			r.forEach((b, i) => assert.deepEqual(toBuf(b), parts[i]));
		}));

		it('connection is still healthy', withLogs(async () => {
			assert.ok(s.connected);
			assert.deepEqual(s.events.disconnects, []);
			assert.deepEqual(await askAll(s, 'echo', 'end'), ['end']);
		}));

		// Valid JSON that a C decoder rejects by default (jansson
		// needs JSON_ALLOW_NUL): own connection, so that a failure
		// does not hide the other results.  (A NUL inside an object
		// *key* is refused: jansson cannot hold such keys.)
		it('strings holding U+0000 survive', withLogs(async () => {
			const c = await connect(d.url, authed(topts));
			sockets.push(c);
			const v = 'nul\u0000inside';
			assert.deepEqual(await askAll(c, 'echo', v, { k: v }, [v]),
			    [v, { k: v }, [v]]);
		}));
	});
}

// Hostile HTTP clients (issue 11, items 4, 5, 9, 10, 11 and 15): ambiguous
// body framing, chunked bodies, pipelined requests, a WebSocket Origin too
// long to copy, sessions of a worker slot that no longer runs, and a
// worker out of descriptors.  Each case asserts the status code or the
// closed connection (and for descriptors the worker's CPU seconds from
// /proc), and that a well-behaved socket.io-client on the same daemon keeps
// working meanwhile.  The use-after-free case (5) means something only under
// the ASan build (CF_TEST_ASAN=1, CONFABD=.../confabd built with
// --enable-sanitizers); on any build it asserts the answers and that no
// worker died.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { useDaemon, withLogs, sleep } from './lib/daemon.mjs';
import { closeAll, until } from './lib/client.mjs';
import { CHAT_CONF, login, ok, assertNoWorkerDied } from './lib/chat.mjs';
import { request, handshake, eioQuery, post, wsOpen, PATH }
    from './lib/raw.mjs';

const ADMIN = { userId: '1', displayName: 'Admin', role: 'admin' };

/*
 * Write `data` on a new TCP connection (all in one write) and collect what
 * comes back until the server closes the connection or `quietMs` pass
 * without it.  Resolves {text, closed}.
 */
function exchange(port, data, { quietMs = 3000, sock = null } = {}) {
	return new Promise((resolve) => {
		const s = sock ?? net.connect(port, '127.0.0.1');
		let text = '';
		let timer;
		const done = (closed) => {
			clearTimeout(timer);
			s.removeAllListeners('data');
			resolve({ text, closed, sock: s });
		};
		const arm = () => {
			clearTimeout(timer);
			timer = setTimeout(() => done(false), quietMs);
		};
		s.on('data', (c) => { text += c.toString('latin1'); arm(); });
		s.once('close', () => done(true));
		s.on('error', () => {});
		if (sock)
			s.write(data);
		else
			s.once('connect', () => s.write(data));
		arm();
	});
}

// The HTTP status codes in a raw response stream, in order.
function statuses(text) {
	return [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
}

function postHead(sid, headers) {
	return `POST ${PATH}?${eioQuery(sid)} HTTP/1.1\r\nHost: x\r\n` +
	    'Content-Type: text/plain;charset=UTF-8\r\n' +
	    headers.map((h) => h + '\r\n').join('') + '\r\n';
}

const HEALTHZ = 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n';

// The session is intact: a CONNECT posted now is answered on the next GET.
async function assertSessionWorks(port, sid) {
	const p = await post(port, sid, '40');
	assert.equal(p.status, 200, `POST 40 -> ${p.status} ${p.body}`);
	const g = await request(port, { query: eioQuery(sid) });
	assert.equal(g.status, 200, `GET -> ${g.status} ${g.body}`);
	assert.match(g.body, /^40\{"sid":/, 'the CONNECT answered');
}

// utime + stime of a process, in seconds (/proc/<pid>/stat, 100 Hz ticks).
function cpuSeconds(pid) {
	const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
	const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
	return (Number(f[11]) + Number(f[12])) / 100;
}

// The worker slot a session id names (byte 0 of its base64url bytes).
function sidSlot(sid) {
	return Buffer.from(sid.slice(0, 4), 'base64url')[0];
}

describe('framing and pipelining', () => {
	let admin, pids;

	const d = useDaemon({ workers: 1, extraConf: CHAT_CONF,
	    teardown: () => closeAll([admin]) });
	before(async () => {
		admin = await login(d, ADMIN);
		pids = d.workerPids();
	});

	for (const [what, hdrs] of [
		['two different Content-Length', ['Content-Length: 2',
		    'Content-Length: 7']],
		['two equal Content-Length', ['Content-Length: 2',
		    'Content-Length: 2']],
		['Content-Length and Transfer-Encoding', ['Content-Length: 2',
		    'Transfer-Encoding: chunked']],
		['Transfer-Encoding: chunked alone', ['Transfer-Encoding: chunked']],
		['a Content-Length that is not a number', ['Content-Length: 2x']],
	]) {
		it(`${what}: 400, the connection closed, the session intact`,
		    withLogs(async () => {
			const { sid } = await handshake(d.port);
			const body = hdrs.some((h) => /chunked/.test(h)) ?
			    '2\r\n40\r\n0\r\n\r\n' : '40';
			const r = await exchange(d.port, postHead(sid, hdrs) + body);
			assert.deepEqual(statuses(r.text), [400], r.text);
			assert.equal(r.closed, true, 'connection closed');
			await assertSessionWorks(d.port, sid);
			await ok(admin, 'channel:list');
		}));
	}

	it('a pipelined POST behind GET /healthz is refused, the session intact',
	    withLogs(async () => {
		const { sid } = await handshake(d.port);
		const r = await exchange(d.port, HEALTHZ +
		    postHead(sid, ['Content-Length: 2']) + '40');
		assert.deepEqual(statuses(r.text), [200, 400], r.text);
		assert.equal(r.closed, true, 'connection closed');
		await assertSessionWorks(d.port, sid);
	}));

	it('the same on a kept-alive connection that already served a request',
	    withLogs(async () => {
		const { sid } = await handshake(d.port);
		const first = await exchange(d.port, HEALTHZ, { quietMs: 500 });
		assert.deepEqual(statuses(first.text), [200]);
		assert.equal(first.closed, false, 'kept alive');
		const r = await exchange(d.port, HEALTHZ +
		    postHead(sid, ['Content-Length: 2']) + '40',
		    { sock: first.sock });
		assert.deepEqual(statuses(r.text), [200, 400], r.text);
		assert.equal(r.closed, true, 'connection closed');
		await assertSessionWorks(d.port, sid);
	}));

	it('GET /healthz + a pipelined chunked POST of its own session, five ' +
	    'times: refused, no worker dies (ASan: no use-after-free)',
	    withLogs(async () => {
		const { sid } = await handshake(d.port);
		for (let i = 0; i < 5; i++) {
			const r = await exchange(d.port, HEALTHZ +
			    postHead(sid, ['Transfer-Encoding: chunked']) +
			    '2\r\n40\r\n' + '3\r\n'.repeat(200));
			assert.deepEqual(statuses(r.text), [200, 400], r.text);
			assert.equal(r.closed, true, 'connection closed');
		}
		await assertSessionWorks(d.port, sid);
		await ok(admin, 'channel:list');
		assertNoWorkerDied(d, pids);
	}));

	it('pipelined GETs still work', withLogs(async () => {
		const r = await exchange(d.port, HEALTHZ + HEALTHZ + HEALTHZ,
		    { quietMs: 1000 });
		assert.deepEqual(statuses(r.text), [200, 200, 200], r.text);
	}));
});

describe('WebSocket Origin compared whole', () => {
	let admin;

	const d = useDaemon({ workers: 1, extraConf: [...CHAT_CONF,
	    'cors-origin http://allowed.example'], teardown: () => closeAll([admin]) });
	before(async () => {
		admin = await login(d, ADMIN);
	});

	for (const [what, origin] of [
		['a foreign Origin of 300 bytes', 'http://evil.example/' +
		    'a'.repeat(280)],
		['an allowed Origin with 300 more bytes',
		    'http://allowed.example' + 'x'.repeat(300)],
		['a foreign Origin of 5000 bytes', 'http://evil.example/' +
		    'b'.repeat(4980)],
	]) {
		it(`${what} is refused (403)`, withLogs(async () => {
			const c = wsOpen(d.port, { origin });
			await assert.rejects(c.opened, (e) => {
				assert.equal(e.status, 403, e.message);
				return true;
			});
			await ok(admin, 'channel:list');
		}));
	}

	it('the allowed Origin itself still opens a WebSocket',
	    withLogs(async () => {
		const c = wsOpen(d.port, { origin: 'http://allowed.example' });
		await c.opened;
		c.ws.close();
	}));
});

describe('sessions of a slot that no longer runs', () => {
	let admin;

	const d = useDaemon({ workers: 2, extraConf: CHAT_CONF,
	    teardown: () => closeAll([admin]) });

	it('get 400 "Session ID unknown" at once, on a new connection and on ' +
	    'a kept-alive one', withLogs(async () => {
		let sid = null;
		for (let i = 0; i < 200 && sid === null; i++) {
			const h = await handshake(d.port);
			if (sidSlot(h.sid) === 1)
				sid = h.sid;
		}
		assert.ok(sid, 'a session on worker 1');
		// Five exits within 60 s: slot 1 is left down (crash loop).
		// Before the last one, a connection for its session is passed
		// to its inbox while it is stopped: it must not stay open.
		let queued = null;
		for (let k = 0; k < 5; k++) {
			const m = [...d.stderrLines().join('\n').matchAll(
			    /worker=1 event=ready pid=(\d+)/g)];
			const pid = Number(m[m.length - 1][1]);
			const since = d.logMark();
			if (k === 4) {
				process.kill(pid, 'SIGSTOP');
				queued = exchange(d.port, `GET ${PATH}?` +
				    `${eioQuery(sid)} HTTP/1.1\r\nHost: x\r\n\r\n`,
				    { quietMs: 15000 });
				await sleep(500);
			}
			process.kill(pid, 'SIGKILL');
			if (k < 4)
				await d.waitForLog(/worker=1 event=ready /, 20000,
				    since);
		}
		await d.waitForLog(/crash loop/, 10000);
		const q = await queued;
		assert.equal(q.closed, true, 'the queued connection is closed');
		await d.waitForLog(/closed 1 connections left in its inbox/,
		    5000);
		admin = await login(d, ADMIN);

		const t0 = Date.now();
		const g = await request(d.port, { query: eioQuery(sid),
		    timeoutMs: 8000 });
		assert.equal(g.status, 400);
		assert.match(g.body, /Session ID unknown/);
		const p = await post(d.port, sid, '40');
		assert.equal(p.status, 400);
		assert.match(p.body, /Session ID unknown/);

		const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
		const h = await request(d.port, { path: '/healthz', agent });
		assert.equal(h.status, 200);
		const g2 = await request(d.port, { query: eioQuery(sid), agent,
		    timeoutMs: 8000 });
		assert.equal(g2.localPort, h.localPort, 'same connection');
		assert.equal(g2.status, 400);
		assert.match(g2.body, /Session ID unknown/);
		const p2 = await request(d.port, { method: 'POST', agent,
		    query: eioQuery(sid), body: '40', timeoutMs: 8000 });
		assert.equal(p2.status, 400);
		agent.destroy();
		assert.ok(Date.now() - t0 < 16000, 'answered, not timed out');
		await ok(admin, 'channel:list');
	}));
});

describe('a forwarded request whose owner never answers', () => {
	let admin;

	const d = useDaemon({ workers: 2, extraConf: [...CHAT_CONF,
	    'ping-interval 1s', 'ping-timeout 1s'], teardown: () => closeAll([admin]) });

	it('times out: the connection is closed (ping interval + timeout + ' +
	    '10 s)', withLogs(async () => {
		let sid = null;
		for (let i = 0; i < 200 && sid === null; i++) {
			const h = await handshake(d.port);
			if (sidSlot(h.sid) === 1)
				sid = h.sid;
		}
		assert.ok(sid, 'a session on worker 1');
		const m = [...d.stderrLines().join('\n').matchAll(
		    /worker=1 event=ready pid=(\d+)/g)];
		const pid = Number(m[m.length - 1][1]);
		// Worker 1 runs but answers nothing; worker 0 accepts alone.
		process.kill(pid, 'SIGSTOP');
		try {
			admin = await login(d, ADMIN);
			const agent = new http.Agent({ keepAlive: true,
			    maxSockets: 1 });
			const h = await request(d.port, { path: '/healthz', agent });
			assert.equal(h.status, 200);
			const t0 = Date.now();
			const g = await request(d.port, { query: eioQuery(sid),
			    agent, timeoutMs: 40000 });
			const secs = (Date.now() - t0) / 1000;
			assert.equal(g.aborted, true, `answered ${g.status}`);
			assert.ok(secs >= 10, `closed after ${secs} s`);
			agent.destroy();
			await ok(admin, 'channel:list');
		} finally {
			process.kill(pid, 'SIGCONT');
		}
	}));
});

describe('out of descriptors', () => {
	const LIMIT = 96;
	let admin;
	const flood = [];

	const d = useDaemon({ workers: 1, extraConf: CHAT_CONF,
	    wrap: ['prlimit', `--nofile=${LIMIT}:${LIMIT}`],
	    teardown: () => {
		flood.forEach((s) => s.destroy());
		closeAll([admin]);
	} });
	before(async () => {
		admin = await login(d, ADMIN);
	});

	it('the limit is logged at start', () => {
		assert.ok(d.stderrLines().some((l) =>
		    new RegExp(`event=fd_limit nofile=${LIMIT} `).test(l)),
		    'fd_limit line');
	});

	it('EMFILE: the worker pauses accepting instead of spinning, logs ' +
	    'once, keeps serving open connections, accepts again later',
	    withLogs(async () => {
		const [wpid] = d.workerPids();
		const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
		const h0 = await request(d.port, { path: '/healthz', agent });
		assert.equal(h0.status, 200);

		// Connections that send nothing: each holds a descriptor while
		// the worker waits for its request line (10 s).
		for (let i = 0; i < LIMIT + 40; i++) {
			const s = net.connect(d.port, '127.0.0.1');
			s.on('error', () => {});
			flood.push(s);
		}
		await until(() => fs.readdirSync(`/proc/${wpid}/fd`).length >=
		    LIMIT - 1, 15000, 'worker out of descriptors', 20);
		await sleep(200);
		const mark = d.logMark();
		const cpu0 = cpuSeconds(wpid);
		const t0 = Date.now();
		await sleep(3000);
		const cpu = cpuSeconds(wpid) - cpu0;
		const secs = (Date.now() - t0) / 1000;
		const lines = d.stderrLines().slice(mark)
		    .filter((l) => /accept4/.test(l)).length;
		process.stderr.write(`worker CPU ${cpu.toFixed(2)} s in ` +
		    `${secs.toFixed(1)} s, ${lines} accept4 lines\n`);
		assert.ok(cpu < 0.5, `worker CPU ${cpu} s in ${secs} s`);
		assert.ok(lines <= 1, `${lines} accept4 log lines`);

		// Open connections are served meanwhile.
		const h1 = await request(d.port, { path: '/healthz', agent });
		assert.equal(h1.status, 200);
		assert.equal(h1.localPort, h0.localPort, 'same connection');
		await ok(admin, 'channel:list');

		// Descriptors come back: a new connection is served.
		flood.splice(0).forEach((s) => s.destroy());
		const h2 = await request(d.port, { path: '/healthz',
		    timeoutMs: 10000 });
		assert.equal(h2.status, 200);
		agent.destroy();
		assert.ok(d.stderrLines().some((l) =>
		    /not accepting for 500 ms/.test(l)), 'pause logged');
	}));
});

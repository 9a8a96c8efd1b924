// Malformed, oversized and unauthorised input over raw HTTP and WebSocket:
// exact error answers, closed connections, and no worker ever dies.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { useDaemon, withLogs, sleep } from './lib/daemon.mjs';
import { connect, askAll, TRANSPORTS } from './lib/client.mjs';
import { request, handshake, post, poll, pollUntil, eioQuery, wsOpen,
    wsSession, closesWithin } from './lib/raw.mjs';

const ERR = {
	transport: { code: 0, message: 'Transport unknown' },
	sid: { code: 1, message: 'Session ID unknown' },
	method: { code: 2, message: 'Bad handshake method' },
	bad: { code: 3, message: 'Bad request' },
	version: { code: 5, message: 'Unsupported protocol version' },
};

function assertError(r, status, body, what) {
	assert.ok(!r.aborted, `${what}: aborted (${r.error?.message})`);
	assert.equal(r.status, status, `${what}: status (body ${r.body})`);
	assert.match(r.headers['content-type'] ?? '', /application\/json/,
	    `${what}: content-type`);
	assert.deepEqual(JSON.parse(r.body), body, `${what}: body`);
}

// Polling session joined to "/".
async function pollingSession(port) {
	const { sid, open } = await handshake(port);
	const r = await post(port, sid, '40');
	assert.equal(r.status, 200);
	await pollUntil(port, sid, (p) => p.startsWith('0{'));
	return { sid, open };
}

describe('bad input', () => {
	let pidsBefore;
	const raws = [];
	const sockets = [];
	const d = useDaemon({ workers: 2, extraConf: ['max-payload 2k'],
	    sockets, teardown: () => {
		for (const c of raws)
			c.close();
	} });

	before(() => {
		pidsBefore = d.workerPids();
	});

	it('EIO missing or not 4 -> 400 code 5', withLogs(async () => {
		assertError(await request(d.port, { query: 'transport=polling' }),
		    400, ERR.version, 'no EIO');
		assertError(await request(d.port,
		    { query: 'EIO=3&transport=polling' }), 400, ERR.version,
		    'EIO=3');
		assertError(await request(d.port,
		    { query: 'EIO=5&transport=polling' }), 400, ERR.version,
		    'EIO=5');
	}));

	it('transport unknown or missing -> 400 code 0', withLogs(async () => {
		assertError(await request(d.port,
		    { query: 'EIO=4&transport=abc' }), 400, ERR.transport,
		    'transport=abc');
		assertError(await request(d.port, { query: 'EIO=4' }), 400,
		    ERR.transport, 'no transport');
	}));

	it('unknown sid -> 400 code 1', withLogs(async () => {
		const { sid } = await handshake(d.port);
		const last = sid[sid.length - 1] === 'A' ? 'B' : 'A';
		const fakes = ['AAAAAAAAAAAAAAAAAAAA', 'x', sid.slice(0, -1) + last,
		    sid + 'A', '0000000000000000000000000000000000000000000'];
		for (const f of fakes) {
			assertError(await poll(d.port, f), 400, ERR.sid,
			    `GET sid=${f}`);
			assertError(await post(d.port, f, '40'), 400, ERR.sid,
			    `POST sid=${f}`);
		}
	}));

	it('handshake with PUT/POST -> 400 code 2', withLogs(async () => {
		for (const method of ['PUT', 'POST']) {
			assertError(await request(d.port, { method,
			    query: eioQuery(null), body: '40' }), 400, ERR.method,
			    method);
		}
	}));

	it('OPTIONS preflight -> 204 with CORS headers', withLogs(async () => {
		const r = await request(d.port, { method: 'OPTIONS',
		    query: eioQuery(null), headers: {
			origin: 'http://somewhere.example',
			'access-control-request-method': 'POST',
			'access-control-request-headers': 'content-type' } });
		assert.equal(r.status, 204);
		assert.ok(['*', 'http://somewhere.example'].includes(
		    r.headers['access-control-allow-origin']),
		    `allow-origin: ${r.headers['access-control-allow-origin']}`);
		assert.match(r.headers['access-control-allow-methods'] ?? '',
		    /POST/);
	}));

	it('transport=websocket without Upgrade -> 400 code 3',
	    withLogs(async () => {
		assertError(await request(d.port,
		    { query: eioQuery(null, 'websocket') }), 400, ERR.bad,
		    'plain GET transport=websocket');
	}));

	it('handshake advertises max-payload', withLogs(async () => {
		const { open } = await handshake(d.port);
		assert.equal(open.maxPayload, 2048);
	}));

	it('POST body over max-payload -> 413', withLogs(async () => {
		const { sid } = await pollingSession(d.port);
		// Refused from the Content-Length, before the body is read; the
		// answer arrives before the connection closes.
		const r = await post(d.port, sid, '4' + 'x'.repeat(3999));
		assert.ok(!r.aborted, `aborted (${r.error?.message})`);
		assert.equal(r.status, 413, `status (body ${r.body})`);
		assert.match(r.headers['content-type'] ?? '', /^text\/plain/);
		assert.equal(r.body, 'Payload Too Large');
		// Just under the limit is fine on a fresh session.
		const s2 = await pollingSession(d.port);
		const ok = await post(d.port, s2.sid,
		    '42["echo","' + 'y'.repeat(1900) + '"]');
		assert.equal(ok.status, 200);
		assert.equal(ok.body, 'ok');
		// The echo ends with its offset (connection state recovery).
		await pollUntil(d.port, s2.sid, (p) => new RegExp('^2\\["echo","' +
		    'y'.repeat(1900) + '","[1-9][0-9]*"\\]$').test(p));
	}));

	it('invalid packet in a POST closes the session', withLogs(async () => {
		const { sid } = await pollingSession(d.port);
		assertError(await post(d.port, sid, 'abc'), 400, ERR.bad,
		    'POST abc');
		// The session is gone.
		assertError(await poll(d.port, sid), 400, ERR.sid,
		    'GET after bad POST');
	}));

	it('websocket message over max-payload -> close 1009',
	    withLogs(async () => {
		const c = await wsSession(d.port);
		raws.push(c);
		c.send('42["echo","' + 'z'.repeat(3000) + '"]');
		const { code } = await c.closed;
		assert.equal(code, 1009);
	}));

	for (const [name, frames] of [
		['unknown Socket.IO type "4abc"', ['4abc']],
		['payload not an array 42{}', ['42{}']],
		['garbage before the payload 42abc["x"]', ['42abc["x"]']],
		['text frame while an attachment is expected',
		    ['451-["x"]', '42["y"]']],
		['binary event with a bad attachment count',
		    ['45x-["x",{"_placeholder":true,"num":0}]']],
		['placeholder out of range', ['451-["x",{"_placeholder":true,' +
		    '"num":5}]', Buffer.from([1, 2])]],
		['reserved event name "connect"', ['42["connect"]']],
		['reserved event name "disconnect" with ack',
		    ['421["disconnect"]']],
		['event name not a string', ['42[{"a":1}]']],
		['empty event array', ['42[]']],
		['second CONNECT for "/"', ['40']],
		['Engine.IO ping from the client', ['2']],
		['unknown Engine.IO type', ['9']],
		['truncated JSON', ['42["echo"']],
	]) {
		it(`websocket closed on ${name}`, withLogs(async () => {
			const c = await wsSession(d.port);
			raws.push(c);
			for (const f of frames)
				c.send(f);
			assert.ok(await closesWithin(c, 3000),
			    `connection still open after ${JSON.stringify(
			    frames.map(String))}`);
		}));
	}

	it('CONNECT to an unknown namespace -> CONNECT_ERROR, stays open',
	    withLogs(async () => {
		const c = wsOpen(d.port);
		raws.push(c);
		await c.opened;
		const o = await c.next();
		assert.match(o.text, /^0\{/);
		assert.deepEqual(JSON.parse(o.text.slice(1)).upgrades, []);
		c.send('40/nope,');
		assert.equal((await c.nextText()).text,
		    '44/nope,{"message":"Invalid namespace"}');
		c.send('40/nope,{"token":"x"}');
		assert.equal((await c.nextText()).text,
		    '44/nope,{"message":"Invalid namespace"}');
		c.send('40');
		assert.match((await c.nextText()).text,
		    /^40\{"sid":"[^"]+","pid":"[^"]+"\}$/);
		c.send('421["echo",1,"a"]');
		assert.equal((await c.nextText()).text, '431[1,"a"]');
	}));

	it('the same session is still fine after a valid exchange',
	    withLogs(async () => {
		const c = await wsSession(d.port);
		raws.push(c);
		c.send('4212["echo",{"k":[true,null]}]');
		assert.equal((await c.nextText()).text,
		    '4312[{"k":[true,null]}]');
		assert.equal(await closesWithin(c, 300), false);
	}));

	it('no worker died; a fresh client works', withLogs(async () => {
		assert.equal(d.proc.exitCode, null);
		assert.deepEqual(d.workerPids(), pidsBefore, 'same worker pids');
		assert.ok(!d.stderrLines().some((l) =>
		    /worker.*(exited|killed|respawn)/i.test(l)),
		    'no worker exit logged');
		for (const tr of [TRANSPORTS.websocket, TRANSPORTS.polling]) {
			const s = await connect(d.url, tr);
			sockets.push(s);
			assert.deepEqual(await askAll(s, 'echo', 'alive'),
			    ['alive']);
		}
	}));
});

describe('origin checks (cors-origin http://allowed.example)', () => {
	let pidsBefore;
	const raws = [];
	const d = useDaemon({ workers: 1,
	    extraConf: ['cors-origin http://allowed.example'], teardown: () => {
		for (const c of raws)
			c.close();
	} });

	before(() => {
		pidsBefore = d.workerPids();
	});

	it('websocket with a disallowed Origin is refused', withLogs(async () => {
		const c = wsOpen(d.port, { origin: 'http://evil.example' });
		raws.push(c);
		let opened = false;
		try {
			await c.opened;
			opened = true;
		} catch (e) {
			if (e.status !== undefined)
				assert.ok(e.status >= 400, `status ${e.status}`);
		}
		assert.equal(opened, false, 'got a 101 for a disallowed Origin');
	}));

	it('websocket without Origin and with the allowed one succeed',
	    withLogs(async () => {
		for (const origin of [undefined, 'http://allowed.example']) {
			const c = await wsSession(d.port, { origin });
			raws.push(c);
			c.send('421["echo","o"]');
			assert.equal((await c.nextText()).text, '431["o"]');
		}
	}));

	it('polling answers carry the allowed origin', withLogs(async () => {
		const h = await handshake(d.port,
		    { headers: { origin: 'http://allowed.example' } });
		assert.equal(h.headers['access-control-allow-origin'],
		    'http://allowed.example');
		const r = await post(d.port, h.sid, '40',
		    { headers: { origin: 'http://allowed.example' } });
		assert.equal(r.status, 200);
		assert.equal(r.headers['access-control-allow-origin'],
		    'http://allowed.example');
		const bad = await request(d.port, { query: eioQuery(null),
		    headers: { origin: 'http://evil.example' } });
		assert.ok(!bad.aborted);
		const acao = bad.headers['access-control-allow-origin'];
		assert.ok(acao !== 'http://evil.example' && acao !== '*',
		    `disallowed origin got allow-origin ${acao}`);
	}));

	it('no worker died', () => {
		assert.equal(d.proc.exitCode, null);
		assert.deepEqual(d.workerPids(), pidsBefore);
	});
});

describe('upgrade probes that time out (upgrade-timeout 300ms)', () => {
	let pidsBefore;
	const raws = [];
	const d = useDaemon({ workers: 1, extraConf: ['upgrade-timeout 300ms'],
	    teardown: () => {
		for (const c of raws)
			c.close();
	} });

	before(() => {
		pidsBefore = d.workerPids();
	});

	// The timed-out probe is killed asynchronously; a session freed
	// meanwhile (the client closes over polling) must not be touched
	// when the probe finally closes.
	it('probe times out, client closes over polling: no crash',
	    withLogs(async () => {
		for (let i = 0; i < 8; i++) {
			const { sid } = await pollingSession(d.port);
			const c = wsOpen(d.port, { sid });
			raws.push(c);
			await c.opened;
			await sleep(320 + 10 * i);
			const r = await post(d.port, sid, '1');
			assert.ok(r.aborted || r.status === 200 ||
			    r.status === 400, `POST 1: ${r.status}`);
			assert.ok(await closesWithin(c, 3000),
			    'timed-out probe still open');
		}
		await sleep(200);
		assert.equal(d.proc.exitCode, null);
		assert.deepEqual(d.workerPids(), pidsBefore, 'same worker pids');
		assert.ok(!d.stderrLines().some((l) =>
		    /worker.*(exited|killed|respawn)|AddressSanitizer/i.test(l)),
		    'no worker exit logged');
		const { sid } = await pollingSession(d.port);
		assert.ok(sid);
	}));
});

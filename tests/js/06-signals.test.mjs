// Process model: SIGHUP reload, worker crash and respawn, SIGTERM, -t.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startDaemon, runConfabd, buildConf, freePort, sleep, withLogs,
    childPids } from './lib/daemon.mjs';
import { handshake, post, pollUntil } from './lib/raw.mjs';
import { client, connect, connected, ask, askAll, once, until, closeAll,
    TRANSPORTS } from './lib/client.mjs';

function escapeRe(s) {
	return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

const MIXED = [TRANSPORTS.websocket, TRANSPORTS.polling, TRANSPORTS.default];

describe('signals on a running daemon', () => {
	let d, goodConf;
	const sockets = [];

	before(async () => {
		d = await startDaemon({ workers: 2 });
		goodConf = await fsp.readFile(d.confPath, 'utf8');
		for (let i = 0; i < 10; i++)
			sockets.push(await connect(d.url, MIXED[i % 3]));
		// Let the default-transport clients finish their upgrade so
		// that the HUP check is not disturbed by it.
		await until(() => sockets.every((s, i) => i % 3 !== 2 ||
		    s.io.engine.transport.name === 'websocket'), 5000,
		    'default clients upgraded');
	});
	after(async () => {
		closeAll(sockets);
		if (d)
			await d.stop();
	});

	it('SIGHUP keeps every client connected and working',
	    withLogs(async () => {
		const pidsBefore = d.workerPids();
		d.signal('SIGHUP');
		await sleep(2000);
		assert.equal(d.proc.exitCode, null, 'master still running');
		sockets.forEach((s, i) => {
			assert.ok(s.connected, `client ${i} connected`);
			assert.deepEqual(s.events.disconnects, [],
			    `client ${i} not disconnected`);
		});
		const r = await Promise.all(sockets.map((s, i) =>
		    askAll(s, 'echo', 'after-hup', i)));
		r.forEach((x, i) => assert.deepEqual(x, ['after-hup', i]));
		const fresh = await connect(d.url, TRANSPORTS.polling);
		sockets.push(fresh);
		assert.deepEqual(await askAll(fresh, 'echo', 1), [1]);
		assert.deepEqual(d.workerPids(), pidsBefore,
		    'SIGHUP does not restart workers');
	}));

	it('SIGHUP with an invalid file logs file:line and keeps serving',
	    withLogs(async () => {
		const nlines = goodConf.split('\n').length;	// ends in \n
		await fsp.appendFile(d.confPath, 'bogus-directive 1\n');
		const mark = d.logMark();
		d.signal('SIGHUP');
		await d.waitForLog(new RegExp(`${escapeRe(d.confPath)}:` +
		    `${nlines}\\b`), 5000, mark);
		await sleep(200);
		assert.equal(d.proc.exitCode, null, 'master still running');
		const r = await Promise.all(sockets.map((s) =>
		    askAll(s, 'echo', 'still')));
		r.forEach((x) => assert.deepEqual(x, ['still']));
		const fresh = await connect(d.url, TRANSPORTS.websocket);
		sockets.push(fresh);
		assert.deepEqual(await askAll(fresh, 'echo', 2), [2]);
		sockets.forEach((s, i) => assert.deepEqual(s.events.disconnects,
		    [], `client ${i}`));
		await fsp.writeFile(d.confPath, goodConf);
	}));

	it('SIGKILL of a worker: its clients reconnect, the worker respawns',
	    withLogs(async (t) => {
		const who = await Promise.all(sockets.map((s) => ask(s, 'whoami')));
		const count = new Map();
		for (const w of who)
			count.set(w.pid, (count.get(w.pid) || 0) + 1);
		const [victim] = [...count.entries()]
		    .sort((a, b) => b[1] - a[1])[0];
		const onVictim = sockets.filter((_, i) => who[i].pid === victim);
		const others = sockets.filter((_, i) => who[i].pid !== victim);
		const slot = who.find((w) => w.pid === victim).worker;
		t.diagnostic(`killing worker ${slot} pid ${victim} with ` +
		    `${onVictim.length} clients; ${others.length} elsewhere`);
		const mark = d.logMark();
		const reconnected = onVictim.map((s) =>
		    once(s, 'connect', 15000));
		process.kill(victim, 'SIGKILL');

		await d.waitForLog(
		    /worker.*(exited|killed).*respawn|respawn/i, 5000, mark);
		await d.waitForLog(new RegExp(`worker=${slot} event=ready `), 10000,
		    mark);
		await Promise.all(reconnected);
		for (const s of onVictim) {
			assert.ok(s.events.disconnects.length >= 1,
			    'client on the killed worker saw a disconnect');
			assert.notEqual(s.events.disconnects[0].reason,
			    'io server disconnect');
			await connected(s, 5000);
			const w = await ask(s, 'whoami');
			assert.notEqual(w.pid, victim);
			assert.doesNotThrow(() => process.kill(w.pid, 0),
			    `worker pid ${w.pid} alive`);
			assert.deepEqual(await askAll(s, 'echo', 'back'),
			    ['back']);
		}
		// WebSocket clients of the other worker keep their
		// connection.  A polling client of the other worker may lose
		// one request that the victim had accepted before handing it
		// over (then it reconnects); it must work in the end.
		for (const s of others) {
			if (who[sockets.indexOf(s)].transport === 'websocket') {
				assert.deepEqual(s.events.disconnects, [],
				    'websocket clients of the other worker ' +
				    'stay connected');
			} else if (s.events.disconnects.length) {
				t.diagnostic('a polling client of the other ' +
				    'worker reconnected: ' +
				    s.events.disconnects.map((x) => x.reason));
			}
			await connected(s, 5000);
			assert.deepEqual(await askAll(s, 'echo', 'ok'), ['ok']);
		}
		assert.equal(d.workerPids().length >= 2, true,
		    'two workers again');
		assert.ok(!d.workerPids().includes(victim));
	}));
});

describe('SIGTERM', () => {
	let d;
	const sockets = [];

	before(async () => {
		d = await startDaemon({ workers: 2 });
	});
	after(async () => {
		closeAll(sockets);
		if (d)
			await d.stop();
	});

	it('master exits 0 within 5 s; websocket clients see "transport close"',
	    withLogs(async () => {
		for (let i = 0; i < 4; i++) {
			sockets.push(await connect(d.url, {
			    ...TRANSPORTS.websocket, reconnection: false }));
		}
		// Polling clients too (one GET held by each), and a raw
		// polling session with no GET held: none may delay the exit.
		const polling = [];
		for (let i = 0; i < 2; i++) {
			polling.push(await connect(d.url, {
			    ...TRANSPORTS.polling, reconnection: false }));
		}
		sockets.push(...polling);
		const { sid } = await handshake(d.port);
		assert.equal((await post(d.port, sid, '40')).status, 200);
		await pollUntil(d.port, sid, (p) => p.startsWith('0{'));

		const reasons = sockets.slice(0, 4).map((s) =>
		    once(s, 'disconnect', 6000));
		const pollingGone = polling.map((s) =>
		    once(s, 'disconnect', 6000));
		const t0 = Date.now();
		d.signal('SIGTERM');
		let timer;
		const r = await Promise.race([d.exited, new Promise((res) => {
			timer = setTimeout(() => res(null), 5000);
		})]);
		clearTimeout(timer);
		assert.ok(r, 'master exited within 5 s');
		assert.deepEqual(r, { code: 0, signal: null });
		const got = await Promise.all(reasons);
		for (const [reason] of got)
			assert.equal(reason, 'transport close');
		await Promise.all(pollingGone);
		assert.ok(Date.now() - t0 < 5000);
		assert.deepEqual(childPids(d.pid), [], 'no worker left behind');
	}));
});

describe('configuration test mode (-t)', () => {
	let dir;

	before(async () => {
		dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'confabd-t-'));
	});
	after(async () => {
		if (dir)
			await fsp.rm(dir, { recursive: true, force: true });
	});

	it('a good file exits 0, a bad line exits 1 naming FILE:LINE',
	    withLogs(async () => {
		const file = path.join(dir, 'confabd.conf');
		const good = buildConf({ port: await freePort(), workers: 2,
		    dir });
		await fsp.writeFile(file, good);
		let r = await runConfabd(['-t', '-c', file]);
		assert.equal(r.code, 0, `good config: ${r.stdout}${r.stderr}`);

		const line = good.split('\n').length;	// the appended line
		await fsp.writeFile(file, good + 'bogus-directive 1\n');
		r = await runConfabd(['-t', '-c', file]);
		assert.equal(r.code, 1, `bad config exit code`);
		assert.match(r.stdout + r.stderr,
		    new RegExp(`${escapeRe(file)}:${line}\\b`));

		r = await runConfabd(['-t', '-c', path.join(dir, 'missing.conf')]);
		assert.equal(r.code, 1, 'missing file exit code');
	}));
});

describe('crash loop', () => {
	let d;

	before(async () => {
		d = await startDaemon({ workers: 2 });
	});
	after(async () => {
		if (d)
			await d.stop();
	});

	// The pid of the newest "worker=0 event=ready pid=N" line after since.
	async function slot0(since) {
		const line = await d.waitForLog(/worker=0 event=ready pid=\d+/, 10000,
		    since);
		return Number(/pid=(\d+)/.exec(line)[1]);
	}

	it('a slot killed 5 times in a row is left down; the other serves',
	    withLogs(async () => {
		let since = 0;
		for (let i = 0; i < 5; i++) {
			const pid = await slot0(since);
			since = d.logMark();
			process.kill(pid, 'SIGKILL');
			if (i < 4)
				await d.waitForLog(/worker 0 .*killed by signal 9; respawning/,
				    5000, since);
		}
		await d.waitForLog(/crash loop.*slot 0 is no longer respawned/, 5000,
		    since);
		const after = d.logMark();
		await sleep(1500);
		assert.ok(!d.stderrLines().slice(after).some((l) =>
		    /worker=0 event=ready /.test(l)), 'slot 0 stays down');
		assert.equal(d.proc.exitCode, null, 'the master keeps running');
		// Worker 1 still serves.
		const s = await connect(d.url, TRANSPORTS.websocket);
		const w = await ask(s, 'whoami');
		assert.equal(w.worker, 1);
		s.close();
	}));
});

// Reload under load: 200 WebSocket clients in 10 channels send messages
// with acks while SIGHUP applies hot changes (JWT key rotation, a role's
// permissions, the log level): nobody is disconnected and every acked
// message reaches every member.  Then a cold change (workers 2 -> 3): the
// clients move to the new generation of workers, no acked message is lost
// and the port never refuses a connection.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import net from 'node:net';
import { startDaemon, buildConf, withLogs, sleep } from './lib/daemon.mjs';
import { client, connected, ask, until, closeAll,
    TRANSPORTS } from './lib/client.mjs';
import { openTab, record, ok, refused, uniq } from './lib/chat.mjs';
import { SECRET, OTHER_SECRET, mint } from './lib/token.mjs';
import { member, rejoined, startTraffic, stopAllTraffic, undelivered,
    assertInHistory } from './lib/load.mjs';

const NCLIENTS = 200;
const NCHANNELS = 10;
const NEW_SECRET = 'rotated-confabd-secret-0123456789-abcdefgh';
const ADMIN = { userId: '1', displayName: 'Admin', role: 'admin' };

// The configuration of each step; every later step keeps the earlier
// changes.
function extraConf({ rotated = false, cut = false, dropped = false } = {}) {
	return [
		`jwt-secret ${rotated ? NEW_SECRET : SECRET}`,
		...(rotated && !dropped ? [`jwt-secret-previous ${SECRET}`] : []),
		'role tester chat.access chat.send_messages' +
		    (cut ? '' : ' chat.create_channels'),
		'rate-limit 1000 1',
		'shutdown-timeout 5s',
		// NCLIENTS of one address reconnect at once at a hand-over,
		// each unauthenticated until its CONNECT is answered.
		'max-unauthenticated-per-ip 0',
	];
}

function confText(d, { workers = 2, level = 'info', ...rest } = {}) {
	return buildConf({ port: d.port, workers, dir: d.dir, logLevel: level,
	    extraConf: extraConf(rest) });
}

function tester(i) {
	return { userId: String(1000 + i), displayName: `Tester ${i}`,
	    role: 'tester' };
}

// Connect to 127.0.0.1:port over and over until stopped; counts refusals.
function startConnectPoller(port) {
	const p = { on: true, ok: 0, refused: 0, errors: [] };
	p.done = (async () => {
		while (p.on) {
			await new Promise((resolve) => {
				const c = net.connect(port, '127.0.0.1');
				c.on('connect', () => {
					p.ok++;
					c.destroy();
					resolve();
				});
				c.on('error', (e) => {
					if (e.code === 'ECONNREFUSED')
						p.refused++;
					else
						p.errors.push(e.code);
					resolve();
				});
			});
			await sleep(5);
		}
	})();
	return p;
}

describe('reload under load (200 clients, 2 workers)', () => {
	let d, admin, poller;
	const sockets = [];
	const channels = [];
	const extra = [];

	before(async () => {
		d = await startDaemon({ workers: 2, readyTimeoutMs: 20000,
		    extraConf: extraConf() });
		admin = member(d, ADMIN, null);
		admin.i = 'admin';
		await connected(admin, 10000);
		for (let i = 0; i < NCHANNELS; i++) {
			const a = await ok(admin, 'channel:create',
			    { name: uniq('load') });
			channels.push(a.channel.id);
		}
		for (let i = 0; i < NCLIENTS; i += 20) {
			const batch = [];
			for (let j = i; j < i + 20; j++) {
				const s = member(d, tester(j),
				    channels[j % NCHANNELS]);
				s.i = j;
				sockets.push(s);
				batch.push(s);
			}
			await until(() => batch.every(rejoined), 20000,
			    'clients connected and joined', 20);
		}
	});
	after(async () => {
		stopAllTraffic();
		if (poller)
			poller.on = false;
		closeAll([...sockets, ...extra, admin].filter(Boolean));
		if (d)
			await d.stop();
	});

	it('hot reloads: no disconnect, every message to every member, new ' +
	    'keys and permissions in force', withLogs(async (t) => {
		const pids = d.workerPids();
		const who = await Promise.all(sockets.map((s) =>
		    ask(s, 'whoami')));
		// One live socket on each worker, to check the permissions.
		const probes = pids.map((pid) =>
		    sockets[who.findIndex((w) => w.pid === pid)]);
		assert.ok(probes.every(Boolean), 'clients on both workers');
		for (const p of probes)
			await ok(p, 'channel:create', { name: uniq('before') });

		const traffic = startTraffic(sockets);
		await sleep(1500);

		// 1. Key rotation: the old secret stays as the previous one.
		let mark = d.logMark();
		await fsp.writeFile(d.confPath, confText(d, { rotated: true }));
		d.signal('SIGHUP');
		await d.waitForLog(/worker=master event=message msg="reload: jwt-secret changed/, 5000,
		    mark);
		await d.waitForLog(/worker=master event=message msg="reload: jwt-secret-previous changed/,
		    5000, mark);
		await until(() => d.stderrLines().slice(mark).filter((l) =>
		    /worker=\d+ event=message msg="configuration reloaded/.test(l)).length >= 2,
		    10000, 'both workers reloaded', 20);
		assert.ok(!d.stderrLines().slice(mark).some((l) =>
		    l.includes(NEW_SECRET) || l.includes(SECRET)),
		    'no secret in the log');
		const tabs = [];
		for (const pid of pids)
			tabs.push(await openTab(d, { on: pid }));
		extra.push(...tabs);
		for (const [k, tab] of tabs.entries()) {
			const u = { userId: String(5000 + k), displayName: 'N',
			    role: 'tester' };
			for (const secret of [NEW_SECRET, SECRET]) {
				const a = await ask(tab, 'authenticate',
				    mint(u, { secret }));
				assert.equal(a?.ok, true, `token signed with the ` +
				    `${secret === SECRET ? 'previous' : 'new'} ` +
				    `secret on worker ${tab.who.worker}: ` +
				    JSON.stringify(a));
			}
		}
		const stranger = await openTab(d, {});
		extra.push(stranger);
		const bad = await ask(stranger, 'authenticate',
		    mint(tester(7000), { secret: OTHER_SECRET }));
		assert.equal(bad?.ok, false, 'a third secret is refused');

		// 2. A role loses a permission: refused on live sockets.
		await sleep(1000);
		mark = d.logMark();
		await fsp.writeFile(d.confPath, confText(d, { rotated: true,
		    cut: true }));
		d.signal('SIGHUP');
		await d.waitForLog(/worker=master event=message msg="reload: role .*tester chat\.access chat\.send_messages chat\.create_channels.* -> /,
		    5000, mark);
		await until(() => d.stderrLines().slice(mark).filter((l) =>
		    /worker=\d+ event=message msg="configuration reloaded/.test(l)).length >= 2,
		    10000, 'both workers reloaded', 20);
		for (const p of probes) {
			await refused(record(p), 'channel:create',
			    [{ name: uniq('after') }], 'forbidden',
			    'permission removed by the reload');
		}

		// 3. The previous secret removed: only the new one is accepted.
		await sleep(1000);
		mark = d.logMark();
		await fsp.writeFile(d.confPath, confText(d, { rotated: true,
		    cut: true, dropped: true }));
		d.signal('SIGHUP');
		await d.waitForLog(/worker=master event=message msg="reload: jwt-secret-previous changed/,
		    5000, mark);
		await until(() => d.stderrLines().slice(mark).filter((l) =>
		    /worker=\d+ event=message msg="configuration reloaded/.test(l)).length >= 2,
		    10000, 'both workers reloaded', 20);
		for (const pid of pids) {
			const tab = await openTab(d, { on: pid });
			extra.push(tab);
			const u = tester(6000);
			const old = await ask(tab, 'authenticate', mint(u));
			assert.equal(old?.ok, false, 'the removed secret is refused');
			await ok(tab, 'authenticate', mint(u, { secret: NEW_SECRET }));
		}

		// 4. The log level.
		await sleep(1000);
		mark = d.logMark();
		await fsp.writeFile(d.confPath, confText(d, { rotated: true,
		    cut: true, dropped: true, level: 'warn' }));
		d.signal('SIGHUP');
		await d.waitForLog(/worker=master event=message msg="reload: log-level info -> warn/, 5000,
		    mark);
		await sleep(1500);
		await traffic.stop();

		t.diagnostic(`${traffic.acked.length} messages acked during ` +
		    'the hot reloads');
		assert.ok(traffic.acked.length >= NCLIENTS,
		    'every client sent messages');
		assert.deepEqual(traffic.refusals, [], 'no message refused');
		sockets.forEach((s) => assert.deepEqual(s.events.disconnects,
		    [], `client ${s.i} was disconnected`));
		assert.deepEqual(await undelivered(sockets, traffic.acked), [],
		    'every acked message reached every member');
		await assertInHistory(admin, channels, traffic.acked);
		assert.deepEqual(d.workerPids(), pids, 'the same workers');
	}));

	it('workers 2 -> 3: a new generation takes over without a refused ' +
	    'connection or a lost message', withLogs(async (t) => {
		const oldPids = d.workerPids();
		const traffic = startTraffic(sockets);
		poller = startConnectPoller(d.port);
		await sleep(1500);
		const mark = d.logMark();
		await fsp.writeFile(d.confPath, confText(d, { workers: 3,
		    rotated: true, cut: true }));
		d.signal('SIGHUP');
		await d.waitForLog(/worker=master event=message msg="reload: workers 2 -> 3/, 5000, mark);
		await d.waitForLog(/worker=master event=message msg="reload: log-level warn -> info/, 5000,
		    mark);
		await d.waitForLog(/worker=master event=message msg="generation 2 serves with 3 workers/,
		    20000, mark);
		await d.waitForLog(/worker=master event=message msg="generation 1 has exited/, 20000, mark);
		await until(() => sockets.every(rejoined) && rejoined(admin),
		    30000, 'every client back and joined', 50);
		const backAt = Date.now();
		await sleep(2000);
		await traffic.stop();
		poller.on = false;
		await poller.done;

		t.diagnostic(`${traffic.acked.length} messages acked; ` +
		    `${poller.ok} connects during the switch`);
		assert.equal(poller.refused, 0, 'no refused connection');
		assert.deepEqual(poller.errors, [], 'no connect error');
		assert.ok(poller.ok > 0);
		const pids = d.workerPids();
		assert.equal(pids.length, 3, 'three workers');
		assert.ok(pids.every((p) => !oldPids.includes(p)),
		    'all new processes');
		const who = await Promise.all(sockets.map((s) =>
		    ask(s, 'whoami')));
		for (const w of who) {
			assert.equal(w.workers, 3);
			assert.equal(w.generation, 2);
			assert.ok(pids.includes(w.pid), `served by ${w.pid}`);
		}
		// The moved clients went through a disconnect; none was
		// refused by the server.
		for (const s of sockets) {
			for (const x of s.events.disconnects)
				assert.notEqual(x.reason, 'io server disconnect');
		}
		assert.deepEqual(traffic.refusals, [], 'no message refused');
		await assertInHistory(admin, channels, traffic.acked);
		// Once everyone is back, the new workers relay to each other.
		assert.deepEqual(await undelivered(sockets, traffic.acked,
		    backAt), [], 'messages after the switch reach every member');
	}));
});

describe('reload of listen', () => {
	let d, blocker;
	const sockets = [];

	before(async () => {
		d = await startDaemon({ workers: 2, extraConf: extraConf() });
	});
	after(async () => {
		closeAll(sockets);
		if (blocker)
			blocker.close();
		if (d)
			await d.stop();
	});

	const refusedAt = (port) => new Promise((resolve) => {
		const c = net.connect(port, '127.0.0.1');
		c.on('connect', () => {
			c.destroy();
			resolve(false);
		});
		c.on('error', (e) => resolve(e.code === 'ECONNREFUSED'));
	});

	it('an address in use: the reload fails and nothing changes',
	    withLogs(async () => {
		blocker = net.createServer();
		await new Promise((r) => blocker.listen(0, '127.0.0.1', r));
		const busy = blocker.address().port;
		const pids = d.workerPids();
		const s = await openTab(d, {});
		sockets.push(s);
		const mark = d.logMark();
		await fsp.writeFile(d.confPath, confText(d, {}) +
		    `listen 127.0.0.1:${busy}\npidfile ${d.dir}/x.pid\n`);
		d.signal('SIGHUP');
		await d.waitForLog(/worker=master event=message msg="reload: listen \S+ -> \S+ \S+ \(new workers\)/,
		    5000, mark);
		await d.waitForLog(/worker=master event=message msg="reload: pidfile \(unset\) -> \S+x\.pid \(takes effect at the next restart\)/,
		    5000, mark);
		await d.waitForLog(/worker=master event=message msg="listen 127\.0\.0\.1:\d+: bind: Address already in use/,
		    5000, mark);
		await d.waitForLog(/worker=master event=message msg="reload failed, keeping the running configuration/,
		    5000, mark);
		assert.deepEqual(d.workerPids(), pids, 'the same workers');
		assert.equal((await ask(s, 'whoami')).generation, 1);
		assert.deepEqual(s.events.disconnects, []);
		await fsp.writeFile(d.confPath, confText(d, {}));
	}));

	it('a new port: served by the new workers; the old one closes once ' +
	    'they took over', withLogs(async () => {
		const old = await openTab(d, { opts: { reconnection: false } });
		sockets.push(old);
		const other = await new Promise((resolve) => {
			const srv = net.createServer();
			srv.listen(0, '127.0.0.1', () => {
				const { port } = srv.address();
				srv.close(() => resolve(port));
			});
		});
		const mark = d.logMark();
		const text = confText(d, {}).replace(`listen 127.0.0.1:${d.port}`,
		    `listen 127.0.0.1:${other}`);
		await fsp.writeFile(d.confPath, text);
		d.signal('SIGHUP');
		await d.waitForLog(new RegExp(`worker=master event=message msg="reload: listen ` +
		    `127\\.0\\.0\\.1:${d.port} -> 127\\.0\\.0\\.1:${other}`), 5000,
		    mark);
		await d.waitForLog(/worker=master event=message msg="generation \d+ has exited/, 20000, mark);
		await d.waitForLog(new RegExp('worker=master event=message msg="no longer listening on ' +
		    `127\\.0\\.0\\.1:${d.port}`), 5000, mark);
		assert.ok(await refusedAt(d.port), 'the old port is closed');
		assert.ok(old.events.disconnects.length === 1,
		    'the old client was handed over');
		const s = await openTab({ ...d, url: `http://127.0.0.1:${other}` },
		    {});
		sockets.push(s);
		const w = await ask(s, 'whoami');
		assert.equal(w.workers, 2);
		assert.ok(w.generation >= 2);
	}));
});

describe('a call across a cold reload', () => {
	let d;
	const sockets = [];

	before(async () => {
		d = await startDaemon({ workers: 2, extraConf: extraConf() });
	});
	after(async () => {
		closeAll(sockets);
		if (d)
			await d.stop();
	});

	it('ends when its tabs are handed over (they come back as new ' +
	    'sockets); polling clients move too', withLogs(async () => {
		const A = { userId: '801', displayName: 'Caller', role: 'user' };
		const B = { userId: '802', displayName: 'Callee', role: 'user' };
		const a = record(member(d, A, null));
		const b = record(member(d, B, null));
		const polling = [TRANSPORTS.polling, TRANSPORTS.default,
		    TRANSPORTS.polling].map((o) => client(d.url, o));
		sockets.push(a, b, ...polling);
		await connected(a);
		await connected(b);
		for (const p of polling)
			await connected(p);
		const offer = { type: 'offer', sdp: 'v=0\r\n' };
		const { callId } = await ok(a, 'call:invite',
		    { targetUserId: 802, callType: 'audio', offer });
		await until(() => b.rec.some((r) => r.event === 'call:incoming'),
		    5000, 'call:incoming');
		await ok(b, 'call:accept', { callId,
		    answer: { type: 'answer', sdp: 'v=0\r\n' } });
		const mark = d.logMark();
		await fsp.writeFile(d.confPath, confText(d, { workers: 3 }));
		d.signal('SIGHUP');
		await d.waitForLog(/worker=master event=message msg="generation 1 has exited/, 20000, mark);
		await until(() => rejoined(a) && rejoined(b) &&
		    a.events.connects === 2 && b.events.connects === 2, 10000,
		    'both back');
		for (const p of polling) {
			await until(() => p.connected && p.events.connects === 2,
			    10000, 'polling client back');
			assert.equal((await ask(p, 'whoami')).generation, 2);
		}
		const h = await ok(a, 'call:history', {});
		const row = h.calls.find((c) => c.id === callId);
		assert.equal(row?.status, 'ended', JSON.stringify(row));
	}));
});

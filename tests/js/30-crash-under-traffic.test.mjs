// Crashes and stops under traffic.  Workers SIGKILLed again and again while
// 40 clients send messages: every message acked to its sender is stored,
// the typing state and the call of a killed tab end, presence converges.
// SIGTERM during traffic: exit 0 within shutdown-timeout, a consistent
// database holding every acked message.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startDaemon, withLogs, sleep } from './lib/daemon.mjs';
import { connected, until, closeAll } from './lib/client.mjs';
import { CHAT_CONF, openTab, ok, waitFor, auth, onlineUsers,
    uniq } from './lib/chat.mjs';
import { mint } from './lib/token.mjs';
import { member, rejoined, startTraffic, stopAllTraffic,
    assertInHistory } from './lib/load.mjs';

const NCLIENTS = 40;
const NCHANNELS = 4;
const ADMIN = { userId: '1', displayName: 'Admin', role: 'admin' };
const OFFER = { type: 'offer', sdp: 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n' };
const ANSWER = { type: 'answer', sdp: 'v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\n' };

function user(n) {
	return { userId: String(n), displayName: `User ${n}`, role: 'user',
	    id: n };
}

// The admin and NCLIENTS members spread over NCHANNELS new channels.
async function crowd(d, sockets, channels, opts = {}) {
	const admin = member(d, ADMIN, null, opts);
	admin.i = 'admin';
	sockets.push(admin);
	await connected(admin, 10000);
	for (let i = 0; i < NCHANNELS; i++) {
		channels.push((await ok(admin, 'channel:create',
		    { name: uniq('crash') })).channel.id);
	}
	const members = [];
	for (let i = 0; i < NCLIENTS; i++) {
		const s = member(d, user(100 + i), channels[i % NCHANNELS], opts);
		s.i = i;
		members.push(s);
		sockets.push(s);
	}
	await until(() => members.every(rejoined), 20000, 'members joined', 20);
	return { admin, members };
}

// Run python3 with the sqlite3 module on the database file.
function sqlite(file, code) {
	return new Promise((resolve, reject) => {
		execFile('python3', ['-c', `import sqlite3, sys, json
db = sqlite3.connect(sys.argv[1])
${code}`, file], (err, stdout, stderr) => {
			if (err)
				reject(new Error(`python3: ${err.message}\n${stderr}`));
			else
				resolve(JSON.parse(stdout));
		});
	});
}

describe('repeated SIGKILL of workers under traffic', () => {
	let d;
	const sockets = [];
	const channels = [];

	before(async () => {
		d = await startDaemon({ workers: 2, extraConf: [...CHAT_CONF,
		    'rate-limit 1000 1', 'cleanup-interval 1s',
		    'typing-timeout 1h', 'call-disconnect-grace 1s'] });
	});
	after(async () => {
		stopAllTraffic();
		closeAll(sockets);
		if (d)
			await d.stop();
	});

	it('acked messages stored, typing and call of a killed tab end, ' +
	    'presence converges', withLogs(async (t) => {
		const { admin, members } = await crowd(d, sockets, channels);
		const [pidA, pidB] = d.workerPids();
		// Tabs that do not come back: a typist and a caller on the
		// worker killed first, their peers on the other one.
		const typist = await openTab(d, { on: pidA, label: 'typist' });
		const caller = await openTab(d, { on: pidA, label: 'caller' });
		const watcher = await openTab(d, { notOn: [pidA],
		    label: 'watcher' });
		const callee = await openTab(d, { notOn: [pidA],
		    label: 'callee' });
		sockets.push(typist, caller, watcher, callee);
		const T = user(900), C = user(901), W = user(902), E = user(903);
		await auth(typist, mint(T));
		await auth(caller, mint(C));
		await auth(watcher, mint(W));
		await auth(callee, mint(E));
		await ok(typist, 'join_channel', channels[0]);
		await ok(watcher, 'join_channel', channels[0]);
		await ok(typist, 'chat:typing', { channelId: channels[0],
		    isTyping: true });
		await waitFor(watcher, 'chat:user_typing', (x) =>
		    x.userId === T.id && x.isTyping === true);
		const { callId } = await ok(caller, 'call:invite',
		    { targetUserId: E.id, callType: 'audio', offer: OFFER });
		await waitFor(callee, 'call:incoming', (x) => x.callId === callId);
		await ok(callee, 'call:accept', { callId, answer: ANSWER });
		await waitFor(caller, 'call:accepted');

		const traffic = startTraffic(members);
		await sleep(1500);
		// Three kills: the first worker, the second (which had the
		// watcher and the callee), the first again.
		for (let k = 0; k < 3; k++) {
			const victim = [pidA, pidB, d.workerPids()[0]][k];
			const mark = d.logMark();
			process.kill(victim, 'SIGKILL');
			const line = await d.waitForLog(
			    /worker (\d+) \(pid \d+\) killed by signal 9; respawning/,
			    5000, mark);
			const slot = /worker (\d+)/.exec(line)[1];
			await d.waitForLog(new RegExp(`worker=${slot} event=ready`),
			    10000, mark);
			if (k === 0) {
				assert.deepEqual(await waitFor(watcher,
				    'chat:user_typing', (x) => x.userId === T.id &&
				    x.isTyping === false, 10000), { userId: T.id,
				    userDisplayName: T.displayName, isTyping: false,
				    channelId: channels[0] });
				await waitFor(watcher, 'user_left', (x) =>
				    x.userId === T.id, 10000);
				assert.deepEqual(await waitFor(callee, 'call:ended',
				    (x) => x.callId === callId, 10000),
				    { callId, reason: 'disconnect' });
			}
			await until(() => members.every(rejoined) &&
			    rejoined(admin), 20000, 'clients back', 20);
			await sleep(1000);
		}
		await traffic.stop();
		t.diagnostic(`${traffic.acked.length} messages acked across ` +
		    '3 kills');
		assert.ok(traffic.acked.length >= NCLIENTS);
		assert.deepEqual(traffic.refusals, []);
		await assertInHistory(admin, channels, traffic.acked);

		// Presence: exactly the users with a connected socket.
		const want = [1, ...members.map((s) => 100 + s.i)]
		    .sort((a, b) => a - b);
		let have;
		await until(async () => {
			have = (await onlineUsers(admin)).map((u) => u.userId)
			    .sort((a, b) => a - b);
			return JSON.stringify(have) === JSON.stringify(want);
		}, 10000, 'presence converged', 200).catch(() => {});
		assert.deepEqual(have, want, 'online users');
	}));
});

describe('SIGTERM under traffic (shutdown-timeout 3s)', () => {
	let d;
	const sockets = [];
	const channels = [];

	before(async () => {
		d = await startDaemon({ workers: 2,
		    extraConf: [...CHAT_CONF, 'rate-limit 1000 1',
		    'shutdown-timeout 3s'] });
	});
	after(async () => {
		stopAllTraffic();
		closeAll(sockets);
		if (d)
			await d.stop();
	});

	it('exit 0 within shutdown-timeout; the database is consistent and ' +
	    'holds every acked message', withLogs(async (t) => {
		const { members } = await crowd(d, sockets, channels,
		    { reconnection: false });
		const traffic = startTraffic(members);
		await sleep(2000);
		const t0 = Date.now();
		d.signal('SIGTERM');
		const r = await d.exited;
		const ms = Date.now() - t0;
		await traffic.stop();
		t.diagnostic(`exit after ${ms} ms; ${traffic.acked.length} ` +
		    'messages acked');
		assert.deepEqual(r, { code: 0, signal: null });
		assert.ok(ms < 3000, `exited after ${ms} ms`);
		assert.ok(traffic.acked.length > 0);

		const db = path.join(d.dir, 'confab.db');
		const wal = `${db}-wal`;
		assert.ok(!fs.existsSync(wal) || fs.statSync(wal).size === 0,
		    'write-ahead log checkpointed');
		const check = await sqlite(db, `print(json.dumps({
    'integrity': db.execute('PRAGMA integrity_check').fetchall(),
    'ids': [r[0] for r in db.execute('SELECT id FROM messages')]}))`);
		assert.deepEqual(check.integrity, [['ok']]);
		const stored = new Set(check.ids);
		const lost = traffic.acked.filter((m) => !stored.has(m.id));
		assert.deepEqual(lost, [], 'acked messages missing');
	}));
});

describe('fast stop (shutdown-timeout 60s, a worker that does not answer)',
    () => {
	let d;

	after(async () => {
		if (d)
			await d.stop();
	});

	// Stop one worker (SIGSTOP): a graceful stop would wait for it
	// until shutdown-timeout; a fast stop kills it after a second.
	for (const [what, signals] of [['a second SIGTERM',
	    ['SIGTERM', 'SIGTERM']], ['SIGQUIT', ['SIGQUIT']]]) {
		it(`${what} stops at once`, withLogs(async () => {
			if (d)
				await d.stop();
			d = await startDaemon({ workers: 2,
			    extraConf: ['shutdown-timeout 60s'] });
			const [stuck] = d.workerPids();
			process.kill(stuck, 'SIGSTOP');
			const t0 = Date.now();
			for (const sig of signals) {
				const mark = d.logMark();
				d.signal(sig);
				await d.waitForLog(/worker=master event=message msg=".* stop requested/,
				    5000, mark);
			}
			await d.waitForLog(/worker=master event=message msg="fast stop requested/, 5000);
			const r = await d.exited;
			const ms = Date.now() - t0;
			assert.deepEqual(r, { code: 0, signal: null });
			assert.ok(ms < 10000, `exited after ${ms} ms`);
		}));
	}
});

// Logs: every line is logfmt (ts level worker event key=value...), no line
// carries a token or a secret, and log-file is reopened on SIGUSR1 by the
// master and every worker (log rotation).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { useDaemon, startDaemon, withLogs } from './lib/daemon.mjs';
import { closeAll, ask, until } from './lib/client.mjs';
import { CHAT_CONF, tabsOnWorkers, auth, ok, refused, createChannel,
    send } from './lib/chat.mjs';
import { SECRET, mint, sign } from './lib/token.mjs';
import { ctl } from './lib/ctl.mjs';

const LINE = /^ts=(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z) level=(error|warn|info|debug) worker=(master|\d+) event=([a-z_]+)((?: [a-zA-Z_]+=(?:"(?:[^"\\]|\\.)*"|[^\s"]+))*)$/;
const PAIR = / ([a-zA-Z_]+)=("(?:[^"\\]|\\.)*"|[^\s"]+)/g;

// One logfmt line into {ts, level, worker, event, kv}; asserts the shape.
function parseLine(line) {
	const m = LINE.exec(line);
	assert.ok(m, `not a logfmt line: ${JSON.stringify(line)}`);
	const kv = {};
	for (const p of m[5].matchAll(PAIR)) {
		kv[p[1]] = p[2].startsWith('"') ?
		    p[2].slice(1, -1).replace(/\\(.)/g, '$1') : p[2];
	}
	assert.ok(Number.isFinite(Date.parse(m[1])), m[1]);
	return { ts: m[1], level: m[2], worker: m[3], event: m[4], kv };
}

describe('logfmt and secrets', () => {
	let logFile;
	const sockets = [];
	const secrets = [SECRET];

	before(() => {
		logFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(),
		    'confabd-logs-')), 'confabd.log');
	});
	const d = useDaemon({ workers: 2, logLevel: 'debug',
	    extraConf: () => [...CHAT_CONF, `log-file ${logFile}`,
	    'turn-secret turn-secret-value-0123456789'],
	    tailFile: () => logFile, sockets });
	before(() => {
		secrets.push('turn-secret-value-0123456789');
	});
	after(() => {
		fs.rmSync(path.dirname(logFile), { recursive: true,
		    force: true });
	});

	it('every line is logfmt and no token or secret is logged',
	    withLogs(async () => {
		const [a, b] = await tabsOnWorkers(d, 2);
		sockets.push(a, b);
		const ta = mint({ userId: 11, displayName: 'Log A',
		    role: 'admin' });
		const tb = mint({ userId: 12, displayName: 'Log "B" =x',
		    role: 'user' });
		secrets.push(ta, tb);
		await auth(a, ta);
		await auth(b, tb);
		// Refused tokens too: a bad signature, an expired one.
		const bad = sign({ userId: 13 }, 'x'.repeat(40));
		const expired = mint({ userId: 14, exp: 1000 });
		secrets.push(bad, expired);
		for (const t of [bad, expired]) {
			const s = (await tabsOnWorkers(d, 1))[0];
			sockets.push(s);
			const r = await ask(s, 'authenticate', t);
			assert.equal(r.ok, false);
		}
		const ch = await createChannel(a);
		await ok(b, 'join_channel', ch.id);
		await send(a, ch.id, 'a message for the log test');
		await refused(a, 'chat:send_message', [{ channelId: ch.id,
		    message: '' }], 'invalid_payload');
		const r = await ctl(['-c', d.confPath, 'token', '99', 'Minted']);
		assert.equal(r.code, 0, r.stderr);
		secrets.push(r.stdout.trim());
		await ctl(['-c', d.confPath, 'broadcast', 'log test broadcast']);
		await until(() => fs.readFileSync(logFile, 'utf8')
		    .includes('control: broadcast'), 5000, 'broadcast logged');

		const text = fs.readFileSync(logFile, 'utf8');
		const lines = text.split('\n').filter((l) => l !== '');
		assert.ok(lines.length > 10, `${lines.length} lines`);
		const parsed = lines.map(parseLine);
		const workers = new Set(parsed.map((p) => p.worker));
		for (const w of ['master', '0', '1'])
			assert.ok(workers.has(w), `lines from ${w}`);
		const started = parsed.find((p) => p.event === 'started');
		assert.equal(started.worker, 'master');
		assert.equal(started.kv.workers, '2');
		assert.equal(Number(started.kv.pid), d.pid);
		const ready = parsed.filter((p) => p.event === 'ready');
		assert.deepEqual(ready.map((p) => Number(p.kv.pid)).sort(),
		    d.workerPids().sort());
		assert.ok(parsed.some((p) => p.level === 'debug'));
		for (const s of secrets) {
			assert.ok(s.length >= 20);
			assert.equal(text.includes(s), false,
			    `a secret or token is in the log: ${s.slice(0, 12)}...`);
			// Nor any of its JWT parts (the signature, the claims).
			for (const part of s.split('.').filter((x) =>
			    x.length >= 16))
				assert.equal(text.includes(part), false,
				    'a token part is in the log');
		}
		// stderr stays empty: the log file replaces it.
		assert.deepEqual(d.stderrLines().filter((l) =>
		    !lines.includes(l)), []);
	}));

	it('a rejected secret in a reloaded file is not echoed in the log',
	    withLogs(async () => {
		const bad = 'too-short-secret-7x';	/* < 32 bytes */
		const conf = fs.readFileSync(d.confPath, 'utf8');
		fs.writeFileSync(d.confPath, `${conf}jwt-secret-previous ${bad}\n`);
		const since = d.logMark();
		d.signal('SIGHUP');
		const line = await d.waitForLog(/reload failed/, 5000, since);
		assert.match(line, /jwt-secret-previous/);
		assert.match(line, /\(hidden\)/);
		await until(() => fs.readFileSync(logFile, 'utf8')
		    .includes('reload failed'), 5000, 'in the file');
		assert.equal(fs.readFileSync(logFile, 'utf8').includes(bad),
		    false);
		fs.writeFileSync(d.confPath, conf);
	}));
});

describe('SIGUSR1 reopens the log file', () => {
	let dir, logFile;
	const sockets = [];

	before(() => {
		dir = fs.mkdtempSync(path.join(os.tmpdir(), 'confabd-rot-'));
		logFile = path.join(dir, 'confabd.log');
	});
	const d = useDaemon({ workers: 2, logLevel: 'debug',
	    extraConf: () => [`log-file ${logFile}`],
	    tailFile: () => logFile, sockets });
	after(() => {
		fs.rmSync(dir, { recursive: true, force: true });
	});

	it('after a rename and SIGUSR1 the master and both workers write ' +
	    'the new file', withLogs(async () => {
		const rotated = `${logFile}.1`;
		fs.renameSync(logFile, rotated);
		const pids = d.workerPids();
		d.signal('SIGUSR1');
		await until(() => fs.existsSync(logFile) &&
		    /worker=master event=log_reopened/.test(fs.readFileSync(
		    logFile, 'utf8')), 5000, 'the master reopened');
		// Work on each worker makes it log (debug: sessions, events).
		let text = '';
		await until(async () => {
			const tabs = await tabsOnWorkers(d, 2);
			sockets.push(...tabs);
			for (const t of tabs)
				await ask(t, 'whoami');
			closeAll(tabs);
			text = fs.readFileSync(logFile, 'utf8');
			return /worker=0 /.test(text) && /worker=1 /.test(text);
		}, 5000, 'both workers write the new file');
		for (const l of text.split('\n').filter((x) => x !== ''))
			parseLine(l);
		const old = fs.readFileSync(rotated, 'utf8');
		assert.match(old, /event=ready/);
		assert.doesNotMatch(old, /event=log_reopened/);
		assert.equal(fs.statSync(logFile).mode & 0o777, 0o640);
		assert.deepEqual(d.workerPids(), pids, 'SIGUSR1 kills no worker');
	}));

	it('an unwritable log-file is refused at start with a clear error',
	    withLogs(async () => {
		await assert.rejects(startDaemon({ workers: 1,
		    extraConf: ['log-file /nonexistent-dir/confabd.log'],
		    readyTimeoutMs: 5000 }),
		    /log-file \/nonexistent-dir\/confabd.log: No such file/);
	}));
});

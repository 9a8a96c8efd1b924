// The `user` directive: the master starts as root and binds, the workers
// switch to the user after fork (setgid/initgroups/setuid) and keep using
// the data directory, the database and the control socket the master gave
// them.  Run as root, the whole path is checked; run as another user, the
// refusal (the master must start as root) is.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startDaemon, runConfabd, withLogs } from './lib/daemon.mjs';
import { closeAll, until } from './lib/client.mjs';
import { CHAT_CONF, tabsOnWorkers, auth, createChannel, send,
    ok } from './lib/chat.mjs';
import { mint } from './lib/token.mjs';
import { ctlJson } from './lib/ctl.mjs';

const ROOT = process.getuid() === 0;
const NOBODY = Number(execFileSync('id', ['-u', 'nobody']).toString());
const NOBODY_GID = Number(execFileSync('id', ['-g', 'nobody']).toString());

// [real, effective, saved, fs] uids and gids of a process.
function ids(pid) {
	const st = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
	const get = (k) => new RegExp(`^${k}:\\s+(.*)$`, 'm').exec(st)[1]
	    .trim().split(/\s+/).map(Number);
	return { uid: get('Uid'), gid: get('Gid'), groups: get('Groups') };
}

describe('user directive', () => {
	let d, dir;
	const sockets = [];

	before(async () => {
		dir = fs.mkdtempSync(path.join(os.tmpdir(), 'confabd-user-'));
		fs.chmodSync(dir, 0o755);	/* nobody must reach data-dir */
		if (ROOT) {
			d = await startDaemon({ workers: 2, dir,
			    extraConf: [...CHAT_CONF, 'user nobody'] });
		}
	});
	after(async () => {
		closeAll(sockets);
		if (d)
			await d.stop();
		fs.rmSync(dir, { recursive: true, force: true });
	});

	it('an unknown user is a configuration error', withLogs(async () => {
		const conf = path.join(dir, 'bad.conf');
		fs.writeFileSync(conf, 'user no-such-user-here\n');
		const r = await runConfabd(['-t', '-c', conf]);
		assert.equal(r.code, 1);
		assert.match(r.stderr, /bad\.conf: user no-such-user-here: no such user/);
	}));

	it(ROOT ? 'workers run as nobody; the master stays root' :
	    'without root, user is refused at start', withLogs(async () => {
		if (!ROOT) {
			await assert.rejects(startDaemon({ workers: 1,
			    dir: path.join(dir, 'nr'),
			    extraConf: ['user nobody'] }),
			    /must start as root/);
			return;
		}
		assert.deepEqual(ids(d.pid).uid, [0, 0, 0, 0]);
		const pids = d.workerPids();
		assert.equal(pids.length, 2);
		for (const pid of pids) {
			const x = ids(pid);
			assert.deepEqual(x.uid, [NOBODY, NOBODY, NOBODY, NOBODY],
			    `uids of worker ${pid}`);
			assert.deepEqual(x.gid, [NOBODY_GID, NOBODY_GID,
			    NOBODY_GID, NOBODY_GID], `gids of worker ${pid}`);
			assert.ok(!x.groups.includes(0), 'no root group');
		}
		for (const f of ['', 'confab.db', 'confabd.sock']) {
			const st = fs.lstatSync(path.join(dir, f));
			assert.equal(st.uid, NOBODY, `owner of ${f || dir}`);
		}
		assert.equal(fs.lstatSync(path.join(dir, 'confabd.sock')).mode &
		    0o777, 0o600);
	}));

	it(ROOT ? 'workers as nobody store, relay and answer confabctl' :
	    'without root, no worker ever starts', withLogs(async () => {
		if (!ROOT) {
			assert.equal(d, undefined);
			return;
		}
		const [a, b] = await tabsOnWorkers(d, 2);
		sockets.push(a, b);
		await auth(a, mint({ userId: 1, displayName: 'Root Less',
		    role: 'admin' }));
		await auth(b, mint({ userId: 2, displayName: 'Other',
		    role: 'user' }));
		const ch = await createChannel(a);
		await ok(b, 'join_channel', ch.id);
		const m = await send(a, ch.id, 'written by nobody');
		assert.equal(m.message, 'written by nobody');
		const st = await ctlJson(d, 'stats');
		assert.equal(st.code, 0, st.stderr);
		assert.equal(st.reply.workers.length, 2);
		// A respawned worker drops privileges too.
		const [victim] = d.workerPids();
		const since = d.logMark();
		process.kill(victim, 'SIGKILL');
		await d.waitForLog(/worker=\d+ event=ready /, 10000, since);
		await until(() => d.workerPids().length === 2 &&
		    !d.workerPids().includes(victim), 5000, 'respawned');
		for (const pid of d.workerPids())
			assert.equal(ids(pid).uid[0], NOBODY);
	}));
});

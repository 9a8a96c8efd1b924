// A throwaway PostgreSQL for the tests: initdb in a temporary directory,
// the server listening only on a unix socket in that directory (the port
// is a free one; it only names the socket), fsync off.  initdb refuses to
// run as root, so when the tests run as root the server programs run as
// the `postgres` system user (the Debian package creates it).
//
//     const pg = await startPostgres();   // {url, dir, stop()}
//     ... `database ${pg.url}` ...
//     await pg.stop();
//
// pg.halt() stops the server and keeps its data; pg.start() starts it
// again on the same socket.
// pg.url is a libpq URI for the database "postgres" as the superuser
// "postgres", with trust authentication.  A server still running when the
// test process exits is killed by the exit hook.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { freePort } from './daemon.mjs';

const VERBOSE = process.env.CF_TEST_VERBOSE === '1';
const live = new Set();

process.on('exit', () => {
	for (const s of live) {
		try {
			s.proc.kill('SIGKILL');
		} catch {
			// already gone
		}
		try {
			fs.rmSync(s.dir, { recursive: true, force: true });
		} catch {
			// best effort
		}
	}
});

// The newest /usr/lib/postgresql/<version>/bin, or null.
export function postgresBin() {
	const base = '/usr/lib/postgresql';
	let versions;
	try {
		versions = fs.readdirSync(base).filter((v) =>
		    fs.existsSync(path.join(base, v, 'bin', 'postgres')));
	} catch {
		return null;
	}
	versions.sort((a, b) => Number(a) - Number(b));
	return versions.length ? path.join(base, versions.at(-1), 'bin') : null;
}

// {uid, gid} the server runs as: ours, or postgres's when we are root.
function serverUser() {
	if (process.getuid() !== 0)
		return { uid: process.getuid(), gid: process.getgid() };
	const line = fs.readFileSync('/etc/passwd', 'utf8').split('\n')
	    .find((l) => l.startsWith('postgres:'));
	if (!line) {
		throw new Error('no "postgres" user: install the postgresql ' +
		    'package (scripts/deps.sh test)');
	}
	const f = line.split(':');
	return { uid: Number(f[2]), gid: Number(f[3]) };
}

export async function startPostgres({ readyTimeoutMs = 30000 } = {}) {
	const bin = postgresBin();
	if (!bin) {
		throw new Error('PostgreSQL is not installed: install the ' +
		    'postgresql package (scripts/deps.sh test); the PostgreSQL ' +
		    'tests cannot run without it');
	}
	const { uid, gid } = serverUser();
	const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'confabd-pg-'));
	const state = { dir, proc: { kill() {} } };
	live.add(state);
	await fsp.chown(dir, uid, gid);
	const data = path.join(dir, 'data');
	const port = await freePort();
	const lines = [];

	const init = spawnSync(path.join(bin, 'initdb'), ['-D', data,
	    '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C',
	    '--no-sync'], { uid, gid, cwd: dir, encoding: 'utf8' });
	if (init.status !== 0) {
		live.delete(state);
		await fsp.rm(dir, { recursive: true, force: true });
		throw new Error(`initdb failed (${init.status}):\n` +
		    `${init.stdout}${init.stderr}${init.error ?? ''}`);
	}
	let proc = null;
	let exited = null;

	// Start the server on the same data and port; throws when it does
	// not become ready.
	async function start() {
		const p = spawn(path.join(bin, 'postgres'), ['-D', data, '-k',
		    dir, '-p', String(port), '-c', 'listen_addresses=', '-c',
		    'fsync=off', '-c', 'synchronous_commit=off', '-c',
		    'full_page_writes=off'],
		    { uid, gid, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
		proc = p;
		state.proc = p;
		exited = new Promise((resolve) => p.once('exit', resolve));
		let ready;
		const readyP = new Promise((resolve) => {
			ready = resolve;
		});
		for (const stream of [p.stdout, p.stderr]) {
			readline.createInterface({ input: stream }).on('line',
			    (l) => {
				lines.push(l);
				if (VERBOSE) {
					process.stderr.write(
					    `[postgres:${port}] ${l}\n`);
				}
				if (/ready to accept connections/.test(l))
					ready(true);
			});
		}
		let timer;
		const ok = await Promise.race([readyP, exited.then(() => false),
		    new Promise((resolve) => {
			timer = setTimeout(() => resolve(false), readyTimeoutMs);
		})]);
		clearTimeout(timer);
		if (!ok) {
			await halt();
			throw new Error(`postgres did not start:\n` +
			    lines.join('\n'));
		}
	}

	// Stop the server (fast shutdown: sessions are ended); data stays.
	async function halt() {
		if (proc && proc.exitCode === null && proc.signalCode === null) {
			proc.kill('SIGINT');
			await exited;
		}
		proc = null;
	}

	async function stop() {
		await halt();
		live.delete(state);
		await fsp.rm(dir, { recursive: true, force: true });
	}

	try {
		await start();
	} catch (e) {
		await stop();
		throw e;
	}
	return {
		url: `postgresql:///postgres?host=${dir}&port=${port}` +
		    '&user=postgres',
		dir,
		port,
		lines: () => lines.slice(),
		halt,
		start,
		stop,
	};
}

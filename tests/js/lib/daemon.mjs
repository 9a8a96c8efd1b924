// Test harness: start confabd (and redis-server) on free ports in temporary
// directories, collect their logs, and make sure nothing outlives the test
// process.
//
// The binary is $CONFABD, or <repo>/src/confabd.  <repo> is three levels up
// from this file (tests/js/lib -> tests/js -> tests -> repo).
// CF_TEST_VERBOSE=1 echoes every daemon log line as it arrives; otherwise
// the logs of the live daemons are printed when a test wrapped with
// withLogs() fails, or when a daemon fails to become ready.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { before, after, afterEach } from 'node:test';
import { closeAll } from './client.mjs';
import { mint } from './token.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(HERE, '..', '..', '..');
export const CONFABD = process.env.CONFABD ||
    path.join(REPO_ROOT, 'src', 'confabd');
export const REDIS_SERVER = process.env.REDIS_SERVER ||
    '/usr/bin/redis-server';
const VERBOSE = process.env.CF_TEST_VERBOSE === '1';

// Everything started and not yet stopped: killed by the 'exit' hook.
const liveProcs = new Set();
const liveDirs = new Set();
const liveDaemons = new Set();

process.on('exit', () => {
	for (const d of liveDaemons) {
		for (const k of d.workerPids())
			killIfSame({ pid: k, cmd: cmdline(k) });
	}
	for (const p of liveProcs) {
		try {
			p.kill('SIGKILL');
		} catch {
			// already gone
		}
	}
	for (const d of liveDirs) {
		try {
			fs.rmSync(d, { recursive: true, force: true });
		} catch {
			// best effort
		}
	}
});
for (const sig of ['SIGINT', 'SIGTERM']) {
	process.on(sig, () => process.exit(130));
}

export function sleep(ms) {
	return new Promise((r) => setTimeout(r, ms));
}

// A TCP port that was free a moment ago on 127.0.0.1.
export function freePort() {
	return new Promise((resolve, reject) => {
		const srv = net.createServer();
		srv.unref();
		srv.on('error', reject);
		srv.listen(0, '127.0.0.1', () => {
			const { port } = srv.address();
			srv.close(() => resolve(port));
		});
	});
}

// Wait for the child to exit; resolves {code, signal}, at once if it has.
function exitPromise(proc) {
	if (proc.exitCode !== null || proc.signalCode !== null) {
		return Promise.resolve({ code: proc.exitCode,
		    signal: proc.signalCode });
	}
	return new Promise((resolve) => {
		proc.once('exit', (code, signal) => resolve({ code, signal }));
	});
}

function withTimeout(promise, ms) {
	let timer;
	return Promise.race([
		promise,
		new Promise((resolve) => {
			timer = setTimeout(() => resolve(null), ms);
		}),
	]).finally(() => clearTimeout(timer));
}

// SIGTERM, wait up to graceMs, then SIGKILL.  Resolves {code, signal}.
async function terminate(proc, graceMs = 5000) {
	const done = exitPromise(proc);
	if (proc.exitCode === null && proc.signalCode === null)
		proc.kill('SIGTERM');
	let r = await withTimeout(done, graceMs);
	if (r === null) {
		proc.kill('SIGKILL');
		r = await done;
		r.forced = true;
	}
	return r;
}

// Collects lines from a child's stdout and stderr; lets callers wait for a
// line matching a regex.
class LineLog {
	constructor(name) {
		this.name = name;
		this.lines = [];
		this.waiters = new Set();
	}

	attach(stream, tag) {
		const rl = readline.createInterface({ input: stream });
		rl.on('line', (line) => this.push(tag ? `${tag}${line}` : line));
	}

	push(line) {
		this.lines.push(line);
		if (VERBOSE)
			process.stderr.write(`[${this.name}] ${line}\n`);
		for (const w of [...this.waiters])
			w(line, this.lines.length - 1);
	}

	// Resolves the first line at index >= since that matches re.
	wait(re, timeoutMs, since = 0, onFail) {
		for (let i = since; i < this.lines.length; i++) {
			if (re.test(this.lines[i]))
				return Promise.resolve(this.lines[i]);
		}
		return new Promise((resolve, reject) => {
			const w = (line, idx) => {
				if (idx >= since && re.test(line)) {
					cleanup();
					resolve(line);
				}
			};
			const timer = setTimeout(() => {
				cleanup();
				reject(new Error(`${this.name}: no log line ` +
				    `matching ${re} within ${timeoutMs} ms` +
				    (onFail ? onFail() : '') + '\n--- log ---\n' +
				    this.lines.join('\n')));
			}, timeoutMs);
			const cleanup = () => {
				clearTimeout(timer);
				this.waiters.delete(w);
			};
			this.waiters.add(w);
		});
	}
}

// Build the configuration text.  A cors-origin line in extraConf replaces
// the default "cors-origin *".  The tests start from a database without
// channels (`default-channel ""`) unless extraConf has a default-channel
// line.
export function buildConf({ port, workers, dir, redisUrl, extraConf = [],
    logLevel = 'info' }) {
	const lines = [
		`listen 127.0.0.1:${port}`,
		`workers ${workers}`,
		`data-dir ${dir}`,
		'debug-events yes',
	];
	if (!extraConf.some((l) => /^\s*cors-origin\b/.test(l)))
		lines.push('cors-origin *');
	if (!extraConf.some((l) => /^\s*default-channel\b/.test(l)))
		lines.push('default-channel ""');
	lines.push(`log-level ${logLevel}`);
	if (redisUrl)
		lines.push(`redis ${redisUrl}`);
	lines.push(...extraConf);
	return lines.join('\n') + '\n';
}

function cmdline(pid) {
	try {
		return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
	} catch {
		return null;
	}
}

// SIGKILL {pid, cmd} unless it is gone or the pid now runs something else.
function killIfSame({ pid, cmd }) {
	if (cmd === null || cmdline(pid) !== cmd)
		return;
	try {
		process.kill(pid, 'SIGKILL');
	} catch {
		// gone meanwhile
	}
}

// PIDs of the direct children of `pid` (Linux /proc).
export function childPids(pid) {
	const out = [];
	for (const ent of fs.readdirSync('/proc')) {
		if (!/^\d+$/.test(ent))
			continue;
		let stat;
		try {
			stat = fs.readFileSync(`/proc/${ent}/stat`, 'utf8');
		} catch {
			continue;
		}
		// pid (comm) state ppid ...; comm may hold spaces or ')'.
		const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
		if (Number(rest[1]) === pid)
			out.push(Number(ent));
	}
	return out.sort((a, b) => a - b);
}

/*
 * Push the lines appended to `file` into log until `until` resolves, every
 * 20 ms, following the path: a new inode or a shorter file is read from its
 * start.  A last read after `until` picks up the final lines.
 */
function tail(file, log, until) {
	let ino = null, off = 0, rest = '', done = false;
	const read = () => {
		let st;
		try {
			st = fs.statSync(file);
		} catch {
			return;
		}
		if (st.ino !== ino || st.size < off) {
			ino = st.ino;
			off = 0;
			rest = '';
		}
		if (st.size <= off)
			return;
		const fd = fs.openSync(file, 'r');
		try {
			const buf = Buffer.alloc(st.size - off);
			const n = fs.readSync(fd, buf, 0, buf.length, off);
			off += n;
			rest += buf.subarray(0, n).toString('utf8');
		} finally {
			fs.closeSync(fd);
		}
		let i;
		while ((i = rest.indexOf('\n')) >= 0) {
			log.push(rest.slice(0, i));
			rest = rest.slice(i + 1);
		}
	};
	const timer = setInterval(read, 20);
	timer.unref();
	until.then(() => {
		if (!done) {
			done = true;
			clearInterval(timer);
			read();
		}
	});
}

/*
 * Start confabd in the foreground.  Resolves once `workers` lines matching
 * /worker=\d+ event=ready / were logged (rejects after readyTimeoutMs with the
 * collected log, or as soon as the daemon exits).
 *
 * The data directory is a new temporary one, removed by stop(); with
 * keepDir, stop() leaves it (it is still removed when the test process
 * exits), so that a later daemon can be started on it with `dir`.  A `dir`
 * given is used as it is and never removed by the harness.
 *
 * With tailFile (the daemon's log-file, set through extraConf), the lines
 * appended to that path are collected as if from stderr; the tail follows
 * the path, so a rotated file is read from its start.
 *
 * `wrap` (e.g. ['prlimit', '--nofile=64:64']) is a command that execs
 * confabd with its arguments appended; the pid stays confabd's.
 */
export async function startDaemon({ workers = 2, redisUrl, extraConf = [],
    env = {}, logLevel = 'info', readyTimeoutMs = 10000, port, dir,
    keepDir = false, tailFile, wrap = [] } = {}) {
	if (!fs.existsSync(CONFABD)) {
		throw new Error(`confabd binary not found at ${CONFABD} ` +
		    '(build it, or set CONFABD=/path/to/confabd)');
	}
	port = port || await freePort();
	const ownDir = !dir;
	if (ownDir) {
		dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'confabd-test-'));
		liveDirs.add(dir);
	} else {
		await fsp.mkdir(dir, { recursive: true });
	}
	const confPath = path.join(dir, 'confabd.conf');
	await fsp.writeFile(confPath, buildConf({ port, workers, dir, redisUrl,
	    extraConf, logLevel }));
	// The locator file confabctl reads goes to the test's own directory,
	// so test daemons never replace the one of a daemon the user runs.
	const argv = [...wrap.slice(1), CONFABD, '-f', '-c', confPath];
	const proc = spawn(wrap.length ? wrap[0] : CONFABD,
	    wrap.length ? argv : argv.slice(1), {
		cwd: dir,
		env: { ...process.env, XDG_RUNTIME_DIR: dir, ...env },
		stdio: ['ignore', 'pipe', 'pipe'],
	});
	liveProcs.add(proc);
	const log = new LineLog(`confabd:${port}`);
	log.attach(proc.stderr, '');
	log.attach(proc.stdout, 'stdout: ');
	const exited = exitPromise(proc);
	if (tailFile)
		tail(tailFile, log, exited);
	let exitInfo = null;
	exited.then((r) => {
		exitInfo = r;
		liveProcs.delete(proc);
	});
	proc.on('error', (e) => log.push(`spawn error: ${e.message}`));

	let stopped = false;
	const d = {
		port,
		url: `http://127.0.0.1:${port}`,
		dir,
		confPath,
		proc,
		pid: proc.pid,
		exited,
		stderrLines: () => log.lines.slice(),
		// Index to pass as `since` to only see later lines.
		logMark: () => log.lines.length,
		waitForLog: (re, timeoutMs = 5000, since = 0) =>
		    log.wait(re, timeoutMs, since),
		workerPids: () => childPids(proc.pid),
		signal: (sig) => proc.kill(sig),
		// Print the log (from line `since`) to stderr.
		dumpLog: (since = 0) => {
			const from = Math.min(since, log.lines.length);
			process.stderr.write(`--- confabd:${port} log` +
			    (from ? ` (from line ${from + 1})` : '') + ' ---\n' +
			    log.lines.slice(from).join('\n') + '\n--- end ---\n');
		},
		async stop() {
			if (stopped)
				return exitInfo;
			stopped = true;
			liveDaemons.delete(d);
			// Workers the master leaves behind (e.g. when it had to
			// be SIGKILLed) are killed too.
			const kids = d.workerPids().map((k) => ({ pid: k,
			    cmd: cmdline(k) }));
			const r = await terminate(proc, 5000);
			liveProcs.delete(proc);
			if (r.forced) {
				process.stderr.write(`confabd:${port}: no exit ` +
				    'within 5 s of SIGTERM; killed\n');
			}
			const deadline = Date.now() + 2000;
			while (kids.some((k) => cmdline(k.pid) === k.cmd &&
			    k.cmd !== null) && Date.now() < deadline)
				await sleep(50);
			kids.forEach(killIfSame);
			if (ownDir && !keepDir) {
				await fsp.rm(dir, { recursive: true, force: true });
				liveDirs.delete(dir);
			}
			return r;
		},
	};
	liveDaemons.add(d);

	// Ready: N "worker=K event=ready" lines (distinct slots), or failure.
	const ready = new Promise((resolve, reject) => {
		const slots = new Set();
		const check = (line) => {
			const m = /worker=(\d+) event=ready /.exec(line);
			if (m)
				slots.add(m[1]);
			if (slots.size >= workers) {
				log.waiters.delete(check);
				resolve();
			}
		};
		log.waiters.add(check);
		for (const l of log.lines)
			check(l);
		exited.then((r) => reject(new Error(`confabd exited ` +
		    `(code ${r.code}, signal ${r.signal}) before ` +
		    `${workers} workers were ready; log:\n` +
		    log.lines.join('\n'))));
		setTimeout(() => reject(new Error(`confabd: ${workers} workers ` +
		    `not ready within ${readyTimeoutMs} ms; log:\n` +
		    log.lines.join('\n'))), readyTimeoutMs).unref();
	});
	try {
		await ready;
	} catch (e) {
		await d.stop();
		throw e;
	}
	return d;
}

/*
 * The daemon of one describe(), as a fixture: registers there a before()
 * hook that starts it with startDaemon(opts) (a free port, a new temporary
 * data directory) and an after() hook that closes the client sockets of
 * `sockets`, runs `teardown`, and stops the daemon, removing the directory.
 * node:test runs hooks in the order they were registered: a before() the
 * caller registers after this call sees the daemon running, an after() sees
 * it stopped.
 *
 * opts are startDaemon's options (workers, extraConf, redisUrl, env, ...);
 * one given as a function is called in before() for its value, for a value
 * known only then (a Redis URL, a path made by an earlier hook).  Besides:
 *   sockets    an array of socket.io-client sockets the tests push to,
 *              closed by after() (default: a new array);
 *   closeEach  close them after each test as well;
 *   teardown   an async function after() runs once the sockets are closed
 *              and before the daemon stops (raw connections, browsers).
 *
 * Returns a handle that, from before() on, has the daemon's fields and
 * methods (url, port, dir, confPath, proc, workerPids(), signal(), stop(),
 * ...), and:
 *   sockets             the array above;
 *   token(claims, o)    a token for the chat tests' jwt-secret (mint()).
 */
export function useDaemon(opts = {}) {
	const { sockets = [], closeEach = false, teardown = null,
	    ...startOpts } = opts;
	const handle = {
		sockets,
		token: (claims, o) => mint(claims, o),
	};
	let daemon = null;

	before(async () => {
		const resolved = {};
		for (const [k, v] of Object.entries(startOpts))
			resolved[k] = typeof v === 'function' ? v() : v;
		daemon = await startDaemon(resolved);
		Object.assign(handle, daemon);
	});
	if (closeEach)
		afterEach(() => closeAll(sockets));
	after(async () => {
		closeAll(sockets);
		if (teardown)
			await teardown();
		if (daemon)
			await daemon.stop();
	});
	return handle;
}

// Run confabd once with the given arguments (e.g. -t -c FILE); resolves
// {code, signal, stdout, stderr}.
export function runConfabd(args, timeoutMs = 5000) {
	return new Promise((resolve, reject) => {
		const proc = spawn(CONFABD, args, {
			stdio: ['ignore', 'pipe', 'pipe'],
		});
		liveProcs.add(proc);
		let stdout = '', stderr = '';
		proc.stdout.on('data', (b) => { stdout += b; });
		proc.stderr.on('data', (b) => { stderr += b; });
		const timer = setTimeout(() => {
			proc.kill('SIGKILL');
			reject(new Error(`confabd ${args.join(' ')} did not ` +
			    `exit within ${timeoutMs} ms`));
		}, timeoutMs);
		proc.on('error', reject);
		proc.on('close', (code, signal) => {
			clearTimeout(timer);
			liveProcs.delete(proc);
			resolve({ code, signal, stdout, stderr });
		});
	});
}

// Print the logs of every daemon still running; `marks` (daemon -> line
// index) limits the output of those daemons to the lines after the mark.
export function dumpLiveLogs(marks = new Map()) {
	for (const d of liveDaemons)
		d.dumpLog(marks.get(d) ?? 0);
}

/*
 * Wrap a test function so that the daemon logs are printed when it fails:
 * for daemons already running when the test started, only the lines logged
 * during the test.
 */
export function withLogs(fn) {
	return async function (...args) {
		const marks = new Map();
		for (const d of liveDaemons)
			marks.set(d, d.logMark());
		try {
			return await fn.apply(this, args);
		} catch (e) {
			if (!VERBOSE)
				dumpLiveLogs(marks);
			throw e;
		}
	};
}

// Resolves when something accepts TCP connections on 127.0.0.1:port and
// answers a RESP PING with +PONG.
function redisPing(port) {
	return new Promise((resolve) => {
		const s = net.connect(port, '127.0.0.1');
		let buf = '';
		const done = (ok) => {
			s.destroy();
			resolve(ok);
		};
		s.setTimeout(1000, () => done(false));
		s.on('error', () => done(false));
		s.on('connect', () => s.write('PING\r\n'));
		s.on('data', (b) => {
			buf += b;
			if (buf.includes('\r\n'))
				done(buf.startsWith('+PONG'));
		});
	});
}

/*
 * Start a throwaway redis-server on a free port.  Returns
 * {port, url, stop(), restart(), lines()}; restart() stops it and starts a
 * new one on the same port.
 */
export async function startRedis({ readyTimeoutMs = 5000 } = {}) {
	if (!fs.existsSync(REDIS_SERVER)) {
		throw new Error(`${REDIS_SERVER} is missing: install the ` +
		    'redis-server package (apt-get install redis-server); ' +
		    'the Redis tests cannot run without it');
	}
	const port = await freePort();
	const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'confabd-redis-'));
	liveDirs.add(dir);
	const log = new LineLog(`redis:${port}`);
	let proc = null;

	async function start() {
		proc = spawn(REDIS_SERVER, ['--port', String(port),
		    '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
		    '--dir', dir], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
		liveProcs.add(proc);
		log.attach(proc.stdout, '');
		log.attach(proc.stderr, '');
		const p = proc;
		const deadline = Date.now() + readyTimeoutMs;
		for (;;) {
			if (p.exitCode !== null || p.signalCode !== null) {
				throw new Error(`redis-server exited early:\n` +
				    log.lines.join('\n'));
			}
			if (await redisPing(port))
				return;
			if (Date.now() > deadline) {
				throw new Error(`redis-server not answering on ` +
				    `${port}:\n${log.lines.join('\n')}`);
			}
			await sleep(50);
		}
	}

	async function stopProc() {
		if (!proc)
			return;
		const p = proc;
		proc = null;
		await terminate(p, 5000);
		liveProcs.delete(p);
	}

	await start();
	return {
		port,
		url: `redis://127.0.0.1:${port}`,
		lines: () => log.lines.slice(),
		async restart() {
			await stopProc();
			await start();
		},
		stopOnly: stopProc,
		start,
		async stop() {
			await stopProc();
			await fsp.rm(dir, { recursive: true, force: true });
			liveDirs.delete(dir);
		},
	};
}

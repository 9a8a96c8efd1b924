// The first hour of a new user (issue "First hour with confabd"):
//  - what the official Socket.IO v5 suite checks of connecting to and
//    leaving the main and a custom namespace, against tests/conformance-server;
//  - a daemon as the quickstart runs it (default-channel general): the
//    spec's Usage Examples exactly as written (URL and token substituted)
//    with a token from confabctl, and a Chromium page on another origin with
//    the client's default options (polling, then the upgrade);
//  - the quickstart's output: the second user's chat.mjs, run with node;
//  - confabctl from another directory, and its token's userId;
//  - presence:set_status's two events, the presence snapshot of a late
//    joiner, unknown roles explained, error events as doc/events.md says;
//  - debug event lines (no token, no body unless log-payloads), and the info
//    summary line.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import io from 'socket.io-client';
import { startDaemon, withLogs, freePort, sleep, CONFABD, REPO_ROOT }
    from './lib/daemon.mjs';
import { launchChromium, servePages } from './lib/browser.mjs';
import { closeAll, until, ask, client, connected } from './lib/client.mjs';
import { mint } from './lib/token.mjs';
import { CHAT_CONF, login, ok, waitFor, record } from './lib/chat.mjs';
import { CONFABCTL } from './lib/ctl.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CONFORMANCE = path.join(path.dirname(CONFABD), '..', 'tests',
    'conformance-server');
const ADMIN = { userId: '1', displayName: 'Admin', role: 'admin' };

const tmpDirs = [];
function tmpDir(prefix, under = os.tmpdir()) {
	const d = fs.mkdtempSync(path.join(under, prefix));
	tmpDirs.push(d);
	return d;
}
process.on('exit', () => {
	for (const d of tmpDirs)
		fs.rmSync(d, { recursive: true, force: true });
});

// Run a program; resolves {code, stdout, stderr}.
function run(file, args, opts = {}) {
	return new Promise((resolve) => {
		execFile(file, args, { timeout: 10000, ...opts },
		    (err, stdout, stderr) => resolve({ code: err ?
		    (err.code ?? 1) : 0, stdout, stderr }));
	});
}

function claimsOf(token) {
	return JSON.parse(Buffer.from(token.split('.')[1], 'base64url'));
}

/* ------------------------------------------------ conformance server */

// A raw Engine.IO WebSocket whose messages queue up for next().
function rawSocket(port) {
	const ws = new WebSocket(`ws://127.0.0.1:${port}/socket.io/` +
	    '?EIO=4&transport=websocket');
	const queue = [], waiters = [];
	ws.on('message', (data) => {
		const s = data.toString();
		if (waiters.length)
			waiters.shift()(s);
		else
			queue.push(s);
	});
	ws.next = (ms = 5000) => queue.length ? Promise.resolve(queue.shift()) :
	    new Promise((resolve, reject) => {
		const t = setTimeout(() => reject(new Error('no message ' +
		    `within ${ms} ms`)), ms);
		waiters.push((s) => {
			clearTimeout(t);
			resolve(s);
		});
	});
	ws.opened = new Promise((resolve, reject) => {
		ws.once('open', resolve);
		ws.once('error', reject);
	});
	return ws;
}

describe('Socket.IO namespaces as the official v5 suite checks them',
    () => {
	let proc, port;
	const sockets = [];

	before(async () => {
		assert.ok(fs.existsSync(CONFORMANCE), `${CONFORMANCE} is ` +
		    'missing: make builds it');
		port = await freePort();
		proc = spawn(CONFORMANCE, ['-p', String(port), '-w', '1'],
		    { stdio: ['ignore', 'ignore', 'pipe'] });
		await until(async () => {
			const ws = rawSocket(port);
			try {
				await ws.opened;
				return true;
			} catch {
				return false;
			} finally {
				ws.terminate();
			}
		}, 10000, 'conformance-server accepting', 100);
	});
	after(() => {
		for (const s of sockets)
			s.terminate();
		proc?.kill('SIGKILL');
	});

	async function open() {
		const ws = rawSocket(port);
		sockets.push(ws);
		assert.match(await ws.next(), /^0\{/, 'Engine.IO handshake');
		return ws;
	}

	it('CONNECT to the main namespace without a payload: the handshake, ' +
	    'then "auth" with {}', async () => {
		const ws = await open();
		ws.send('40');
		const hs = await ws.next();
		assert.match(hs, /^40\{/);
		assert.deepEqual(Object.keys(JSON.parse(hs.slice(2))), ['sid']);
		assert.equal(await ws.next(), '42["auth",{}]');
	});

	it('DISCONNECT from the main namespace: nothing but the next ping',
	    async () => {
		const ws = await open();
		ws.send('40');
		await ws.next();
		assert.equal(await ws.next(), '42["auth",{}]');
		ws.send('41');
		assert.equal(await ws.next(), '2');
		assert.equal(ws.readyState, WebSocket.OPEN);
	});

	it('CONNECT then DISCONNECT a custom namespace: the main one still ' +
	    'answers', async () => {
		const ws = await open();
		ws.send('40');
		await ws.next();
		await ws.next();
		assert.equal(await ws.next(), '2');	// ping
		ws.send('40/custom');
		assert.match(await ws.next(), /^40\/custom,\{"sid":/);
		assert.equal(await ws.next(), '42/custom,["auth",{}]');
		ws.send('41/custom');
		ws.send('42["message","message to main namespace"]');
		let m;
		do
			m = await ws.next();
		while (m === '2');
		assert.equal(m, '42["message-back","message to main namespace"]');
	});
});

/* ----------------------------------------------- quickstart daemon */

// The page on another origin: the spec's Basic Chat Connection with the
// client's default options; displayMessage and console.log collect.
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>first hour</title>
<script src="/socket.io.min.js"></script></head><body>
<script>
{
const q = new URLSearchParams(location.search);
const st = window.st = { displayed: [], logged: [], transports: [] };
const localStorage = { getItem: () => q.get('token') };
const displayMessage = (m) => st.displayed.push(m);
const console = { log: (...a) => st.logged.push(a) };

const socket = io(q.get('server'));

// Authenticate
socket.emit('authenticate', localStorage.getItem('jwt'));

socket.on('authenticated', (user) => {
  console.log('Connected as:', user.displayName);
  
  // Join a channel
  socket.emit('join_channel', 1);
});

// Listen for new messages
socket.on('chat:new_message', (message) => {
  displayMessage(message);
});

// Send a message
const sendMessage = (channelId, text) => {
  socket.emit('chat:send_message', {
    channelId,
    message: text,
    messageType: 'text'
  });
};
window.sendMessage = sendMessage;
socket.io.on('open', () => {
	st.transports.push(socket.io.engine.transport.name);
	socket.io.engine.on('upgrade', (t) => st.transports.push(t.name));
});
}
</script></body></html>`;

// The rows of doc/events.md's error event table: [event, [names...]].
function docErrorTable() {
	const doc = fs.readFileSync(path.join(REPO_ROOT, 'doc', 'events.md'),
	    'utf8');
	const rows = [];
	for (const line of doc.split('\n')) {
		const m = /^\s*\| `([a-z]+:error)` \| (.*) \|\s*$/.exec(line);
		if (m)
			rows.push([m[1], [...m[2].matchAll(/`([^`]+)`/g)]
			    .map((x) => x[1])]);
	}
	return rows;
}

function docErrorEventFor(event) {
	for (const [errev, names] of docErrorTable()) {
		if (names.some((n) => n === event || (n.endsWith(':*') &&
		    event.startsWith(n.slice(0, -1)))))
			return errev;
	}
	return null;
}

describe('the first hour with a quickstart-style daemon', () => {
	let d, srv, browser, xdg, admin;
	const sockets = [];

	before(async () => {
		srv = await servePages({ '/first.html': PAGE });
		xdg = tmpDir('cf-xdg-');
		d = await startDaemon({ workers: 2, env: { XDG_RUNTIME_DIR: xdg },
		    extraConf: [...CHAT_CONF, 'default-channel general',
		    `cors-origin http://127.0.0.1:${srv.address().port}`] });
		admin = await login(d, ADMIN);
		sockets.push(admin);
	});
	after(async () => {
		closeAll(sockets);
		if (browser)
			await browser.close().catch(() => {});
		if (srv)
			await new Promise((r) => srv.close(r));
		if (d)
			await d.stop();
	});

	it('a fresh database has the public channel 1 "general"; the log ' +
	    'says how to disable it', withLogs(async () => {
		const ack = await ok(admin, 'join_channel', 1);
		assert.equal(ack.channel.id, 1);
		assert.equal(ack.channel.name, 'general');
		assert.equal(ack.channel.isPrivate, false);
		await d.waitForLog(/created the public channel .*general.*id 1.*default-channel/);
	}));

	it('the spec\'s Usage Examples as written, with a token from ' +
	    'confabctl', withLogs(async () => {
		const r = await run(CONFABCTL, ['-j', '-c', d.confPath, 'token',
		    '5', 'Ada']);
		assert.equal(r.code, 0, r.stderr);
		const reply = JSON.parse(r.stdout);
		// The reply's userId is the token's.
		assert.strictEqual(reply.userId, 5);
		assert.strictEqual(claimsOf(reply.token).userId, 5);
		const TOKEN = reply.token;
		const displayed = [], logged = [], presences = [];
		const displayMessage = (m) => displayed.push(m);
		const updateUserPresence = (u, s) => presences.push([u, s]);
		const console = { log: (...a) => logged.push(a) };
		const localStorage = { getItem: (k) => k === 'jwt' ? TOKEN :
		    null };

		// ---- Basic Chat Connection, verbatim (URL changed) ----
		const socket = io(d.url);

		// Authenticate
		socket.emit('authenticate', localStorage.getItem('jwt'));

		socket.on('authenticated', (user) => {
		  console.log('Connected as:', user.displayName);
		  
		  // Join a channel
		  socket.emit('join_channel', 1);
		});

		// Listen for new messages
		socket.on('chat:new_message', (message) => {
		  displayMessage(message);
		});

		// Send a message
		const sendMessage = (channelId, text) => {
		  socket.emit('chat:send_message', {
		    channelId,
		    message: text,
		    messageType: 'text'
		  });
		};
		// ---- Presence Management, verbatim ----
		// Update status
		const updateStatus = (status, message = null) => {
		  socket.emit('update_presence', {
		    status,
		    statusMessage: message,
		    customStatus: 'Working on tickets'
		  });
		};

		// Listen for presence updates
		socket.on('presence_updated', (presence) => {
		  updateUserPresence(presence.userId, presence.status);
		});
		// ---- end of the examples ----
		sockets.push(socket);

		await until(() => logged.length > 0, 10000, 'authenticated');
		assert.deepEqual(logged, [['Connected as:', 'Ada']]);
		await waitFor(admin, 'user_joined', (p) => p.userId === 5 &&
		    p.channelId === 1, 10000);
		sendMessage(1, 'Hello, general');
		const mine = await until(() => displayed.find((m) =>
		    m.message === 'Hello, general'), 10000, 'own message');
		assert.equal(mine.userId, 5);
		assert.equal(mine.channelId, 1);
		await waitFor(admin, 'chat:new_message', (m) => m.id === mine.id);
		await ok(admin, 'chat:send_message', { channelId: 1,
		    message: 'Welcome, Ada', messageType: 'text' });
		await until(() => displayed.some((m) => m.message ===
		    'Welcome, Ada'), 10000, 'the admin\'s message');
		updateStatus('away', 'brb');
		await until(() => presences.some(([u, s]) => u === 5 &&
		    s === 'away'), 10000, 'own presence_updated');

		// The legacy presence:set_status: the spec's listener hears it.
		await ok(admin, 'presence:set_status', 'busy');
		await until(() => presences.some(([u, s]) => u === 1 &&
		    s === 'busy'), 10000, 'presence_updated for set_status');
		const upd = await waitFor(admin, 'presence:update', (p) =>
		    p.userId === 1 && p.status === 'busy');
		assert.equal(upd.connectionCount, 1);
	}));

	it('a late joiner gets presence:snapshot right after authenticated',
	    withLogs(async () => {
		const late = await login(d, { userId: '7', displayName: 'Late',
		    role: 'user' });
		sockets.push(late);
		const snap = await waitFor(late, 'presence:snapshot');
		const names = late.rec.map((r) => r.event);
		assert.ok(names.indexOf('authenticated') <
		    names.indexOf('presence:snapshot'), names.join(' '));
		assert.equal(snap.truncated, false);
		const byId = new Map(snap.users.map((u) => [u.userId, u]));
		assert.equal(byId.get(1)?.status, 'busy', JSON.stringify(snap));
		assert.equal(byId.get(1)?.connectionCount, 1);
		assert.equal(byId.get(7)?.status, 'online');
		// The same entries presence:get_online_users answers.
		const online = await ask(late, 'presence:get_online_users');
		for (const u of snap.users)
			assert.deepEqual(online.find((o) => o.userId ===
			    u.userId), u);
		// A refresh of the token sends no second snapshot.
		const n = late.rec.length;
		await ok(late, 'authenticate', mint({ userId: '7',
		    displayName: 'Late', role: 'user' }));
		await sleep(300);
		assert.equal(late.rec.slice(n).filter((r) => r.event ===
		    'presence:snapshot').length, 0);
	}));

	it('a role no role line names: authenticated says so, the log says ' +
	    'which directive allows it (once per 10 s)', withLogs(async () => {
		const mark = d.logMark();
		const s = await login(d, { userId: '31', displayName: 'Cap',
		    role: 'Admin' });
		sockets.push(s);
		assert.deepEqual(s.user.permissions, []);
		assert.match(s.user.roleWarning, /not configured/);
		const ev = await waitFor(s, 'authenticated');
		assert.equal(ev.roleWarning, s.user.roleWarning);
		const line = await d.waitForLog(/level=warn .*role \\"Admin\\", which is not configured.*configured: admin agent user.*role Admin PERMISSION/, 5000, mark);
		assert.match(line, /user 31/);
		// Both workers may log once; a flood adds no line.
		for (let i = 0; i < 6; i++) {
			const t = await login(d, { userId: String(40 + i),
			    displayName: 'Sup', role: 'supervisor' });
			sockets.push(t);
			assert.match(t.user.roleWarning, /not configured/);
		}
		await sleep(300);
		// Fewer lines than such tokens: one per worker per 10 s.
		const warns = d.stderrLines().slice(mark).filter((l) =>
		    /which is not configured/.test(l));
		assert.ok(warns.length >= 1 && warns.length < 7,
		    warns.join('\n'));
		// A configured role carries no warning.
		assert.equal(admin.user.roleWarning, undefined);
	}));

	it('each failure comes as the error event doc/events.md names',
	    withLogs(async () => {
		const u = await login(d, { userId: '32', displayName: 'Err',
		    role: 'user' });
		sockets.push(u);
		const anon = record(client(d.url, { transports: ['websocket'],
		    reconnection: false }));
		sockets.push(anon);
		await connected(anon);
		const cases = [
			[u, 'join_channel', ['x']],
			[u, 'chat:send_message', [{ channelId: 1 }]],
			[u, 'update_presence', [{ status: 'nope' }]],
			[u, 'presence:set_status', ['nope']],
			[u, 'system_broadcast', [{ message: 'hi' }]],
			[u, 'call:invite', [{}]],
			[u, 'call:end', [{}]],
			[anon, 'join_channel', [1]],
		];
		for (const [s, event, args] of cases) {
			const since = s.rec.length;
			const ack = await ask(s, event, ...args);
			assert.equal(ack?.ok, false, `${event}: ${JSON.stringify(
			    ack)}`);
			const e = await until(() => s.rec.slice(since).find((r) =>
			    r.event.endsWith(':error') && r.args[0] ===
			    ack.error.message), 5000, `${event}: error event`);
			const want = s === anon ? 'auth:error' :
			    docErrorEventFor(event);
			assert.equal(e.event, want, `${event}: sent ${e.event}, ` +
			    `doc/events.md says ${want}`);
		}
		// The document's row for events before authentication.
		assert.ok(docErrorTable().some(([ev, names]) => ev ===
		    'auth:error' && names.includes('not_authenticated')));
	}));

	it('confabctl finds the daemon from another directory, and says how ' +
	    'to name one it cannot find', withLogs(async () => {
		const elsewhere = tmpDir('cf-elsewhere-');
		const env = { ...process.env, XDG_RUNTIME_DIR: xdg };
		const r = await run(CONFABCTL, ['stats'], { cwd: elsewhere, env });
		assert.equal(r.code, 0, r.stderr);
		assert.match(r.stdout, /^connections \d+/);
		const lost = await run(CONFABCTL, ['stats'], { cwd: elsewhere,
		    env: { ...env, XDG_RUNTIME_DIR: elsewhere } });
		assert.equal(lost.code, 1);
		assert.match(lost.stderr, /No such file or directory.*-s PATH.*-c FILE/);
	}));

	it('a Chromium page on another origin, default client options: ' +
	    'polling then websocket, authenticates, joins 1, sends and ' +
	    'receives', withLogs(async () => {
		browser = await launchChromium();
		const page = await (await browser.newContext()).newPage();
		const consoleLines = [];
		page.on('pageerror', (e) => consoleLines.push(e.message));
		const q = new URLSearchParams({ server: d.url, token: mint({
		    userId: '33', displayName: 'Browser', role: 'user' }) });
		try {
			await page.goto(`http://127.0.0.1:${srv.address().port}` +
			    `/first.html?${q}`);
			await page.waitForFunction(() => window.st.logged.length >
			    0, null, { timeout: 15000 });
			await waitFor(admin, 'user_joined', (p) => p.userId ===
			    33 && p.channelId === 1, 10000);
			await page.evaluate(() => window.sendMessage(1,
			    'from the browser'));
			await waitFor(admin, 'chat:new_message', (m) =>
			    m.userId === 33 && m.message === 'from the browser',
			    10000);
			await ok(admin, 'chat:send_message', { channelId: 1,
			    message: 'to the browser', messageType: 'text' });
			await page.waitForFunction(() => window.st.displayed.some(
			    (m) => m.message === 'to the browser') &&
			    window.st.transports.includes('websocket'), null,
			    { timeout: 15000 });
			const st = await page.evaluate(() => window.st);
			assert.deepEqual(st.logged, [['Connected as:', 'Browser']]);
			assert.deepEqual(st.transports, ['polling', 'websocket']);
			assert.ok(st.displayed.some((m) => m.message ===
			    'from the browser'));
		} catch (e) {
			process.stderr.write(`page errors: ${consoleLines}\n`);
			throw e;
		}
	}));

	it('at log-level info no event line is written', () => {
		assert.deepEqual(d.stderrLines().filter((l) =>
		    /event=event_(in|out)/.test(l)), []);
	});
});

/* ------------------------------------------------------ quickstart */

describe('the quickstart\'s output', () => {
	let qs, d, admin;
	const sockets = [];
	let child;

	after(async () => {
		closeAll(sockets);
		child?.kill('SIGKILL');
		qs?.kill('SIGKILL');
		if (d)
			await d.stop();
	});

	it('prints a second user\'s token and chat.mjs; chat.mjs chats with ' +
	    'the admin', withLogs(async () => {
		// confabd -f with the built-in defaults, as quickstart.sh runs
		// it (port 3001 may be taken: the output comes first).
		const cwd = tmpDir('cf-quickstart-');
		qs = spawn(CONFABD, ['-f'], { cwd, env: { ...process.env,
		    XDG_RUNTIME_DIR: cwd }, stdio: ['ignore', 'pipe', 'pipe'] });
		let out = '';
		qs.stdout.on('data', (b) => { out += b; });
		await until(() => out.includes('----- end of chat.mjs -----'),
		    10000, 'the quickstart output');
		qs.kill('SIGTERM');
		await new Promise((r) => qs.once('exit', r));
		const toks = [...out.matchAll(/^([\w-]+\.[\w-]+\.[\w-]+)$/gm)]
		    .map((m) => m[1]);
		assert.equal(toks.length, 2, out);
		assert.equal(claimsOf(toks[0]).userId, 1);
		assert.equal(claimsOf(toks[1]).userId, 2);
		assert.equal(claimsOf(toks[1]).role, 'user');
		const secret = fs.readFileSync(path.join(cwd, 'confab-data',
		    'jwt-secret'), 'utf8').trim();
		const [h, p, sig] = toks[1].split('.');
		assert.equal(crypto.createHmac('sha256', secret).update(
		    `${h}.${p}`).digest('base64url'), sig);
		const snippet = /----- chat\.mjs -----\n([\s\S]*)----- end of chat\.mjs -----/
		    .exec(out)[1];
		assert.ok(snippet.includes('http://localhost:3001'));
		assert.ok(snippet.includes(`'${toks[1]}'`));

		// The same data directory (secret, database with general)
		// on a free port; chat.mjs with that URL.
		d = await startDaemon({ workers: 1, dir: path.join(cwd,
		    'confab-data'), extraConf: ['default-channel general'] });
		admin = record(client(d.url, { transports: ['websocket'],
		    reconnection: false }));
		sockets.push(admin);
		await connected(admin);
		await ok(admin, 'authenticate', toks[0]);
		await ok(admin, 'join_channel', 1);
		const dir = tmpDir('.first-hour-', HERE);
		fs.writeFileSync(path.join(dir, 'chat.mjs'), snippet.replace(
		    'http://localhost:3001', d.url));
		child = spawn(process.execPath, ['chat.mjs'], { cwd: dir,
		    stdio: ['pipe', 'pipe', 'pipe'] });
		let cout = '';
		child.stdout.on('data', (b) => { cout += b; });
		child.stderr.on('data', (b) => { cout += b; });
		await until(() => cout.includes('Connected as: Guest'), 10000,
		    `chat.mjs connected (output: ${cout})`);
		await waitFor(admin, 'user_joined', (x) => x.userId === 2, 10000);
		child.stdin.write('hello from chat.mjs\n');
		const m = await waitFor(admin, 'chat:new_message', (x) =>
		    x.message === 'hello from chat.mjs', 10000);
		assert.equal(m.userId, 2);
		await ok(admin, 'chat:send_message', { channelId: 1,
		    message: 'hi Guest', messageType: 'text' });
		await until(() => cout.includes('Developer: hi Guest'), 10000,
		    `chat.mjs shows the admin's message (output: ${cout})`);
	}));
});

/* --------------------------------------------------------- logging */

describe('event logging', () => {
	const daemons = [];
	const sockets = [];

	after(async () => {
		closeAll(sockets);
		for (const d of daemons)
			await d.stop();
	});

	async function exercise(d, body) {
		const token = mint({ userId: '61', displayName: 'Logged',
		    role: 'admin' });
		const s = record(client(d.url, { transports: ['websocket'],
		    reconnection: false }));
		sockets.push(s);
		await connected(s);
		await ok(s, 'authenticate', token);
		const ch = (await ok(s, 'channel:create', { name: 'logged' }))
		    .channel.id;
		await ok(s, 'join_channel', ch);
		await ok(s, 'chat:send_message', { channelId: ch, message: body,
		    messageType: 'text' });
		const bad = await ask(s, 'join_channel', 'x');
		assert.equal(bad.ok, false);
		return token;
	}

	it('debug: one line per event in and out, no token, no body; info ' +
	    'summary lines', withLogs(async () => {
		const d = await startDaemon({ workers: 1, logLevel: 'debug',
		    extraConf: [...CHAT_CONF, 'log-summary-interval 1s'] });
		daemons.push(d);
		const body = 'the body of a private message';
		const token = await exercise(d, body);
		const ev = await d.waitForLog(/event=event_in .*name=chat:send_message /);
		assert.match(ev, /sid=\S+ user=61 name=chat:send_message bytes=\d+ attachments=0 ack=(ok|later) dur_us=\d+$/);
		await d.waitForLog(/event=event_in .*user=61 name=authenticate bytes=\d+ .*ack=ok/);
		await d.waitForLog(/event=event_in .*name=join_channel .*ack=error code=invalid_payload/);
		await d.waitForLog(/event=event_out sid=\S+ user=61 name=authenticated bytes=\d+$/);
		await d.waitForLog(/event=event_out room=channel:\d+ name=chat:new_message bytes=\d+$/);
		const summary = await d.waitForLog(/level=info .*event=summary /, 5000);
		assert.match(summary, /connections=\d+ websocket=\d+ polling=\d+ events=\d+ events_per_s=[\d.]+ errors=\d+ interval_s=\d+/);
		const all = d.stderrLines().join('\n');
		assert.ok(!all.includes(token), 'the token is never logged');
		assert.ok(!all.includes(body), 'no body without log-payloads');
	}));

	it('log-payloads yes: bodies, never the token', withLogs(async () => {
		const d = await startDaemon({ workers: 1, logLevel: 'debug',
		    extraConf: [...CHAT_CONF, 'log-payloads yes'] });
		daemons.push(d);
		const body = 'a body logged on purpose';
		const token = await exercise(d, body);
		await d.waitForLog(/event=event_in .*name=chat:send_message .*payload=".*a body logged on purpose/);
		await d.waitForLog(/event=event_out room=channel:\d+ name=chat:new_message .*payload=".*a body logged on purpose/);
		// Longer than the logged part: its first bytes, then cut.
		const long = `long-start-${'x'.repeat(2000)}`;
		const t = record(client(d.url, { transports: ['websocket'],
		    reconnection: false }));
		sockets.push(t);
		await connected(t);
		await ok(t, 'authenticate', token);
		await ok(t, 'channel:list');
		const ask1 = await ask(t, 'chat:send_message', { channelId: 999999,
		    message: long, messageType: 'text' });
		assert.equal(ask1.ok, false);
		const line = await d.waitForLog(/event=event_in .*name=chat:send_message .*long-start-/);
		assert.match(line, /payload="\[\{\\"channelId\\":999999,\\"message\\":\\"long-start-x{400,}/);
		assert.ok(!d.stderrLines().join('\n').includes(token),
		    'the token is never logged');
	}));
});

// confabctl against a running daemon: every command through the control
// socket (mode 0600, never the public port), seen by real socket.io-client
// sockets on both workers; bad requests get clear errors and the daemon
// keeps serving.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { useDaemon, startDaemon, withLogs } from './lib/daemon.mjs';
import { ask, until } from './lib/client.mjs';
import { CHAT_CONF, tabsOnWorkers, auth, ok, waitFor, uniq, listed,
    openTab } from './lib/chat.mjs';
import { mint } from './lib/token.mjs';
import { ctl, ctlJson, rawControl } from './lib/ctl.mjs';

describe('confabctl', () => {
	let sock;
	const sockets = [];

	const d = useDaemon({ workers: 2, extraConf: CHAT_CONF, sockets });
	before(() => {
		sock = path.join(d.dir, 'confabd.sock');
	});

	it('the control socket is a socket of mode 0600 in data-dir',
	    withLogs(async () => {
		const st = fs.lstatSync(sock);
		assert.ok(st.isSocket(), 'a socket');
		assert.equal(st.mode & 0o777, 0o600);
		assert.equal(st.uid, process.getuid());
	}));

	it('token: the minted token authenticates a real client',
	    withLogs(async () => {
		const r = await ctl(['-c', d.confPath, 'token', '4242',
		    'Ada Lovelace', 'agent', '-d', '2']);
		assert.equal(r.code, 0, r.stderr);
		const token = r.stdout.trim();
		assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
		const s = await openTab(d, { label: 'ctl-token' });
		sockets.push(s);
		const ack = await auth(s, token);
		assert.equal(String(ack.user.id ?? ack.user.userId), '4242');
		assert.equal(ack.user.role, 'agent');
		const claims = JSON.parse(Buffer.from(token.split('.')[1],
		    'base64url'));
		assert.equal(claims.displayName, 'Ada Lovelace');
		assert.equal(claims.exp - claims.iat, 2 * 86400);
		// The default role is user; -j gives the raw reply.
		const j = await ctlJson(d, 'token', 'alice');
		assert.equal(j.code, 0, j.stderr);
		assert.equal(j.reply.ok, true);
		assert.equal(j.reply.role, 'user');
		assert.equal(j.reply.userId, 'alice');
	}));

	it('channel-create: clients list the new channel; a taken name is ' +
	    'refused', withLogs(async () => {
		const name = uniq('ctl');
		const r = await ctl(['-c', d.confPath, 'channel-create', name,
		    '-D', 'made by confabctl']);
		assert.equal(r.code, 0, r.stderr);
		const m = /^channel (\d+) "([^"]+)" created \(public\)$/m
		    .exec(r.stdout);
		assert.ok(m, r.stdout);
		assert.equal(m[2], name);
		const id = Number(m[1]);
		const s = await openTab(d, { label: 'ctl-chan' });
		sockets.push(s);
		await auth(s, mint({ userId: 77, displayName: 'Lister',
		    role: 'user' }));
		const ch = await listed(s, id);
		assert.ok(ch, 'the channel is listed');
		assert.equal(ch.name, name);
		assert.equal(ch.description, 'made by confabctl');
		await ok(s, 'join_channel', id);

		const again = await ctlJson(d, 'channel-create', name);
		assert.equal(again.code, 1);
		assert.equal(again.reply.ok, false);
		assert.equal(again.reply.error.code, 'conflict');
		const txt = await ctl(['-c', d.confPath, 'channel-create',
		    name]);
		assert.equal(txt.code, 1);
		assert.match(txt.stderr, /^confabctl: conflict: /);

		// Private: listed for a member only.
		const pname = uniq('ctl-priv');
		const p = await ctlJson(d, 'channel-create', '-p', '-m', '78',
		    pname);
		assert.equal(p.reply.ok, true, p.stdout + p.stderr);
		assert.equal(p.reply.channel.isPrivate, true);
		assert.equal(await listed(s, p.reply.channel.id), undefined);
		const member = await openTab(d, { label: 'ctl-member' });
		sockets.push(member);
		await auth(member, mint({ userId: 78, displayName: 'Member',
		    role: 'user' }));
		assert.ok(await listed(member, p.reply.channel.id));

		// The name limit counts characters, as for channel:create: 100
		// characters of two bytes each pass, 101 do not.
		const wide = 'é'.repeat(90) +
		    String(Date.now() % 1e10).padStart(10, '0');
		const w = await ctlJson(d, 'channel-create', wide);
		assert.equal(w.reply.ok, true, w.stdout + w.stderr);
		assert.equal(w.reply.channel.name, wide);
		const over = await ctlJson(d, 'channel-create', wide + 'é');
		assert.equal(over.reply.error.code, 'invalid_request');
	}));

	it('broadcast reaches authenticated clients on every worker',
	    withLogs(async () => {
		const tabs = await tabsOnWorkers(d, 2);
		sockets.push(...tabs);
		await auth(tabs[0], mint({ userId: 91, displayName: 'W0',
		    role: 'user' }));
		await auth(tabs[1], mint({ userId: 92, displayName: 'W1',
		    role: 'user' }));
		const since = tabs.map((t) => t.rec.length);
		const text = `maintenance ${uniq('b')}`;
		const r = await ctl(['-c', d.confPath, 'broadcast', text,
		    'high']);
		assert.equal(r.code, 0, r.stderr);
		assert.match(r.stdout, /^broadcast \d+ sent$/m);
		for (let i = 0; i < 2; i++) {
			const b = await waitFor(tabs[i],
			    'system_broadcast_received',
			    (x) => x?.message === text, 5000, since[i]);
			assert.equal(b.priority, 'high');
			assert.equal(b.from, 'System');
			assert.ok(Number.isInteger(b.broadcastId));
		}
		const bad = await ctlJson(d, 'broadcast', 'x', 'urgent');
		assert.equal(bad.code, 1);
		assert.equal(bad.reply.error.code, 'invalid_request');
		assert.match(bad.reply.error.message, /priority/);
	}));

	it('online lists the connected users with names; stats counts them',
	    withLogs(async () => {
		const s = await openTab(d, { label: 'ctl-online' });
		sockets.push(s);
		await auth(s, mint({ userId: 555, displayName: 'Online Olga',
		    role: 'user' }));
		const j = await ctlJson(d, 'online');
		assert.equal(j.code, 0, j.stderr);
		const u = j.reply.users.find((x) => x.userId === '555');
		assert.ok(u, JSON.stringify(j.reply));
		assert.equal(u.name, 'Online Olga');
		assert.equal(u.connections, 1);
		assert.equal(j.reply.count, j.reply.users.length);
		const t = await ctl(['-c', d.confPath, 'online']);
		assert.match(t.stdout, /^555\s+Online Olga\s+1$/m);
		assert.match(t.stdout, /^\d+ users online$/m);

		const st = await ctlJson(d, 'stats');
		assert.equal(st.code, 0, st.stderr);
		assert.equal(st.reply.workers.length, 2);
		const pids = d.workerPids();
		for (const w of st.reply.workers) {
			assert.equal(w.up, true);
			assert.ok(pids.includes(w.pid), `pid ${w.pid}`);
			assert.ok(Number.isInteger(w.eventsPerSecond));
		}
		const conns = st.reply.workers.reduce((a, w) =>
		    a + w.websocket + w.polling, 0);
		assert.equal(conns, st.reply.connections);
		assert.ok(st.reply.connections >= sockets.filter((x) =>
		    x.connected).length);
		assert.ok(st.reply.usersOnline >= 1);
		const text = await ctl(['-c', d.confPath, 'stats']);
		assert.match(text.stdout, /^connections \d+, users online \d+, events\/s \d+$/m);
		assert.match(text.stdout, /^WORKER\s+PID\s+UP/m);
	}));

	it('bad requests get clear errors; the daemon keeps serving',
	    withLogs(async () => {
		const pids = d.workerPids();
		const cases = [
			['not json\n', 'invalid_request'],
			['[1,2]\n', 'invalid_request'],
			['{"cmd":42}\n', 'invalid_request'],
			['{"cmd":"reboot"}\n', 'unknown_command'],
			['{"cmd":"token"}\n', 'invalid_request'],
			['{"cmd":"token","user":"1","role":"root"}\n',
			    'invalid_request'],
			['{"cmd":"token","user":"1","days":0}\n',
			    'invalid_request'],
			['{"cmd":"channel-create","name":"   "}\n',
			    'invalid_request'],
			['{"cmd":"channel-create","name":"x","members":"1"}\n',
			    'invalid_request'],
			['{"cmd":"broadcast"}\n', 'invalid_request'],
			['{"cmd":"stats"', 'invalid_request'],
			['x'.repeat(70000), 'invalid_request'],
		];
		for (const [req, code] of cases) {
			const out = await rawControl(sock, req);
			const line = out.split('\n')[0];
			const r = JSON.parse(line);
			assert.equal(r.ok, false, `${req.slice(0, 60)}: ${out}`);
			assert.equal(r.error.code, code, `${req.slice(0, 60)}`);
			assert.ok(r.error.message.length > 0);
		}
		// A client that connects and leaves gets nothing, harms nothing.
		assert.equal(await rawControl(sock, ''), '');
		const usage = await ctl(['-c', d.confPath, 'frobnicate']);
		assert.equal(usage.code, 2);
		assert.match(usage.stderr, /usage: confabctl/);
		const none = await ctl(['-s', path.join(d.dir, 'nope.sock'),
		    'stats']);
		assert.equal(none.code, 1);
		assert.match(none.stderr, /is confabd running/);
		assert.deepEqual(d.workerPids(), pids, 'no worker died');
		const s = await openTab(d, { label: 'ctl-after' });
		sockets.push(s);
		assert.equal((await ask(s, 'whoami')).sid.length > 0, true);
	}));

	it('a second daemon on the same control socket, or a path that is ' +
	    'not a socket, is refused at start', withLogs(async () => {
		await assert.rejects(startDaemon({ workers: 1,
		    extraConf: [`control-socket ${sock}`],
		    readyTimeoutMs: 5000 }),
		    /control-socket .*: in use by another process/);
		const file = path.join(d.dir, 'not-a-socket');
		fs.writeFileSync(file, 'x');
		await assert.rejects(startDaemon({ workers: 1,
		    extraConf: [`control-socket ${file}`],
		    readyTimeoutMs: 5000 }),
		    /control-socket .*: exists and is not a socket/);
		assert.equal(fs.readFileSync(file, 'utf8'), 'x', 'left alone');
		// The first daemon still answers.
		const st = await ctlJson(d, 'stats');
		assert.equal(st.reply.ok, true);
	}));

	it('the control socket is removed when the daemon stops',
	    withLogs(async () => {
		assert.ok(fs.existsSync(sock));
		await d.stop();
		assert.equal(fs.existsSync(sock), false);
	}));
});

describe('control socket left by a killed daemon', () => {
	let a, b;

	after(async () => {
		if (a)
			await a.stop();
		if (b)
			await b.stop();
	});

	it('is replaced by the next daemon on the same data-dir',
	    withLogs(async () => {
		a = await startDaemon({ workers: 1, keepDir: true });
		const sock = path.join(a.dir, 'confabd.sock');
		const kids = a.workerPids();
		a.proc.kill('SIGKILL');
		await a.exited;
		// The worker follows its master (PR_SET_PDEATHSIG).
		for (const k of kids) {
			await until(() => !fs.existsSync(`/proc/${k}`) ||
			    /^State:\s+Z/m.test(fs.readFileSync(
			    `/proc/${k}/status`, 'utf8')), 5000, 'worker gone');
		}
		assert.ok(fs.lstatSync(sock).isSocket(), 'stale socket left');
		b = await startDaemon({ workers: 1, dir: a.dir });
		const st = await ctlJson(b, 'stats');
		assert.equal(st.code, 0, st.stderr);
		assert.deepEqual(st.reply.workers.map((w) => w.pid),
		    b.workerPids());
	}));
});

// The benchmark's load generator (bench/cfbench) against a real confabd, a
// few seconds long: every message it sends must be acked and reach every
// member of its channel exactly once and in order (no errors, gaps,
// duplicates or lost deliveries).  Nothing about speed is asserted.
// Also: presence-broadcast no, which the benchmark configures.
import { describe, it, before, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { useDaemon, startDaemon, withLogs, REPO_ROOT } from './lib/daemon.mjs';
import { closeAll, ask, until } from './lib/client.mjs';
import { SECRET, mint } from './lib/token.mjs';
import { CHAT_CONF, login, openTab, auth, got } from './lib/chat.mjs';

const CFBENCH = process.env.CFBENCH || path.join(REPO_ROOT, 'bench', 'cfbench');

// Runs cfbench against d; resolves {code, result: {key: value}, out}.
function cfbench(d, args) {
	return new Promise((resolve, reject) => {
		const p = spawn(CFBENCH, ['-q', '-p', String(d.port), '-k', SECRET,
		    '-P', String(d.pid), '-T', '60', ...args],
		    { stdio: ['ignore', 'pipe', 'pipe'] });
		let out = '';
		p.stdout.on('data', (b) => { out += b; });
		p.stderr.on('data', (b) => { out += b; });
		p.on('error', reject);
		p.on('exit', (code) => {
			const line = out.split('\n').find((l) =>
			    l.startsWith('RESULT '));
			const result = {};
			for (const kv of (line ?? '').split(' ').slice(1)) {
				const i = kv.indexOf('=');
				result[kv.slice(0, i)] = kv.slice(i + 1);
			}
			resolve({ code, result, out });
		});
	});
}

function assertClean(r, what) {
	const msg = `${what}: ${r.out}`;
	for (const k of ['errors', 'gaps', 'dups', 'lost', 'bad_frames',
	    'nacks', 'dead', 'unacked'])
		assert.equal(r.result[k], '0', `${k} ${msg}`);
	assert.equal(r.code, 0, msg);
}

describe('bench/cfbench against confabd', () => {
	before(() => {
		assert.ok(fs.existsSync(CFBENCH), `${CFBENCH} not built (make)`);
	});
	const d = useDaemon({ workers: 2, extraConf: [...CHAT_CONF,
	    'rate-limit 100000 1', 'presence-broadcast no'] });

	it('closed loop: 3 channels x 20 members, every delivery once and in ' +
	    'order', withLogs(async () => {
		const r = await cfbench(d, ['-L', 'closed', '-u', '1000',
		    '-n', '60', '-C', '3', '-r', '0', '-W', '4', '-w', '0.3',
		    '-d', '1']);
		assertClean(r, 'closed loop');
		assert.equal(r.result.authed, '60');
		const acked = Number(r.result.acked);
		assert.ok(acked > 0, `nothing acked: ${r.out}`);
		// Each acked message of the window reaches the 20 members of
		// its channel; deliveries of the window are counted the same.
		assert.ok(Number(r.result.deliveries_per_s) > 0, r.out);
	}));

	it('fixed rate over several source addresses', withLogs(async () => {
		const r = await cfbench(d, ['-L', 'rate', '-u', '2000',
		    '-n', '40', '-s', '4', '-C', '4', '-r', '200', '-w', '0.3',
		    '-d', '1']);
		assertClean(r, 'fixed rate');
		assert.ok(Number(r.result.sent_total) > 0, r.out);
		assert.equal(r.result.sent_total, r.result.acked_total, r.out);
	}));

	it('idle: authenticated connections and the server memory',
	    withLogs(async () => {
		const r = await cfbench(d, ['-L', 'idle', '-u', '3000', '-I',
		    '-n', '50']);
		assertClean(r, 'idle');
		assert.equal(r.result.authed, '50');
		assert.equal(r.result.server_procs, '3', r.out);
		assert.ok(Number(r.result.pss_kb) > 0, r.out);
	}));

	it('idle split over processes (-j): one RESULT for all of them',
	    withLogs(async () => {
		const r = await cfbench(d, ['-L', 'split', '-u', '4000', '-I',
		    '-n', '61', '-j', '3']);
		assertClean(r, 'idle -j 3');
		assert.equal(r.result.procs, '3', r.out);
		assert.equal(r.result.conns, '61', r.out);
		assert.equal(r.result.authed, '61', r.out);
		assert.equal(r.result.server_procs, '3', r.out);
		assert.ok(Number(r.result.pss_kb) > 0, r.out);
		assert.ok(Number(r.result.setup_per_s) > 0, r.out);
	}));

	it('fan-out split over processes (-j with traffic): every delivery ' +
	    'counted once, in order', withLogs(async () => {
		// The sender in the parent, the 40 receiving connections in 3
		// children; each child's counters and histogram are summed.
		const r = await cfbench(d, ['-L', 'tsplit', '-u', '5000',
		    '-n', '41', '-C', '1', '-r', '100', '-w', '0.3', '-d', '1',
		    '-j', '3']);
		assertClean(r, 'fan-out -j 3');
		assert.equal(r.result.gen_procs, '4', r.out);
		assert.equal(r.result.conns, '41', r.out);
		assert.equal(r.result.authed, '41', r.out);
		const sent = Number(r.result.sent_total);
		assert.ok(sent > 0, r.out);
		assert.equal(r.result.acked_total, String(sent), r.out);
		// every message reaches all 41 members (the sender included)
		assert.equal(r.result.delivered_total, String(sent * 41), r.out);
		assert.ok(Number(r.result.deliveries_per_s) > 0, r.out);
		assert.ok(Number(r.result.p99_us) > 0, r.out);
	}));

	it('closed loop split over processes, 2 channels', withLogs(async () => {
		const r = await cfbench(d, ['-L', 'tsplit2', '-u', '6000',
		    '-n', '22', '-C', '2', '-r', '0', '-W', '4', '-w', '0.3',
		    '-d', '1', '-j', '2']);
		assertClean(r, 'closed loop -j 2');
		assert.equal(r.result.gen_procs, '3', r.out);
		const sent = Number(r.result.sent_total);
		assert.ok(sent > 0, r.out);
		// 11 members per channel
		assert.equal(r.result.delivered_total, String(sent * 11), r.out);
	}));

	it('-j with traffic needs a receiving connection per process',
	    withLogs(async () => {
		const r = await cfbench(d, ['-L', 'bad', '-n', '3', '-C', '1',
		    '-j', '3']);
		assert.equal(r.code, 2, r.out);
		assert.match(r.out, /fewer receiving connections/);
	}));

	it('a wrong secret is reported as errors, with a non-zero exit',
	    withLogs(async () => {
		const r = await new Promise((resolve) => {
			const p = spawn(CFBENCH, ['-q', '-p', String(d.port),
			    '-k', 'not-the-secret-0123456789-0123456789', '-n',
			    '3', '-I', '-T', '30'], { stdio: ['ignore', 'pipe',
			    'pipe'] });
			let out = '';
			p.stdout.on('data', (b) => { out += b; });
			p.on('exit', (code) => resolve({ code, out }));
		});
		assert.equal(r.code, 1, r.out);
		assert.match(r.out, /errors=3 /);
		assert.match(r.out, /authenticate refused/);
	}));

	it('-j: the errors of the children are summed, with a non-zero exit',
	    withLogs(async () => {
		const r = await new Promise((resolve) => {
			const p = spawn(CFBENCH, ['-q', '-p', String(d.port),
			    '-k', 'not-the-secret-0123456789-0123456789', '-n',
			    '4', '-j', '2', '-I', '-T', '30'], { stdio: ['ignore',
			    'pipe', 'pipe'] });
			let out = '';
			p.stdout.on('data', (b) => { out += b; });
			p.on('exit', (code) => resolve({ code, out }));
		});
		assert.equal(r.code, 1, r.out);
		assert.match(r.out, /procs=2 /);
		assert.match(r.out, /errors=4 /);
		assert.match(r.out, /dead=4/);
		assert.match(r.out, /authenticate refused/);
	}));
});

describe('presence-broadcast', () => {
	const sockets = [];
	afterEach(() => closeAll(sockets));

	// One worker, presence-broadcast no: B's connection is never
	// announced, so its absence after A's later request is certain.
	for (const on of [true, false]) {
		it(`presence-broadcast ${on ? 'yes' : 'no'}: another user's ` +
		    `connection is ${on ? '' : 'not '}announced`,
		    withLogs(async () => {
			const d = await startDaemon({ workers: 1, extraConf: [
			    ...CHAT_CONF, `presence-broadcast ${on ? 'yes' :
			    'no'}`] });
			try {
				const a = await login(d, { userId: '701',
				    displayName: 'A', role: 'user' });
				sockets.push(a);
				const since = a.rec.length;
				const b = await openTab(d, { label: 'B' });
				sockets.push(b);
				await auth(b, mint({ userId: '702',
				    displayName: 'B', role: 'user' }));
				const users = await ask(a,
				    'presence:get_online_users');
				const mine = users.find((u) => u.userId === 702);
				assert.equal(mine?.connectionCount, 1,
				    JSON.stringify(users));
				const seen = () => got(a, 'presence_updated',
				    (p) => p.userId === 702, since).length +
				    got(a, 'presence:update',
				    (p) => p.userId === 702, since).length;
				/*
				 * Announced after presence-coalesce (1 s by
				 * default): waited for when on.
				 */
				if (on)
					await until(() => seen() === 2, 5000,
					    'B announced to A');
				assert.equal(seen(), on ? 2 : 0);
			} finally {
				closeAll(sockets);
				await d.stop();
			}
		}));
	}
});

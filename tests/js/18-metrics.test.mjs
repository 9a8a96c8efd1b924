// GET /metrics: the Prometheus text exposition of every worker of the host,
// restricted to the addresses of metrics-allow (loopback by default).
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, withLogs } from './lib/daemon.mjs';
import { connect, until, closeAll, TRANSPORTS } from './lib/client.mjs';

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (\S+)$/;
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="([^"\\]*)"$/;

// Parse the text format into [{ name, labels, value }]; throws on a line
// that is neither a comment nor a sample with a finite value.
function parseMetrics(text) {
	const out = [];
	for (const line of text.split('\n')) {
		if (line === '' || line.startsWith('#'))
			continue;
		const m = SAMPLE.exec(line);
		assert.ok(m, `not a sample line: ${JSON.stringify(line)}`);
		const labels = {};
		if (m[3] !== undefined && m[3] !== '') {
			for (const pair of m[3].split(',')) {
				const l = LABEL.exec(pair);
				assert.ok(l, `bad label ${pair} in ${line}`);
				labels[l[1]] = l[2];
			}
		}
		const value = Number(m[4]);
		assert.ok(Number.isFinite(value), `bad value in ${line}`);
		out.push({ name: m[1], labels, value });
	}
	return out;
}

async function scrape(d) {
	const r = await fetch(`${d.url}/metrics`);
	assert.equal(r.status, 200);
	assert.equal(r.headers.get('content-type'),
	    'text/plain; version=0.0.4; charset=utf-8');
	return parseMetrics(await r.text());
}

function sum(samples, name, labels = {}) {
	return samples.filter((s) => s.name === name &&
	    Object.entries(labels).every(([k, v]) => s.labels[k] === v))
	    .reduce((a, s) => a + s.value, 0);
}

describe('metrics', () => {
	let d;
	const sockets = [];

	before(async () => {
		d = await startDaemon({ workers: 2 });
	});
	afterEach(() => closeAll(sockets));
	after(async () => {
		closeAll(sockets);
		if (d)
			await d.stop();
	});

	it('loopback reads every worker in the text format',
	    withLogs(async () => {
		const r = await fetch(`${d.url}/metrics`);
		assert.equal(r.status, 200);
		const text = await r.text();
		for (const name of ['confabd_connections',
		    'confabd_events_in_total', 'confabd_relay_published_total',
		    'confabd_relay_received_total', 'confabd_worker_up',
		    'confabd_worker_start_time_seconds',
		    'confabd_authenticated_users']) {
			assert.match(text, new RegExp(`^# HELP ${name} `, 'm'));
			assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'));
		}
		const m = parseMetrics(text);
		for (const w of ['0', '1']) {
			assert.equal(sum(m, 'confabd_worker_up', { worker: w }),
			    1, `worker ${w} up`);
			const t = sum(m, 'confabd_worker_start_time_seconds',
			    { worker: w });
			assert.ok(Math.abs(t - Date.now() / 1000) < 3600,
			    `start time ${t}`);
		}
		assert.equal(m.filter((s) =>
		    s.name === 'confabd_worker_up').length, 2);
		assert.equal(sum(m, 'confabd_authenticated_users'), 0);
	}));

	it('counts websocket and polling connections of all workers',
	    withLogs(async () => {
		const before = await scrape(d);
		const ws0 = sum(before, 'confabd_connections',
		    { transport: 'websocket' });
		const poll0 = sum(before, 'confabd_connections',
		    { transport: 'polling' });
		for (let i = 0; i < 3; i++)
			sockets.push(await connect(d.url,
			    TRANSPORTS.websocket));
		for (let i = 0; i < 2; i++)
			sockets.push(await connect(d.url, TRANSPORTS.polling));
		let last;
		await until(async () => {
			last = await scrape(d);
			return sum(last, 'confabd_connections',
			    { transport: 'websocket' }) === ws0 + 3 &&
			    sum(last, 'confabd_connections',
			    { transport: 'polling' }) === poll0 + 2;
		}, 5000, 'connection gauges');
		for (const w of ['0', '1'])
			assert.equal(sum(last, 'confabd_worker_up',
			    { worker: w }), 1);
		closeAll(sockets);
		await until(async () => {
			const m = await scrape(d);
			return sum(m, 'confabd_connections') === 0;
		}, 5000, 'connection gauges back to 0');
	}));

	it('other HTTP methods and paths are not metrics',
	    withLogs(async () => {
		const r = await fetch(`${d.url}/metrics`, { method: 'POST',
		    body: 'x' });
		assert.equal(r.status, 404);
		await r.text();
		const n = await fetch(`${d.url}/metrics/x`);
		assert.equal(n.status, 404);
		await n.text();
	}));
});

describe('metrics-allow', () => {
	let d;

	before(async () => {
		d = await startDaemon({ workers: 2,
		    extraConf: ['metrics-allow 10.1.2.3'] });
	});
	after(async () => {
		if (d)
			await d.stop();
	});

	it('a peer not in metrics-allow gets 403; /healthz still answers',
	    withLogs(async () => {
		for (let i = 0; i < 4; i++) {
			const r = await fetch(`${d.url}/metrics`);
			assert.equal(r.status, 403);
			assert.equal(await r.text(), 'Forbidden\n');
		}
		const h = await fetch(`${d.url}/healthz`);
		assert.equal(h.status, 200);
		assert.equal(await h.text(), 'ok\n');
	}));
});

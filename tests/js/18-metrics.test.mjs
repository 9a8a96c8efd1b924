// GET /metrics: the Prometheus text exposition of every worker of the host,
// restricted to the addresses of metrics-allow (loopback by default).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { useDaemon, startRedis, sleep, withLogs } from './lib/daemon.mjs';
import { connect, until, closeAll, TRANSPORTS, ask } from './lib/client.mjs';
import { CHAT_CONF, login, tabsOnWorkers, auth, createChannel, send, ok,
    refused } from './lib/chat.mjs';
import { mint } from './lib/token.mjs';

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
	const sockets = [];

	const d = useDaemon({ workers: 2, sockets, closeEach: true });

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

	const d = useDaemon({ workers: 2,
	    extraConf: ['metrics-allow 10.1.2.3'] });

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

describe('metrics for operators', () => {
	const sockets = [];

	const d = useDaemon({ workers: 2, extraConf: CHAT_CONF, sockets });

	it('every new family has HELP and TYPE, and parses',
	    withLogs(async () => {
		const r = await fetch(`${d.url}/metrics`);
		const text = await r.text();
		for (const [name, type] of [
		    ['confabd_events_in_by_name_total', 'counter'],
		    ['confabd_deliveries_out_total', 'counter'],
		    ['confabd_relay_lag_seconds', 'summary'],
		    ['confabd_db_write_seconds', 'histogram'],
		    ['confabd_db_statements_total', 'counter'],
		    ['confabd_errors_total', 'counter'],
		    ['confabd_worker_restarts_total', 'counter']]) {
			assert.match(text, new RegExp(`^# HELP ${name} \\S`, 'm'));
			assert.match(text, new RegExp(`^# TYPE ${name} ${type}$`,
			    'm'));
		}
		const m = parseMetrics(text);
		for (const w of ['0', '1']) {
			assert.equal(m.filter((x) => x.name ===
			    'confabd_db_write_seconds_bucket' &&
			    x.labels.worker === w && x.labels.le === '+Inf')
			    .length, 1, `+Inf bucket of worker ${w}`);
			assert.equal(sum(m, 'confabd_worker_restarts_total',
			    { worker: w }), 0);
		}
		assert.ok(m.some((x) => x.name ===
		    'confabd_events_in_by_name_total' &&
		    x.labels.event === 'chat:send_message'));
	}));

	it('events by name, deliveries, database writes, errors and relay ' +
	    'lag move with traffic', withLogs(async () => {
		const m0 = await scrape(d);
		const [a, b] = await tabsOnWorkers(d, 2);
		sockets.push(a, b);
		await auth(a, mint({ userId: 501, displayName: 'Ops A',
		    role: 'admin' }));
		await auth(b, mint({ userId: 502, displayName: 'Ops B',
		    role: 'admin' }));
		const ch = await createChannel(a);
		await ok(b, 'join_channel', ch.id);
		await ok(a, 'join_channel', ch.id);
		for (let i = 0; i < 3; i++)
			await send(a, ch.id, `metrics ${i}`);
		await refused(a, 'chat:send_message', [{ channelId: ch.id,
		    message: '' }], 'invalid_payload');
		await refused(a, 'join_channel', [987654321], 'not_found');
		const unknown = await ask(a, 'no:such:event');
		assert.equal(unknown.error.code, 'unknown_event');
		let m;
		await until(async () => {
			m = await scrape(d);
			return sum(m, 'confabd_deliveries_out_total') >=
			    sum(m0, 'confabd_deliveries_out_total') + 6;
		}, 5000, 'deliveries');
		const by = (n, lbl) => sum(m, n, lbl) - sum(m0, n, lbl);
		assert.equal(by('confabd_events_in_by_name_total',
		    { event: 'chat:send_message' }), 4);
		assert.equal(by('confabd_events_in_by_name_total',
		    { event: 'authenticate' }), 2);
		assert.equal(by('confabd_events_in_by_name_total',
		    { event: 'unknown' }), 1);
		assert.equal(by('confabd_errors_total',
		    { code: 'invalid_payload' }), 1);
		assert.equal(by('confabd_errors_total', { code: 'not_found' }),
		    1);
		assert.equal(by('confabd_errors_total',
		    { code: 'unknown_event' }), 1);
		// Channel + 3 messages at least: committed writes, timed.
		const writes = by('confabd_db_write_seconds_count');
		assert.ok(writes >= 4, `db writes ${writes}`);
		assert.equal(by('confabd_db_write_seconds_bucket',
		    { le: '+Inf' }), writes);
		assert.ok(by('confabd_db_write_seconds_sum') > 0);
		// The other worker's tab got the messages through the relay.
		// Every worker reports the summary; the other worker's tab got
		// the three messages through the relay, each timed (a frame
		// between processes takes at least a microsecond).
		for (const n of ['confabd_relay_lag_seconds_sum',
		    'confabd_relay_lag_seconds_count']) {
			for (const w of ['0', '1']) {
				assert.equal(m.filter((x) => x.name === n &&
				    x.labels.worker === w).length, 1,
				    `${n} of worker ${w}`);
			}
		}
		assert.ok(by('confabd_relay_lag_seconds_count') >= 3,
		    'relay lag observed');
		assert.ok(by('confabd_relay_lag_seconds_sum') > 0,
		    'relay lag summed');
		// Histogram buckets are cumulative.
		for (const w of ['0', '1']) {
			const bk = m.filter((x) => x.name ===
			    'confabd_db_write_seconds_bucket' &&
			    x.labels.worker === w);
			for (let i = 1; i < bk.length; i++)
				assert.ok(bk[i].value >= bk[i - 1].value,
				    `buckets of ${w} cumulative`);
		}
	}));

	it('a worker killed and respawned counts a restart',
	    withLogs(async () => {
		const [pid] = d.workerPids();
		const m0 = await scrape(d);
		const since = d.logMark();
		process.kill(pid, 'SIGKILL');
		await d.waitForLog(/worker=\d+ event=ready /, 10000, since);
		let m;
		await until(async () => {
			m = await scrape(d);
			return sum(m, 'confabd_worker_restarts_total') ===
			    sum(m0, 'confabd_worker_restarts_total') + 1;
		}, 5000, 'worker restarts');
	}));
});

describe('relay lag over Redis', () => {
	let redis;
	const sockets = [];

	before(async () => {
		redis = await startRedis();
	});
	const d = useDaemon({ workers: 2, redisUrl: () => redis.url,
	    extraConf: CHAT_CONF, sockets });
	after(async () => {
		if (redis)
			await redis.stop();
	});

	it('each publish is timed by its echo on the subscription and by the inbox',
	    withLogs(async () => {
		const [a, b] = await tabsOnWorkers(d, 2);
		sockets.push(a, b);
		await auth(a, mint({ userId: 601, displayName: 'Lag A',
		    role: 'admin' }));
		await auth(b, mint({ userId: 602, displayName: 'Lag B',
		    role: 'user' }));
		// A publish made while a worker's Redis link is still coming up
		// never echoes: start once both workers are subscribed.
		await until(async () => sum(await scrape(d),
		    'confabd_relay_redis_up') === 2, 10000, 'Redis links up');
		const ch = await createChannel(a);
		await ok(b, 'join_channel', ch.id);
		// The echoes of earlier broadcasts (the join's) may still be on
		// their way: start from a scrape where the relay is quiet.
		const relayCounts = (x) => ['confabd_relay_published_total',
		    'confabd_relay_lag_seconds_count'].map((n) => sum(x, n)).join();
		let m0 = await scrape(d);
		await until(async () => {
			await sleep(200);
			const prev = m0;
			m0 = await scrape(d);
			return relayCounts(prev) === relayCounts(m0);
		}, 5000, 'the relay quiet');
		const pub0 = sum(m0, 'confabd_relay_published_total');
		for (let i = 0; i < 3; i++)
			await send(a, ch.id, `lag ${i}`);
		let m;
		await until(async () => {
			m = await scrape(d);
			const pub = sum(m, 'confabd_relay_published_total');
			// Each publish is timed twice: by its echo on the
			// publisher's subscription, and by the other worker of
			// the host, which receives it through its inbox.
			return pub >= pub0 + 3 &&
			    sum(m, 'confabd_relay_lag_seconds_count') -
			    sum(m0, 'confabd_relay_lag_seconds_count') ===
			    2 * (pub - pub0);
		}, 5000, 'two lag observations per publish');
		assert.ok(sum(m, 'confabd_relay_lag_seconds_sum') >
		    sum(m0, 'confabd_relay_lag_seconds_sum'));
	}));
});

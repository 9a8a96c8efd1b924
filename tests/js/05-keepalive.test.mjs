// One keep-alive HTTP connection carrying requests of two polling sessions
// owned by different workers.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { useDaemon, withLogs } from './lib/daemon.mjs';
import { handshake, post, poll, pollUntil, decodePayload }
    from './lib/raw.mjs';

describe('keep-alive connection shared by sessions of two workers', () => {
	const sessions = [];	// {sid, worker, ackId}
	const agents = [];
	const d = useDaemon({ workers: 2, teardown: () => {
		for (const a of agents)
			a.destroy();
	} });

	// Handshake + CONNECT + whoami, each request on a fresh connection.
	async function newSession() {
		const { sid, open } = await handshake(d.port);
		assert.deepEqual(Object.keys(open).sort(), ['maxPayload',
		    'pingInterval', 'pingTimeout', 'sid', 'upgrades']);
		assert.deepEqual(open.upgrades, ['websocket']);
		let r = await post(d.port, sid, '40');
		assert.equal(r.status, 200, `POST 40: ${r.status} ${r.body}`);
		assert.equal(r.body, 'ok');
		await pollUntil(d.port, sid, (p) => p.startsWith('0{'));
		r = await post(d.port, sid, '421["whoami"]');
		assert.equal(r.status, 200, `POST whoami: ${r.status} ${r.body}`);
		const ack = await pollUntil(d.port, sid, (p) => p.startsWith('31['));
		const [who] = JSON.parse(ack.slice(2));
		assert.equal(who.eioSid, sid);
		assert.equal(who.transport, 'polling');
		return { sid, worker: who.worker, ackId: 2 };
	}

	it('finds two sessions on different workers', withLogs(async (t) => {
		const byWorker = new Map();
		for (let i = 0; i < 40 && byWorker.size < 2; i++) {
			const s = await newSession();
			if (byWorker.has(s.worker)) {
				// Not needed: close it.
				await post(d.port, s.sid, '1');
				continue;
			}
			byWorker.set(s.worker, s);
		}
		assert.equal(byWorker.size, 2,
		    'could not get sessions on two workers in 40 handshakes');
		sessions.push(...byWorker.values());
		t.diagnostic(`sessions on workers ${sessions.map((s) => s.worker)}`);
	}));

	it('alternating requests on one keep-alive connection',
	    withLogs(async (t) => {
		assert.equal(sessions.length, 2, 'previous test failed');
		const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
		agents.push(agent);
		const ports = new Set();
		const bad = [];
		const check = (what, r, want) => {
			if (r.aborted) {
				bad.push(`${what}: aborted (${r.error.message})`);
				return false;
			}
			ports.add(r.localPort);
			if (r.status !== 200 || (want && !want(r.body)))
				bad.push(`${what}: ${r.status} ${JSON.stringify(r.body)}`);
			return r.status === 200;
		};
		for (let round = 0; round < 6; round++) {
			for (const s of sessions) {
				const id = s.ackId++;
				const val = `x-${s.worker}-${round}\u00e9`;
				const p = await post(d.port, s.sid,
				    `42${id}["echo",${JSON.stringify(val)}]`,
				    { agent });
				check(`POST ${s.sid} round ${round}`, p,
				    (b) => b === 'ok');
				// The ack is buffered: the GET returns at once
				// (possibly with a ping first).
				let found = false;
				for (let k = 0; k < 3 && !found; k++) {
					const g = await poll(d.port, s.sid,
					    { agent });
					if (!check(`GET ${s.sid} round ${round}`,
					    g))
						break;
					for (const pk of decodePayload(g.body)) {
						if (pk.type === '2') {
							check('POST pong', await post(
							    d.port, s.sid, '3',
							    { agent }));
						} else if (pk.type === '4' &&
						    pk.data === `3${id}` +
						    JSON.stringify([val])) {
							found = true;
						} else {
							bad.push(`unexpected ` +
							    `packet ${pk.type}` +
							    `${pk.data}`);
						}
					}
				}
				if (!found)
					bad.push(`no ack ${id} for ${s.sid}`);
			}
		}
		// The right session answered: whoami on each, same agent.
		for (const s of sessions) {
			const id = s.ackId++;
			check('POST whoami', await post(d.port, s.sid,
			    `42${id}["whoami"]`, { agent }), (b) => b === 'ok');
			const g = await poll(d.port, s.sid, { agent });
			if (check('GET whoami', g)) {
				const pk = decodePayload(g.body).find((x) =>
				    x.type === '4' && x.data.startsWith(`3${id}[`));
				assert.ok(pk, `whoami ack in ${g.body}`);
				const [who] = JSON.parse(pk.data.slice(`3${id}`.length));
				assert.equal(who.eioSid, s.sid);
			}
		}
		t.diagnostic(`TCP connections used: ${ports.size}`);
		assert.deepEqual(bad.filter((b) => /Session ID unknown|\b400\b/
		    .test(b)), [], 'no 400 Session ID unknown');
		assert.deepEqual(bad, []);
	}));

	it('sessions still alive on fresh connections', withLogs(async () => {
		assert.equal(sessions.length, 2, 'first test failed');
		for (const s of sessions) {
			const id = s.ackId++;
			const r = await post(d.port, s.sid, `42${id}["echo",1]`);
			assert.equal(r.status, 200);
			const ack = await pollUntil(d.port, s.sid,
			    (p) => p.startsWith(`3${id}[`));
			assert.equal(ack, `3${id}[1]`);
			assert.equal((await post(d.port, s.sid, '1')).status, 200);
		}
	}));
});

// Group commit (src/app/batch.c): many clients on two workers send
// bursts of chat:send_message with acks, so that the messages of many
// sockets share a loop turn and one COMMIT.  Every acked message is in
// the history exactly once, in send order per sender; every member gets
// each broadcast exactly once; a clientMsgId sent twice in one burst is
// one message.  On PostgreSQL, a batch whose COMMIT fails (a deferred
// constraint trigger refusing one message: a real COMMIT error) fails
// every ack of that batch with "internal" and broadcasts none of it, and
// the database going away mid-burst never acks or broadcasts a message
// that is not stored; the workers survive both.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { startDaemon, withLogs } from './lib/daemon.mjs';
import { closeAll, until } from './lib/client.mjs';
import { startPostgres, postgresBin } from './lib/postgres.mjs';
import { CHAT_CONF, login, ok, createChannel, history, tabsOnWorkers,
    auth, errorEventFor, assertNoWorkerDied } from './lib/chat.mjs';
import { mint } from './lib/token.mjs';

const ADMIN = { userId: '1', displayName: 'Admin', role: 'admin' };
const SENDERS = 6;
const BURST = 40;
const ACK_MS = 30000;

function user(i) {
	return { userId: `u${i}`, displayName: `User ${i}`, role: 'user' };
}

// emit with an ack, waiting longer than lib/client.mjs's ask (bursts).
function askLong(s, event, ...args) {
	return s.timeout(ACK_MS).emitWithAck(event, ...args);
}

/*
 * An admin and SENDERS users, spread over both workers (the first two
 * users on different ones), all in one new channel.
 */
async function room(d) {
	const admin = await login(d, ADMIN);
	const tabs = await tabsOnWorkers(d, 2);
	for (let i = 0; i < 2; i++) {
		tabs[i].label = user(i).displayName;
		await auth(tabs[i], mint(user(i)));
	}
	for (let i = 2; i < SENDERS; i++)
		tabs.push(await login(d, user(i)));
	const ch = await createChannel(admin, { name: `gc-${Date.now()}` });
	for (const t of tabs)
		await ok(t, 'join_channel', ch.id);
	return { admin, tabs, ch, all: [admin, ...tabs] };
}

/*
 * Every sender emits BURST messages at once (no await between them), the
 * clientMsgId `dup` twice in the middle, and, for sender `poisonAt`, the
 * text "poison" instead of its message 5.  Resolves, per sender, the list
 * {text, cmid, ack} in emission order.
 */
async function burst(tabs, tag, poisonAt = -1) {
	return Promise.all(tabs.map(async (t, i) => {
		const sent = [];
		for (let n = 0; n < BURST; n++) {
			const text = i === poisonAt && n === 5 ? 'poison' :
			    `${tag} ${i} ${n}`;
			const cmid = `${tag}-${i}-${n}`;
			sent.push({ text, cmid, p: askLong(t, 'chat:send_message',
			    { channelId: t.ch, message: text,
			    clientMsgId: cmid }) });
			if (n === BURST / 2) {
				sent.push({ text, cmid, resend: true,
				    p: askLong(t, 'chat:send_message',
				    { channelId: t.ch, message: text,
				    clientMsgId: cmid }) });
			}
		}
		for (const x of sent)
			x.ack = await x.p;
		return sent;
	}));
}

/*
 * The invariants of one burst: an ok ack is a stored message (once in the
 * history, in send order per sender) broadcast exactly once to every
 * member; an error ack is "internal" with the error event, and its message
 * is neither stored nor broadcast.  Resolves {okN, failed}.
 */
async function check(r, sent, tag) {
	const stored = await history(r.admin, r.ch.id);
	const mine = stored.filter((m) => m.message.startsWith(`${tag} `) ||
	    m.message === 'poison');
	const byId = new Map();
	for (const m of mine) {
		assert.ok(!byId.has(m.id), `message ${m.id} stored twice`);
		byId.set(m.id, m);
	}
	const acked = new Set();
	let failed = 0;
	for (let i = 0; i < sent.length; i++) {
		let last = 0;
		for (const x of sent[i]) {
			if (x.ack?.ok !== true) {
				assert.equal(x.ack?.error?.code, 'internal',
				    `${x.text}: ${JSON.stringify(x.ack)}`);
				assert.ok(r.tabs[i].rec.some((e) => e.event ===
				    errorEventFor('chat:send_message',
				    'internal') && e.args[0] ===
				    x.ack.error.message), `${x.text}: error event`);
				if (!x.resend) {
					assert.ok(!mine.some((m) => m.clientMsgId ===
					    x.cmid), `${x.text}: failed but stored`);
				}
				failed++;
				continue;
			}
			const m = x.ack.message;
			assert.equal(m.message, x.text);
			assert.equal(m.clientMsgId, x.cmid);
			assert.deepEqual(byId.get(m.id), m,
			    `${x.text}: acked, stored as acked`);
			if (x.resend) {
				const first = sent[i].find((y) => y.cmid === x.cmid &&
				    !y.resend);
				if (first.ack?.ok === true) {
					assert.equal(m.id, first.ack.message.id,
					    `${x.cmid}: the resend is the original`);
				}
			} else {
				assert.ok(m.id > last, `${x.text}: in send order`);
				last = m.id;
			}
			acked.add(m.id);
		}
	}
	// Nothing stored that was not acked ok.
	assert.deepEqual([...byId.keys()].filter((id) => !acked.has(id)), []);
	// Each member: every stored message once, nothing else of this burst.
	for (const s of r.all) {
		await until(() => s.rec.filter((e) => e.event ===
		    'chat:new_message' && acked.has(e.args[0]?.id)).length >=
		    acked.size, 20000, `${s.label}: all broadcasts`, 20);
		const seen = s.rec.filter((e) => e.event === 'chat:new_message' &&
		    (e.args[0]?.message?.startsWith(`${tag} `) ||
		    e.args[0]?.message === 'poison')).map((e) => e.args[0].id);
		assert.equal(seen.length, new Set(seen).size,
		    `${s.label}: a broadcast twice`);
		assert.deepEqual(seen.filter((id) => !acked.has(id)), [],
		    `${s.label}: a broadcast of a message not stored`);
		assert.equal(seen.length, acked.size, `${s.label}: broadcasts`);
	}
	return { okN: acked.size, failed };
}

/*
 * After the database came back: each socket's worker may first find its
 * old connection broken (one "internal" answer), then reconnects.
 */
async function reconnected(sockets, channelId) {
	for (const s of sockets) {
		let a;
		for (let i = 0; i < 20 && a?.ok !== true; i++)
			a = await askLong(s, 'chat:get_messages', { channelId });
		assert.equal(a?.ok, true, `${s.label}: the database is back`);
	}
}

describe('group commit on SQLite', () => {
	let d;
	const sockets = [];

	after(async () => {
		closeAll(sockets);
		if (d)
			await d.stop();
	});

	it('concurrent bursts: acked = stored once, in order, broadcast once',
	    withLogs(async () => {
		d = await startDaemon({ workers: 2, extraConf: [...CHAT_CONF,
		    'rate-limit 100000 1'] });
		const pids = d.workerPids();
		const r = await room(d);
		sockets.push(...r.all);
		for (const t of r.tabs)
			t.ch = r.ch.id;
		for (const tag of ['a', 'b']) {
			const sent = await burst(r.tabs, tag);
			const { okN, failed } = await check(r, sent, tag);
			assert.equal(failed, 0);
			// BURST per sender; the resend is the same message.
			assert.equal(okN, SENDERS * BURST);
		}
		assertNoWorkerDied(d, pids);
	}));
});

describe('group commit on PostgreSQL', () => {
	let pg, d;
	const sockets = [];

	before(async () => {
		pg = await startPostgres();
	});

	after(async () => {
		closeAll(sockets);
		if (d)
			await d.stop();
		if (pg)
			await pg.stop();
	});

	function psql(sql) {
		const r = spawnSync(path.join(postgresBin(), 'psql'),
		    ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', pg.url, '-c', sql],
		    { encoding: 'utf8' });
		assert.equal(r.status, 0, `psql: ${r.stderr}`);
	}

	it('bursts; a COMMIT that fails fails its whole batch; the database ' +
	    'going away mid-burst', withLogs(async () => {
		d = await startDaemon({ workers: 2, extraConf: [...CHAT_CONF,
		    'rate-limit 100000 1', `database ${pg.url}`] });
		const pids = d.workerPids();
		const r = await room(d);
		sockets.push(...r.all);
		for (const t of r.tabs)
			t.ch = r.ch.id;

		let res = await check(r, await burst(r.tabs, 'p'), 'p');
		assert.equal(res.failed, 0);
		assert.equal(res.okN, SENDERS * BURST);

		// A message the database refuses only at COMMIT time.
		psql('CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql' +
		    " AS $$ BEGIN IF NEW.body = 'poison' THEN RAISE EXCEPTION" +
		    " 'poisoned batch'; END IF; RETURN NULL; END $$;" +
		    ' CREATE CONSTRAINT TRIGGER poison AFTER INSERT ON messages' +
		    ' DEFERRABLE INITIALLY DEFERRED FOR EACH ROW' +
		    ' EXECUTE FUNCTION poison()');
		const sent = await burst(r.tabs, 'q', 1);
		const poison = sent[1].find((x) => x.text === 'poison');
		assert.equal(poison.ack.ok, false);
		res = await check(r, sent, 'q');
		assert.ok(res.failed >= 1);
		assert.ok(res.okN > 0, 'the other batches committed');
		psql('DROP TRIGGER poison ON messages');

		// The server stops while a burst is in flight.
		const inflight = burst(r.tabs, 'h');
		await pg.halt();
		const lost = await inflight;
		await pg.start();
		await reconnected([r.admin, r.tabs[0], r.tabs[1]], r.ch.id);
		await check(r, lost, 'h');
		res = await check(r, await burst(r.tabs, 'z'), 'z');
		assert.equal(res.failed, 0, 'back once the server is');
		assertNoWorkerDied(d, pids);
	}));
});

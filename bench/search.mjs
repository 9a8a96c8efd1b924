// Search latency: chat:search p50/p99 over a large message table.
//
// Starts confabd (src/confabd, or $CONFABD) once on a temporary data
// directory so that it creates the schema and the channels (20 public, 5
// private of which the searching user is a member of 2), stops it, fills
// the messages table directly with N messages (SQLite: the sqlite3 shell
// in one transaction; PostgreSQL: psql COPY), through the normal schema:
// the search index is kept by the database's own triggers (SQLite) or
// index (PostgreSQL), as for messages sent through the daemon.  Then it
// starts confabd again (on SQLite it waits until the workers have
// indexed them, as they index every message after its commit, and
// reports how long that took) and times chat:search from one client, query by
// query (each waits for its ack), in several kinds: a rare word, a
// common word, two words, a common word in one channel, and the second
// page of a common word (before).  Not a test: nothing is asserted.
//
// The text: 8 to 15 words per message from a vocabulary of 20000
// made-up words drawn with a skewed (Zipf-like) distribution, so that the
// commonest words are in a large share of the messages and the rarest in
// a handful.
//
//   node bench/search.mjs [messages=1000000] [queries=200] [db=sqlite|pg]
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const top = path.resolve(here, '..');
const require = createRequire(path.join(top, 'tests/js/package.json'));
const { io } = require('socket.io-client');
const { sign, SECRET } = await import(path.join(top, 'tests/js/lib/token.mjs'));

const [nmsg = '1000000', nq = '200', db = 'sqlite'] = process.argv.slice(2);
const N = Number(nmsg);
const Q = Number(nq);
const VOCAB = 20000;
const confabd = process.env.CONFABD || path.join(top, 'src/confabd');

let pg = null;
if (db === 'pg') {
	const { startPostgres } = await import(path.join(top,
	    'tests/js/lib/postgres.mjs'));
	pg = await startPostgres();
} else if (db !== 'sqlite')
	throw new Error(`db: sqlite or pg, not ${db}`);

// A deterministic generator (xorshift), so that runs are comparable.
let seed = 0x9e3779b9;
function rnd() {
	seed ^= seed << 13;
	seed >>>= 0;
	seed ^= seed >>> 17;
	seed ^= seed << 5;
	seed >>>= 0;
	return seed / 0x100000000;
}
const letters = 'abcdefghijklmnopqrstuvwxyz';
const words = [];
for (let i = 0; i < VOCAB; i++) {
	let w = '';
	for (let n = 4 + (i % 6); w.length < n;)
		w += letters[Math.floor(rnd() * 26)];
	words.push(w);
}
// Word rank r is drawn with probability ~ 1/(r+1): common words first.
const zipf = () => Math.min(VOCAB - 1, Math.floor(Math.exp(rnd() *
    Math.log(VOCAB + 1))) - 1);

const port = await new Promise((res) => {
	const srv = net.createServer().listen(0, '127.0.0.1', () => {
		const p = srv.address().port;
		srv.close(() => res(p));
	});
});
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'confabd-search-'));
fs.writeFileSync(path.join(dir, 'confabd.conf'), [
	`listen 127.0.0.1:${port}`, 'workers 2', `data-dir ${dir}`,
	`jwt-secret ${SECRET}`, 'rate-limit 100000 1', 'log-level warn',
	...(pg ? [`database ${pg.url}`] : []), '',
].join('\n'));
const url = `http://127.0.0.1:${port}`;
const token = (userId) => sign({ userId, displayName: `U${userId}`,
    role: 'admin', exp: Math.floor(Date.now() / 1000) + 3600 }, SECRET);

function start() {
	return spawn(confabd, ['-f', '-c', path.join(dir, 'confabd.conf')],
	    { stdio: 'inherit' });
}
async function stop(p) {
	p.kill('SIGTERM');
	await new Promise((r) => p.once('exit', r));
}
const connect = (userId) => new Promise((res, rej) => {
	const s = io(url, { auth: { token: token(userId) },
	    transports: ['websocket'], forceNew: true, reconnection: false });
	s.once('authenticated', () => res(s));
	s.once('connect_error', rej);
});
async function connectRetry(userId) {
	for (let i = 0; i < 100; i++) {
		try {
			return await connect(userId);
		} catch {
			await new Promise((r) => setTimeout(r, 100));
		}
	}
	throw new Error('cannot connect');
}
const ask = (s, ev, ...a) => new Promise((res) => s.emit(ev, ...a, res));

// 1. The schema and the channels, made by the daemon itself.
let d = start();
let s = await connectRetry(1);
const channels = [];
for (let i = 0; i < 20; i++)
	channels.push((await ask(s, 'channel:create', { name: `pub${i}` }))
	    .channel.id);
for (let i = 0; i < 5; i++) {
	channels.push((await ask(s, 'channel:create', { name: `priv${i}`,
	    isPrivate: true, memberIds: i < 2 ? ['2'] : [] })).channel.id);
}
s.close();
await stop(d);

// 2. The messages, straight into the database.
const t0 = Date.now();
const now = Date.now() - N;
function* rows() {
	for (let i = 0; i < N; i++) {
		const n = 8 + Math.floor(rnd() * 8);
		const b = [];
		for (let j = 0; j < n; j++)
			b.push(words[zipf()]);
		yield [channels[i % channels.length], String(1 + (i % 50)),
		    b.join(' '), now + i];
	}
}
if (pg) {
	const { postgresBin } = await import(path.join(top,
	    'tests/js/lib/postgres.mjs'));
	const psql = path.join(postgresBin(), 'psql');
	const p = spawn(psql, [pg.url, '-q', '-c', 'COPY messages(channel_id,' +
	    ' user_id, user_display_name, body, message_type, created_at)' +
	    ' FROM STDIN'], { stdio: ['pipe', 'inherit', 'inherit'] });
	let buf = '';
	for (const [c, u, b, t] of rows()) {
		buf += `${c}\t${u}\tU${u}\t${b}\ttext\t${t}\n`;
		if (buf.length > 1 << 20) {
			if (!p.stdin.write(buf))
				await new Promise((r) => p.stdin.once('drain', r));
			buf = '';
		}
	}
	p.stdin.end(buf);
	await new Promise((r) => p.once('exit', r));
	spawnSync(psql, [pg.url, '-q', '-c', 'ANALYZE messages'],
	    { stdio: 'inherit' });
} else {
	const p = spawn('sqlite3', [path.join(dir, 'confab.db')],
	    { stdio: ['pipe', 'ignore', 'inherit'] });
	let buf = 'PRAGMA journal_mode=WAL;\nBEGIN;\n', k = 0;
	for (const [c, u, b, t] of rows()) {
		buf += `${k === 0 ? 'INSERT INTO messages(channel_id, user_id,' +
		    ' user_display_name, body, message_type, created_at)' +
		    ' VALUES\n' : ',\n'}(${c},'${u}','U${u}','${b}','text',${t})`;
		if (++k === 500) {
			buf += ';\n';
			k = 0;
			if (!p.stdin.write(buf))
				await new Promise((r) => p.stdin.once('drain', r));
			buf = '';
		}
	}
	p.stdin.end(`${buf}${k ? ';\n' : ''}COMMIT;\nPRAGMA wal_checkpoint(TRUNCATE);\n`);
	await new Promise((r) => p.once('exit', r));
}
const fillS = (Date.now() - t0) / 1000;

// 3. SQLite: the daemon's workers index what was stored (after the commit,
// in batches); wait until they are done, and time it.
d = start();
let indexS = 0;
if (!pg) {
	const t1 = Date.now();
	for (;;) {
		const r = spawnSync('sqlite3', [path.join(dir, 'confab.db'),
		    'SELECT pos >= (SELECT max(id) FROM messages)' +
		    ' FROM messages_fts_pos']);
		if (r.stdout.toString().trim() === '1')
			break;
		await new Promise((res) => setTimeout(res, 500));
	}
	indexS = (Date.now() - t1) / 1000;
}

// 4. The queries, one at a time, from user 2 (member of 2 private channels).
s = await connectRetry(2);
const pct = (a, q) => a[Math.min(a.length - 1, Math.floor(q * a.length))];
const kinds = {
	'rare word': () => ({ query: words[VOCAB - 1 - Math.floor(rnd() * 5000)] }),
	'common word': () => ({ query: words[Math.floor(rnd() * 20)] }),
	'two words': () => ({ query: `${words[Math.floor(rnd() * 200)]} ` +
	    `${words[Math.floor(rnd() * 200)]}` }),
	'common word, one channel': () => ({ query: words[Math.floor(rnd() * 20)],
	    channelId: channels[Math.floor(rnd() * 22)] }),
	'common word, page 2': null,
};
console.log(`search over ${N} messages (${db}): fill ${fillS.toFixed(0)} s` +
    (pg ? ' (index kept by PostgreSQL during the COPY)' :
    `, indexed by the workers in ${indexS.toFixed(0)} s ` +
    `(${Math.round(N / Math.max(indexS, 0.001))} messages/s)`));
console.log('| query | results/page | p50 ms | p99 ms | max ms |');
console.log('|---|---|---|---|---|');
for (const [name, gen] of Object.entries(kinds)) {
	const t = [];
	let hits = 0;
	for (let i = 0; i < Q; i++) {
		let args;
		if (gen === null) {
			const w = words[Math.floor(rnd() * 20)];
			const a = await ask(s, 'chat:search', { query: w });
			args = { query: w, before: a.nextBefore ?? 1 };
		} else
			args = gen();
		const t1 = process.hrtime.bigint();
		const a = await ask(s, 'chat:search', args);
		t.push(Number(process.hrtime.bigint() - t1) / 1e6);
		if (!a.ok)
			throw new Error(`${JSON.stringify(args)}: ${JSON.stringify(a)}`);
		hits += a.messages.length;
	}
	t.sort((x, y) => x - y);
	console.log(`| ${name} | ${(hits / Q).toFixed(1)} | ` +
	    `${pct(t, 0.5).toFixed(2)} | ${pct(t, 0.99).toFixed(2)} | ` +
	    `${t.at(-1).toFixed(2)} |`);
}
s.close();
await stop(d);
if (pg)
	await pg.stop();
fs.rmSync(dir, { recursive: true, force: true });

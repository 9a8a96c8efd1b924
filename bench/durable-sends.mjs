// Durable sends: committed-and-acked chat messages per second.
//
// Starts its own confabd (src/confabd, or $CONFABD) on a free port with a
// temporary data directory and no rate limit, connects C clients over
// WebSocket that send into one channel with W messages in flight each,
// waiting for each ack ({ok:true} comes only after the commit), for D
// seconds, and prints the rate.  Not a test: nothing is asserted.  With
// db=pg the messages go to a throwaway PostgreSQL (tests/js/lib/postgres.mjs)
// instead of SQLite.
//
//   node bench/durable-sends.mjs [clients=16] [seconds=10] [window=8] [workers=2] [db=sqlite|pg]
import { spawn } from 'node:child_process';
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

const [nc = '16', secs = '10', win = '8', workers = '2', db = 'sqlite'] =
    process.argv.slice(2);
let pg = null;
if (db === 'pg') {
	const { startPostgres } = await import(path.join(top,
	    'tests/js/lib/postgres.mjs'));
	pg = await startPostgres();
} else if (db !== 'sqlite')
	throw new Error(`db: sqlite or pg, not ${db}`);
const port = await new Promise((res) => {
	const srv = net.createServer().listen(0, '127.0.0.1', () => {
		const p = srv.address().port;
		srv.close(() => res(p));
	});
});
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'confabd-bench-'));
fs.writeFileSync(path.join(dir, 'confabd.conf'), [
	`listen 127.0.0.1:${port}`, `workers ${workers}`, `data-dir ${dir}`,
	`jwt-secret ${SECRET}`, 'rate-limit 100000 1', 'log-level warn',
	...(pg ? [`database ${pg.url}`] : []), '',
].join('\n'));
const daemon = spawn(process.env.CONFABD || path.join(top, 'src/confabd'),
    ['-f', '-c', path.join(dir, 'confabd.conf')], { stdio: 'inherit' });
const url = `http://127.0.0.1:${port}`;
const token = sign({ userId: 1, displayName: 'Bench', role: 'admin',
    exp: Math.floor(Date.now() / 1000) + 3600 }, SECRET);

const connect = () => new Promise((res, rej) => {
	const s = io(url, { auth: { token }, transports: ['websocket'],
	    forceNew: true, reconnection: false });
	s.once('authenticated', () => res(s));
	s.once('connect_error', rej);
});
const ask = (s, ev, ...a) => new Promise((res) => s.emit(ev, ...a, res));

let first;
for (let i = 0; i < 50 && !first; i++) {
	try {
		first = await connect();
	} catch {
		await new Promise((r) => setTimeout(r, 100));
	}
}
const { channel } = await ask(first, 'channel:create', { name: 'bench' });
const clients = [first];
for (let i = 1; i < Number(nc); i++)
	clients.push(await connect());
for (const s of clients)
	await ask(s, 'join_channel', channel.id);
let acked = 0, failed = 0;
// CPU seconds (user + system) the daemon's workers used so far: a figure
// that the other processes of a busy machine disturb less than the rate.
const tick = 100;	// USER_HZ on Linux
function workersCpu() {
	let t = 0;
	let kids = '';
	try {
		kids = fs.readFileSync(`/proc/${daemon.pid}/task/${daemon.pid}/` +
		    'children', 'utf8');
	} catch {
		return NaN;
	}
	for (const pid of kids.trim().split(/\s+/).filter(Boolean)) {
		try {
			const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
			    .replace(/^.*\) /, '').split(' ');
			t += (Number(f[11]) + Number(f[12])) / tick;
		} catch {
			// a worker that just went away
		}
	}
	return t;
}
const cpu0 = workersCpu();
const t0 = Date.now(), until = t0 + Number(secs) * 1000;
await Promise.all(clients.map(async (s, i) => {
	const lane = async (l) => {
		let n = 0;
		while (Date.now() < until) {
			const r = await ask(s, 'chat:send_message',
			    { channelId: channel.id, message: `m ${i} ${l} ${n++}` });
			if (r && r.ok)
				acked++;
			else
				failed++;
		}
	};
	await Promise.all(Array.from({ length: Number(win) }, (_, l) => lane(l)));
}));
const dt = (Date.now() - t0) / 1000;
const cpu = workersCpu() - cpu0;
console.log(`${acked} messages committed and acked in ${dt.toFixed(1)} s: ` +
    `${Math.round(acked / dt)} msg/s (${failed} failed; ${nc} clients x ` +
    `${win} in flight, ${workers} workers, ${db}; every message also ` +
    `delivered to the ${nc} members); workers' CPU ${cpu.toFixed(2)} s, ` +
    `${(cpu * 1e6 / Math.max(acked, 1)).toFixed(0)} us per message`);
for (const s of clients)
	s.close();
daemon.kill('SIGTERM');
await new Promise((r) => daemon.once('exit', r));
if (pg)
	await pg.stop();
fs.rmSync(dir, { recursive: true, force: true });

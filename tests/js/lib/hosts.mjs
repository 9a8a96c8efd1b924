// Two confabd "hosts" sharing one redis-server and one PostgreSQL
// database, as a deployment runs them, for one describe(): registers a
// before() hook that starts them (one after the other: the first runs the
// migrations) and an after() hook that closes the sockets and stops all.
import { before, after } from 'node:test';
import { startDaemon, startRedis } from './daemon.mjs';
import { startPostgres } from './postgres.mjs';
import { closeAll } from './client.mjs';
import { CHAT_CONF, login } from './chat.mjs';

/*
 * extraConf: more lines for both hosts.  Returns a handle whose a and b
 * are the hosts' daemons from before() on, with:
 *   on(d, claims)  a logged-in tab on host d, closed by after();
 *   restart(name)  stop host 'a' or 'b' and start it again, same config;
 *   sockets, redis, pg.
 */
export function useTwoHosts({ extraConf = [], workers = 2 } = {}) {
	const h = { a: null, b: null, redis: null, pg: null, sockets: [] };
	const conf = (host) => [...CHAT_CONF, `database ${h.pg.url}`,
	    'rate-limit 10000 1', `host-id ${host}`, ...extraConf];
	const start = (name) => startDaemon({ workers,
	    redisUrl: h.redis.url, extraConf: conf(`host-${name}`) });

	h.on = async (d, claims) => {
		const s = await login(d, claims);
		h.sockets.push(s);
		return s;
	};
	h.restart = async (name) => {
		await h[name].stop();
		h[name] = await start(name);
		return h[name];
	};
	before(async () => {
		h.redis = await startRedis();
		h.pg = await startPostgres();
		h.a = await start('a');
		h.b = await start('b');
	});
	after(async () => {
		closeAll(h.sockets);
		await h.b?.stop();
		await h.a?.stop();
		await h.redis?.stop();
		await h.pg?.stop();
	});
	return h;
}

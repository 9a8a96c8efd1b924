// Raw Engine.IO v4 over HTTP long-polling (node's http module, explicit
// agents) and over WebSocket (ws), for tests that must see the wire.
import http from 'node:http';
import WebSocket from 'ws';

export const PATH = '/socket.io/';
export const RS = '\x1e';

/*
 * One HTTP request to 127.0.0.1:port.  Resolves {status, headers, body}
 * (body as a string; localPort identifies the TCP connection used), or
 * {aborted: true, error} when the server resets the
 * connection instead of answering.  Never rejects except on timeout.
 */
export function request(port, { method = 'GET', path = PATH, query = '',
    headers = {}, body = null, agent = false, timeoutMs = 10000 } = {}) {
	const p = query ? `${path}?${query}` : path;
	return new Promise((resolve, reject) => {
		const hdrs = { ...headers };
		if (body !== null && hdrs['content-type'] === undefined)
			hdrs['content-type'] = 'text/plain;charset=UTF-8';
		const req = http.request({ host: '127.0.0.1', port, method,
		    path: p, headers: hdrs, agent }, (res) => {
			const localPort = res.socket?.localPort;
			const chunks = [];
			res.on('data', (c) => chunks.push(c));
			res.on('end', () => {
				clearTimeout(timer);
				resolve({ status: res.statusCode,
				    headers: res.headers,
				    localPort,
				    body: Buffer.concat(chunks).toString('utf8') });
			});
			res.on('error', (error) => {
				clearTimeout(timer);
				resolve({ aborted: true, error });
			});
		});
		const timer = setTimeout(() => {
			req.destroy();
			reject(new Error(`${method} ${p}: no answer within ` +
			    `${timeoutMs} ms`));
		}, timeoutMs);
		req.on('error', (error) => {
			clearTimeout(timer);
			resolve({ aborted: true, error });
		});
		if (body !== null)
			req.end(body);
		else
			req.end();
	});
}

export function eioQuery(sid, transport = 'polling') {
	let q = `EIO=4&transport=${transport}&t=${Math.random().toString(36)
	    .slice(2)}`;
	if (sid)
		q += `&sid=${encodeURIComponent(sid)}`;
	return q;
}

/*
 * Decode a polling payload: packets separated by \x1e; "b"+base64 is a
 * binary message.  Returns [{type, data}] with type a digit string for text
 * packets ('4' message, '2' ping, ...) or {type: 'binary', data: Buffer}.
 */
export function decodePayload(body) {
	if (body === '')
		return [];
	return body.split(RS).map((p) => {
		if (p[0] === 'b')
			return { type: 'binary', data: Buffer.from(p.slice(1), 'base64') };
		return { type: p[0], data: p.slice(1) };
	});
}

// Encode packets (strings such as "40" or Buffers) as a polling payload.
export function encodePayload(packets) {
	return packets.map((p) => Buffer.isBuffer(p) ?
	    'b' + p.toString('base64') : p).join(RS);
}

/*
 * Polling handshake.  Resolves {sid, open, body, status, headers}; throws
 * when the answer is not a 200 open packet.
 */
export async function handshake(port, { agent = false, headers = {} } = {}) {
	const r = await request(port, { query: eioQuery(null), agent, headers });
	if (r.aborted)
		throw new Error(`handshake aborted: ${r.error.message}`);
	if (r.status !== 200 || r.body[0] !== '0') {
		throw new Error(`bad handshake: ${r.status} ` +
		    JSON.stringify(r.body));
	}
	const open = JSON.parse(r.body.slice(1));
	return { sid: open.sid, open, body: r.body, status: r.status,
	    headers: r.headers };
}

export function poll(port, sid, { agent = false, headers = {},
    timeoutMs = 10000 } = {}) {
	return request(port, { query: eioQuery(sid), agent, headers, timeoutMs });
}

export function post(port, sid, body, { agent = false, headers = {} } = {}) {
	return request(port, { method: 'POST', query: eioQuery(sid), agent,
	    headers, body });
}

/*
 * GET until a text message packet satisfying pred (given the packet data
 * without the Engine.IO '4') arrives.  Pings are answered with a POSTed
 * pong.  Resolves the data string; throws on a non-200 answer or timeout.
 */
export async function pollUntil(port, sid, pred, { agent = false,
    timeoutMs = 10000 } = {}) {
	const deadline = Date.now() + timeoutMs;
	while (Date.now() < deadline) {
		const r = await poll(port, sid, { agent,
		    timeoutMs: deadline - Date.now() + 100 });
		if (r.aborted)
			throw new Error(`GET aborted: ${r.error.message}`);
		if (r.status !== 200) {
			throw new Error(`GET sid=${sid}: ${r.status} ` +
			    JSON.stringify(r.body));
		}
		for (const p of decodePayload(r.body)) {
			if (p.type === '2')
				await post(port, sid, '3', { agent });
			else if (p.type === '1')
				throw new Error(`session ${sid} closed by server`);
			else if (p.type === '4' && pred(p.data))
				return p.data;
		}
	}
	throw new Error(`pollUntil sid=${sid}: timed out`);
}

/*
 * Open a raw WebSocket to the Engine.IO endpoint.  The returned object
 * queues incoming messages: next(timeoutMs) resolves the next one
 * ({text} or {binary: Buffer}); `closed` resolves {code, reason} once the
 * connection is closed; `opened` resolves on the 101 and rejects (with
 * .status) when the upgrade is refused.
 */
export function wsOpen(port, { sid = null, headers = {}, origin } = {}) {
	const url = `ws://127.0.0.1:${port}${PATH}?${eioQuery(sid, 'websocket')}`;
	const opts = { headers, perMessageDeflate: false };
	if (origin !== undefined)
		opts.origin = origin;
	const ws = new WebSocket(url, opts);
	const queue = [];
	const waiters = [];
	ws.on('message', (data, isBinary) => {
		const m = isBinary ? { binary: Buffer.from(data) } :
		    { text: data.toString('utf8') };
		const w = waiters.shift();
		if (w)
			w.resolve(m);
		else
			queue.push(m);
	});
	const closed = new Promise((resolve) => {
		ws.on('close', (code, reason) => {
			for (const w of waiters.splice(0))
				w.reject(new Error(`closed (${code})`));
			resolve({ code, reason: reason.toString() });
		});
	});
	const opened = new Promise((resolve, reject) => {
		ws.on('open', resolve);
		ws.on('unexpected-response', (req, res) => {
			const e = new Error(`upgrade refused: ${res.statusCode}`);
			e.status = res.statusCode;
			res.resume();
			req.destroy();
			reject(e);
		});
		ws.on('error', (e) => reject(e));
	});
	opened.catch(() => {});
	return {
		ws,
		opened,
		closed,
		send: (d) => ws.send(d),
		next(timeoutMs = 5000) {
			if (queue.length)
				return Promise.resolve(queue.shift());
			if (ws.readyState === WebSocket.CLOSED)
				return Promise.reject(new Error('closed'));
			return new Promise((resolve, reject) => {
				const w = { resolve, reject };
				const timer = setTimeout(() => {
					const i = waiters.indexOf(w);
					if (i >= 0)
						waiters.splice(i, 1);
					reject(new Error(`no message within ${timeoutMs} ms`));
				}, timeoutMs);
				w.resolve = (m) => { clearTimeout(timer); resolve(m); };
				w.reject = (e) => { clearTimeout(timer); reject(e); };
				waiters.push(w);
			});
		},
		// Next text message that is not a ping (pings are answered).
		async nextText(timeoutMs = 5000) {
			for (;;) {
				const m = await this.next(timeoutMs);
				if (m.text === '2') {
					ws.send('3');
					continue;
				}
				return m;
			}
		},
		close: () => ws.terminate(),
	};
}

/*
 * WebSocket-only session joined to namespace "/": resolves the wsOpen
 * object with .sid (Engine.IO) and .open (handshake JSON).
 */
export async function wsSession(port, opts = {}) {
	const c = wsOpen(port, opts);
	await c.opened;
	const o = await c.next();
	if (!o.text || o.text[0] !== '0')
		throw new Error(`expected open packet, got ${JSON.stringify(o)}`);
	c.open = JSON.parse(o.text.slice(1));
	c.sid = c.open.sid;
	c.send('40');
	const con = await c.nextText();
	if (!/^40\{/.test(con.text))
		throw new Error(`expected 40{...}, got ${JSON.stringify(con)}`);
	return c;
}

/*
 * Resolves true when the WebSocket gets closed within timeoutMs (nothing
 * else it sends matters), false otherwise.  Pings are not answered.
 */
export async function closesWithin(c, timeoutMs = 3000) {
	let timer;
	const r = await Promise.race([
		c.closed.then(() => true),
		new Promise((res) => {
			timer = setTimeout(() => res(false), timeoutMs);
		}),
	]);
	clearTimeout(timer);
	return r;
}

// The OpenAPI document (doc/openapi.json, served at /api/v1/openapi.json)
// against the running server (issue 14): its paths are exactly the route
// table of src/app/api.c; every documented path and method answers a valid
// request (never 404 "No such endpoint"); every answer's status is
// documented for its operation and its body matches the documented schema
// (Ajv, JSON Schema 2020-12); and every documented status but 503 is
// provoked at least once, so that the document lists no answer the server
// cannot give.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { useDaemon, withLogs, REPO_ROOT } from './lib/daemon.mjs';
import { CHAT_CONF, login, uniq, waitFor, mark, assertNone, ok, refused,
    listed, disconnected, openTab } from './lib/chat.mjs';
import { ask } from './lib/client.mjs';
import { mint, nowSec } from './lib/token.mjs';

const KEY = 'k'.repeat(20) + '0123456789abcdefghij';
const WRONG_KEY = 'w'.repeat(40);
const METHODS = ['get', 'put', 'post', 'patch', 'delete'];
// What doc/api.md says the endpoints emit to sockets.
const ALICE = { userId: '501', displayName: 'Alice', role: 'agent' };
const BOB = { userId: '502', displayName: 'Bob', role: 'agent' };
const CAROL = { userId: 'carol-503', displayName: 'Carol', role: 'user' };
// The statuses a test can provoke at will (503 needs a dead database).
const PROVOKED = new Set(['200', '201', '400', '401', '403', '404', '409', '413',
    '415', '429']);

/*
 * One HTTP request on a new connection: opts.body (an object: JSON; a
 * string: sent as is), opts.type (Content-Type; default application/json
 * with a body), opts.key (null: no Authorization), opts.headers, and
 * opts.length (a Content-Length announced without sending a body).
 * Resolves {status, type, text, json}.
 */
function request(base, method, url, opts = {}) {
	const { key = KEY, headers = {}, length } = opts;
	let payload = null;
	if (opts.body !== undefined) {
		payload = typeof opts.body === 'string' ? opts.body :
		    JSON.stringify(opts.body);
	}
	const h = { ...headers };
	if (key !== null)
		h.Authorization = `Bearer ${key}`;
	if (payload !== null) {
		h['Content-Type'] = opts.type ?? 'application/json';
		h['Content-Length'] = Buffer.byteLength(payload);
	} else if (length !== undefined) {
		h['Content-Type'] = 'application/json';
		h['Content-Length'] = length;
	} else if (method !== 'GET' && method !== 'DELETE') {
		h['Content-Length'] = 0;
	}
	return new Promise((resolve, reject) => {
		const req = http.request(`${base}${url}`, { method, headers: h,
		    agent: false }, (res) => {
			let text = '';
			res.setEncoding('utf8');
			res.on('data', (c) => { text += c; });
			res.on('end', () => {
				let json;
				try {
					json = JSON.parse(text);
				} catch {
					json = undefined;
				}
				resolve({ status: res.statusCode,
				    type: res.headers['content-type'], text,
				    json });
			});
		});
		req.setTimeout(5000, () => req.destroy(new Error(
		    `${method} ${url}: no answer within 5 s`)));
		req.on('error', reject);
		if (payload !== null)
			req.write(payload);
		// An announced body never sent: the answer comes first.
		if (length !== undefined)
			req.flushHeaders();
		else
			req.end();
	});
}

// "METHOD pattern" of every route of src/app/api.c's routes[].
function routeTable() {
	const src = fs.readFileSync(path.join(REPO_ROOT, 'src', 'app',
	    'api.c'), 'utf8');
	const m = /static const struct route routes\[\] = \{([\s\S]*?)\n\};/
	    .exec(src);
	assert.ok(m, 'routes[] not found in src/app/api.c');
	const out = [];
	for (const r of m[1].matchAll(/\{\s*"([A-Z]+)",\s*"([^"]+)",\s*\w+\s*\}/g))
		out.push(`${r[1]} ${r[2]}`);
	assert.ok(out.length > 0, 'no route parsed out of routes[]');
	return out.sort();
}

// "METHOD pattern" of every operation of the document, {x} as {}.
function documented(doc) {
	const out = [];
	for (const [p, item] of Object.entries(doc.paths)) {
		for (const m of METHODS) {
			if (item[m])
				out.push(`${m.toUpperCase()} ${p.replace(/\{[^}/]+\}/g,
				    '{}')}`);
		}
	}
	return out.sort();
}

/*
 * The document's schemas made checkable by Ajv in strict mode: the
 * components under $defs of one schema, every "#/components/schemas/X"
 * pointing there.
 */
function makeAjv(doc) {
	const ajv = new Ajv2020({ strict: true, allErrors: true });
	addFormats(ajv);
	const rewrite = (v) => {
		if (Array.isArray(v))
			return v.map(rewrite);
		if (v === null || typeof v !== 'object')
			return v;
		const o = {};
		for (const [k, x] of Object.entries(v)) {
			o[k] = k === '$ref' && typeof x === 'string' ?
			    x.replace('#/components/schemas/',
			    'urn:confabd:components#/$defs/') : rewrite(x);
		}
		return o;
	};
	ajv.addSchema({ $id: 'urn:confabd:components',
	    $defs: rewrite(doc.components.schemas) });
	const cache = new Map();
	return (schema) => {
		if (!cache.has(schema))
			cache.set(schema, ajv.compile(rewrite(schema)));
		return cache.get(schema);
	};
}

describe('the OpenAPI document against the server', () => {
	const sockets = [];
	const d = useDaemon({ workers: 2, sockets, extraConf: [...CHAT_CONF,
	    `api-key backend ${KEY}`, 'max-payload 64k'] });
	let doc, validator;
	// "METHOD template" -> Set of statuses seen.
	const seen = new Map();
	// [regex, template] of every documented path.
	let templates;

	const resolveRef = (r) => {
		if (!r.$ref)
			return r;
		const parts = r.$ref.replace(/^#\//, '').split('/');
		return parts.reduce((o, k) => o[k], doc);
	};

	function operation(method, url) {
		const p = url.split('?')[0];
		const hit = templates.find(([re]) => re.test(p));
		assert.ok(hit, `${method} ${p}: no documented path matches`);
		const op = doc.paths[hit[1]][method.toLowerCase()];
		assert.ok(op, `${method} ${hit[1]}: the method is not documented`);
		return [`${method} ${hit[1]}`, op];
	}

	// Check an answer against the document; returns it.
	function check(method, url, res) {
		const [name, op] = operation(method, url);
		const what = `${method} ${url} -> ${res.status} ${res.text}`;
		assert.ok(!(res.status === 404 &&
		    res.json?.error?.message === 'No such endpoint'),
		    `documented, but the server has no such endpoint: ${what}`);
		const doced = op.responses[String(res.status)];
		assert.ok(doced, `status not documented: ${what}`);
		const r = resolveRef(doced);
		const schema = r.content?.['application/json']?.schema;
		assert.ok(schema, `${name} ${res.status}: no JSON schema`);
		assert.match(res.type ?? '', /^application\/json/, what);
		assert.notEqual(res.json, undefined, `not JSON: ${what}`);
		const v = validator(schema);
		assert.ok(v(res.json), `${what}\ndoes not match the schema: ` +
		    JSON.stringify(v.errors, null, 1));
		if (!seen.has(name))
			seen.set(name, new Set());
		seen.get(name).add(String(res.status));
		return res;
	}

	// A request whose answer must be `status` and match the document.
	async function call(method, url, opts, status) {
		const res = await request(d.url, method, url, opts);
		assert.equal(res.status, status, `${method} ${url} ` +
		    `${opts?.body !== undefined ? JSON.stringify(opts.body) :
		    ''} -> ${res.status} ${res.text}`);
		return check(method, url, res).json;
	}

	before(async () => {
		const res = await request(d.url, 'GET', '/api/v1/openapi.json');
		assert.equal(res.status, 200, res.text);
		doc = res.json;
		validator = makeAjv(doc);
		templates = Object.keys(doc.paths).map((p) => [new RegExp('^' +
		    p.replace(/\{[^}/]+\}/g, '[^/]+') + '$'), p]);
	});

	it('is the document of doc/openapi.json, OpenAPI 3.1', () => {
		const file = JSON.parse(fs.readFileSync(path.join(REPO_ROOT,
		    'doc', 'openapi.json'), 'utf8'));
		assert.deepEqual(doc, file);
		assert.match(doc.openapi, /^3\.1\.\d+$/);
		assert.deepEqual(doc.security, [{ bearerAuth: [] }]);
		assert.equal(doc.components.securitySchemes.bearerAuth.scheme,
		    'bearer');
	});

	it('documents exactly the routes of src/app/api.c', () => {
		assert.deepEqual(documented(doc), routeTable());
	});

	it('gives every operation an id, JSON answers and the shared ' +
	    'error body', () => {
		const ids = new Set();
		for (const [p, item] of Object.entries(doc.paths)) {
			for (const m of METHODS.filter((x) => item[x])) {
				const op = item[m];
				assert.ok(op.operationId, `${m} ${p}`);
				assert.ok(!ids.has(op.operationId), op.operationId);
				ids.add(op.operationId);
				for (const [st, r] of Object.entries(op.responses)) {
					const s = resolveRef(r).content?.[
					    'application/json']?.schema;
					assert.ok(s, `${m} ${p} ${st}`);
					if (Number(st) >= 400) {
						assert.deepEqual(s, { $ref:
						    '#/components/schemas/Error' },
						    `${m} ${p} ${st}`);
					}
				}
				assert.ok(op.responses['401'], `${m} ${p}: 401`);
				assert.ok(op.responses['429'], `${m} ${p}: 429`);
			}
		}
	});

	it('every documented path answers valid requests as documented',
	    withLogs(async () => {
		const name = uniq('ticket');
		// Users first, so that members have names.
		let r = await call('PUT', '/api/v1/users/42',
		    { body: { displayName: 'Agent Smith', role: 'agent' } }, 200);
		assert.equal(r.user.id, 42);
		r = await call('PUT', '/api/v1/users/cust-1',
		    { body: { displayName: 'Customer', role: 'user' } }, 200);
		assert.equal(r.user.id, 'cust-1');

		r = await call('POST', '/api/v1/channels', { body: { name,
		    description: 'Ticket 1', isPrivate: true,
		    memberIds: [42, 'cust-1'], createdBy: 7 } }, 201);
		const ch = r.channel;
		assert.equal(ch.createdBy, 7);
		assert.equal(ch.isPrivate, true);
		assert.equal(ch.archivedAt, undefined);
		r = await call('POST', '/api/v1/channels', { body: {
		    name: uniq('bare') } }, 201);
		assert.equal(r.channel.createdBy, 0);
		assert.equal(r.channel.description, null);
		const other = r.channel;

		r = await call('GET', '/api/v1/channels', {}, 200);
		assert.ok(r.channels.some((c) => c.id === ch.id));
		r = await call('GET', `/api/v1/channels?limit=1&after=${ch.id - 1}`,
		    {}, 200);
		assert.deepEqual(r.channels.map((c) => c.id), [ch.id]);
		assert.equal(r.hasMore, true);
		await call('GET', `/api/v1/channels/${ch.id}`, {}, 200);
		r = await call('PATCH', `/api/v1/channels/${ch.id}`, { body: {
		    description: null, isPrivate: false, userId: 42 } }, 200);
		assert.equal(r.channel.description, null);
		await call('PATCH', `/api/v1/channels/${ch.id}`, { body: {
		    name: `${name}-renamed` } }, 200);

		r = await call('GET', `/api/v1/channels/${ch.id}/members`, {},
		    200);
		// By user id as text.
		assert.deepEqual(r.members.map((m) => m.userId), [42, 7,
		    'cust-1']);
		assert.equal(r.members.find((m) => m.userId === 42).displayName,
		    'Agent Smith');
		assert.equal(r.members.find((m) => m.userId === 7).role, null);
		r = await call('PUT', `/api/v1/channels/${ch.id}/members/99`, {},
		    201);
		assert.deepEqual(r, { channelId: ch.id, userId: 99, added: true });
		r = await call('PUT', `/api/v1/channels/${ch.id}/members/99`, {},
		    200);
		assert.equal(r.added, false);
		r = await call('DELETE', `/api/v1/channels/${ch.id}/members/99`,
		    {}, 200);
		assert.deepEqual(r, { channelId: ch.id, userId: 99,
		    removed: true });

		const ikey = uniq('idem');
		r = await call('POST', `/api/v1/channels/${ch.id}/messages`, {
		    body: { message: 'Ticket opened' },
		    headers: { 'Idempotency-Key': ikey } }, 201);
		const sys = r.message;
		assert.equal(sys.userId, 0);
		assert.equal(sys.userDisplayName, 'System');
		assert.equal(sys.clientMsgId, ikey);
		assert.equal(r.duplicate, false);
		r = await call('POST', `/api/v1/channels/${ch.id}/messages`, {
		    body: { message: 'Ticket opened' },
		    headers: { 'Idempotency-Key': ikey } }, 200);
		assert.equal(r.duplicate, true);
		assert.equal(r.message.id, sys.id);
		r = await call('POST', `/api/v1/channels/${ch.id}/messages`, {
		    body: { message: 'On it', userId: '42', replyToId: sys.id,
		    messageType: 'ticket_link' } }, 201);
		assert.equal(r.message.userId, 42);
		assert.equal(r.message.userDisplayName, 'Agent Smith');
		assert.equal(r.message.replyToId, sys.id);
		assert.equal(r.message.clientMsgId, undefined);
		r = await call('POST', `/api/v1/channels/${ch.id}/messages`, {
		    body: { message: 'Bot here', userId: 'bot',
		    displayName: 'Helper', replyToId: String(sys.id),
		    messageType: null } }, 201);
		assert.equal(r.message.userDisplayName, 'Helper');
		r = await call('GET', `/api/v1/channels/${ch.id}/messages`, {},
		    200);
		assert.equal(r.messages.length, 3);
		r = await call('GET', `/api/v1/channels/${ch.id}/messages?` +
		    `after=${sys.id}&limit=1`, {}, 200);
		assert.equal(r.messages.length, 1);
		assert.equal(r.hasMore, true);
		await call('GET', `/api/v1/channels/${ch.id}/messages?before=` +
		    `${sys.id + 1}`, {}, 200);

		// A user with a live socket: online, one connection.
		const s = await login(d, { userId: '42',
		    displayName: 'Agent Smith', role: 'agent' });
		sockets.push(s);
		r = await call('GET', '/api/v1/users/42', {}, 200);
		assert.equal(r.user.status, 'online');
		assert.equal(r.user.connections, 1);
		r = await call('GET', '/api/v1/users/cust-1', {}, 200);
		assert.equal(r.user.status, 'offline');
		r = await call('GET', '/api/v1/presence?userIds=42,cust-1,nobody',
		    {}, 200);
		assert.deepEqual(r.presence.map((p) => [p.userId, p.connections]),
		    [[42, 1], ['cust-1', 0], ['nobody', 0]]);
		r = await call('GET', '/api/v1/search?q=system&limit=1', {}, 200);
		assert.equal(typeof r.hasMore, 'boolean');
		await call('GET', `/api/v1/search?q=a%20b&userId=42&channelId=` +
		    `${ch.id}&before=99999`, {}, 200);

		await call('POST', '/api/v1/emit', { body: { room: 'user:42',
		    event: 'ticket_assigned', args: [{ ticket: 1 }, 'x'] } },
		    200);
		await call('POST', '/api/v1/emit', { body: {
		    room: `channel:${ch.id}`, event: 'ticket_updated' } }, 200);
		await call('POST', '/api/v1/emit', { body: {
		    room: 'authenticated', event: 'maintenance', args: null } },
		    200);
		r = await call('POST', '/api/v1/broadcasts', { body: {
		    message: 'Maintenance at noon', priority: 'high' } }, 201);
		await call('POST', '/api/v1/broadcasts', { body: {
		    message: 'Back' } }, 201);

		r = await call('POST', '/api/v1/users/42/disconnect', {}, 200);
		assert.deepEqual(r, { userId: 42 });
		r = await call('POST', '/api/v1/users/42/revoke', {}, 200);
		assert.equal(r.userId, 42);
		r = await call('POST', '/api/v1/users/cust-1/revoke', { body: {
		    before: '2026-01-31T12:00:00Z' } }, 200);
		assert.equal(r.revokedBefore, '2026-01-31T12:00:00.000Z');
		await call('POST', '/api/v1/users/cust-1/revoke', { body: {
		    before: null } }, 200);

		r = await call('DELETE', `/api/v1/channels/${other.id}`, {}, 200);
		assert.ok(r.channel.archivedAt);
		r = await call('DELETE', `/api/v1/channels/${other.id}`, {}, 200);
		await call('GET', `/api/v1/channels/${other.id}/messages`, {},
		    200);
		r = await call('GET', `/api/v1/channels/${other.id}`, {}, 200);
		assert.ok(r.channel.archivedAt);

		// A direct channel: created once, then found; never changed.
		r = await call('POST', '/api/v1/dms', { body: { userIds: [42,
		    'cust-1'] } }, 201);
		assert.equal(r.channel.kind, 'direct');
		assert.equal(r.created, true);
		const dm = r.channel;
		r = await call('POST', '/api/v1/dms', { body: { userIds: ['cust-1',
		    '42'] } }, 200);
		assert.equal(r.channel.id, dm.id);
		r = await call('POST', `/api/v1/channels/${ch.id}/messages`, {
		    body: { message: 'ping', userId: 42, mentions: [99] } }, 400);
		const D = `/api/v1/channels/${dm.id}`;
		r = await call('POST', `${D}/messages`, { body: { message: 'hi',
		    userId: 42, mentions: ['cust-1'] } }, 201);
		assert.deepEqual(r.message.mentions, ['cust-1']);
		await call('PATCH', D, { body: { name: 'x' } }, 403);
		await call('DELETE', D, {}, 403);
		await call('PUT', `${D}/members/99`, {}, 403);
		await call('DELETE', `${D}/members/42`, {}, 403);

		await call('GET', '/api/v1/openapi.json', {}, 200);
	}));

	it('every documented error answers the error body', withLogs(async () => {
		const ch = (await call('POST', '/api/v1/channels', { body: {
		    name: uniq('errors') } }, 201)).channel;
		const arch = (await call('POST', '/api/v1/channels', { body: {
		    name: uniq('archived'), memberIds: [5] } }, 201)).channel;
		await call('DELETE', `/api/v1/channels/${arch.id}`, {}, 200);
		const C = `/api/v1/channels/${ch.id}`;
		const A = `/api/v1/channels/${arch.id}`;
		const NO = '/api/v1/channels/987654321';
		const LONG = 'u'.repeat(64);
		const op = (m, u) => [m, u];
		// One valid-looking request per operation.
		const ops = [
			op('GET', '/api/v1/channels'),
			op('POST', '/api/v1/channels'),
			op('GET', C), op('PATCH', C), op('DELETE', C),
			op('GET', `${C}/members`),
			op('PUT', `${C}/members/5`),
			op('DELETE', `${C}/members/5`),
			op('GET', `${C}/messages`),
			op('POST', `${C}/messages`),
			op('POST', '/api/v1/dms'),
			op('PUT', '/api/v1/users/5'),
			op('GET', '/api/v1/users/5'),
			op('POST', '/api/v1/users/5/disconnect'),
			op('POST', '/api/v1/users/5/revoke'),
			op('GET', '/api/v1/presence?userIds=5'),
			op('GET', '/api/v1/search?q=x'),
			op('POST', '/api/v1/emit'),
			op('POST', '/api/v1/broadcasts'),
			op('GET', '/api/v1/openapi.json'),
		];
		const hasBody = (m) => ['POST', 'PUT', 'PATCH'].includes(m);

		for (const [m, u] of ops) {
			// 401: no key, a wrong key, not a bearer.
			await call(m, u, { key: null }, 401);
			await call(m, u, { key: WRONG_KEY }, 401);
			await call(m, u, { key: null, headers: {
			    Authorization: `Basic ${KEY}` } }, 401);
			if (hasBody(m)) {
				// 400: not JSON, not an object; 413; 415.
				await call(m, u, { body: '{"a":' }, 400);
				await call(m, u, { body: '[1]' }, 400);
				await call(m, u, { length: 1000000 }, 413);
				await call(m, u, { body: '{}', type:
				    'text/plain' }, 415);
				await call(m, u, { body: 'x=1', type:
				    'application/x-www-form-urlencoded' }, 415);
			} else {
				// 400: a body on GET or DELETE.
				await call(m, u, { body: {} }, 400);
			}
		}

		// 400: fields and query arguments.
		const bad = [
			['GET', '/api/v1/channels?limit=0'],
			['GET', '/api/v1/channels?limit=101'],
			['GET', '/api/v1/channels?after=x'],
			['POST', '/api/v1/channels', {}],
			['POST', '/api/v1/channels', { name: '  ' }],
			['POST', '/api/v1/channels', { name: 'x'.repeat(101) }],
			['POST', '/api/v1/channels', { name: 'a', extra: 1 }],
			['POST', '/api/v1/channels', { name: 'a', isPrivate: 1 }],
			['POST', '/api/v1/channels', { name: 'a', memberIds: 5 }],
			['POST', '/api/v1/channels', { name: 'a',
			    memberIds: [-1] }],
			['POST', '/api/v1/channels', { name: 'a', createdBy: 0 }],
			['POST', '/api/v1/channels', { name: 'a',
			    description: 5 }],
			['PATCH', C, {}],
			['PATCH', C, { userId: 5 }],
			['PATCH', C, { name: null }],
			['PATCH', C, { isPrivate: null }],
			['PATCH', C, { topic: 'x' }],
			['GET', `${C}/messages?before=1&after=1`],
			['GET', `${C}/messages?limit=1000`],
			['GET', `${C}/messages?before=-1`],
			['POST', `${C}/messages`, {}],
			['POST', `${C}/messages`, { message: ' ' }],
			['POST', `${C}/messages`, { message: 'a',
			    messageType: 'video' }],
			['POST', `${C}/messages`, { message: 'a', userId: 0 }],
			['POST', `${C}/messages`, { message: 'a',
			    displayName: '' }],
			['POST', `${C}/messages`, { message: 'a', replyToId: 0 }],
			['POST', `${C}/messages`, { message: 'a', clientMsgId:
			    'x' }],
			['POST', '/api/v1/dms', {}],
			['POST', '/api/v1/dms', { userIds: [5] }],
			['POST', '/api/v1/dms', { userIds: [5, 0] }],
			['POST', `${C}/messages`, { message: 'a', mentions: 5 }],
			['PUT', '/api/v1/users/5', { displayName: 'x' }],
			['PUT', '/api/v1/users/5', { displayName: 'x',
			    role: 'nosuchrole' }],
			['PUT', '/api/v1/users/5', { displayName: 'x',
			    role: 'user', permissions: [] }],
			['POST', '/api/v1/users/5/revoke', { before: 5 }],
			['POST', '/api/v1/users/5/revoke', {
			    before: '2099-01-01T00:00:00Z' }],
			['POST', '/api/v1/users/5/revoke', {
			    before: '2026-01-01 00:00:00' }],
			['GET', '/api/v1/presence'],
			['GET', '/api/v1/presence?userIds='],
			['GET', '/api/v1/presence?userIds=1,,2'],
			['GET', `/api/v1/presence?userIds=${LONG}`],
			['GET', `/api/v1/presence?userIds=${Array.from(
			    { length: 101 }, (_, i) => i + 1).join(',')}`],
			['GET', '/api/v1/search'],
			['GET', '/api/v1/search?q=%20'],
			['GET', '/api/v1/search?q=x&limit=0'],
			['GET', '/api/v1/search?q=x&channelId=0'],
			['GET', `/api/v1/search?q=x&userId=${LONG}`],
			['POST', '/api/v1/emit', {}],
			['POST', '/api/v1/emit', { room: 'everyone',
			    event: 'x' }],
			['POST', '/api/v1/emit', { room: 'channel:01',
			    event: 'x' }],
			['POST', '/api/v1/emit', { room: 'user:5',
			    event: 'chat:new_message' }],
			['POST', '/api/v1/emit', { room: 'user:5',
			    event: 'call:custom' }],
			['POST', '/api/v1/emit', { room: 'user:5',
			    event: 'join_channel' }],
			['POST', '/api/v1/emit', { room: 'user:5', event: 'x',
			    args: {} }],
			['POST', '/api/v1/emit', { room: 'user:5', event: 'x',
			    args: new Array(17).fill(0) }],
			['POST', '/api/v1/emit', { room: 'user:5', event: 'x',
			    to: 'y' }],
			['POST', '/api/v1/broadcasts', {}],
			['POST', '/api/v1/broadcasts', { message: 'a',
			    priority: 'urgent' }],
		];
		for (const [m, u, body] of bad)
			await call(m, u, body === undefined ? {} : { body }, 400);
		await call('POST', `${C}/messages`, { body: { message: 'a' },
		    headers: { 'Idempotency-Key': 'i'.repeat(129) } }, 400);

		// 404: unknown channel, user, member; ids that are none.
		for (const u of [NO, '/api/v1/channels/abc', '/api/v1/channels/0',
		    `${NO}/members`, `${NO}/messages`,
		    `/api/v1/search?q=x&channelId=${NO.split('/').pop()}`])
			await call('GET', u, {}, 404);
		await call('PATCH', NO, { body: { name: 'x' } }, 404);
		await call('DELETE', NO, {}, 404);
		await call('PUT', `${NO}/members/5`, {}, 404);
		await call('PUT', `${C}/members/${LONG}`, {}, 404);
		await call('DELETE', `${NO}/members/5`, {}, 404);
		await call('DELETE', `${C}/members/nobody`, {}, 404);
		await call('POST', `${NO}/messages`, { body: { message: 'a' } },
		    404);
		await call('POST', `${C}/messages`, { body: { message: 'a',
		    replyToId: 987654321 } }, 404);
		await call('GET', '/api/v1/users/nobody', {}, 404);
		await call('POST', '/api/v1/dms', { body: { userIds: [5,
		    'nobody'] } }, 404);
		await call('PUT', `/api/v1/users/${LONG}`, { body: {
		    displayName: 'x', role: 'user' } }, 404);
		await call('POST', `/api/v1/users/${LONG}/disconnect`, {}, 404);
		await call('POST', `/api/v1/users/${LONG}/revoke`, {}, 404);

		// 409: a name taken (case-insensitively), an archived channel.
		await call('POST', '/api/v1/channels', { body: {
		    name: ch.name.toUpperCase() } }, 409);
		const ch2 = (await call('POST', '/api/v1/channels', { body: {
		    name: uniq('second') } }, 201)).channel;
		await call('PATCH', `/api/v1/channels/${ch2.id}`, { body: {
		    name: ch.name } }, 409);
		await call('PATCH', A, { body: { description: 'x' } }, 409);
		await call('PUT', `${A}/members/6`, {}, 409);
		await call('DELETE', `${A}/members/5`, {}, 409);
		const r = await call('POST', `${A}/messages`, { body: {
		    message: 'a' } }, 409);
		assert.equal(r.error.code, 'archived');

		// 405 (no operation's own answer: the shared response).
		const mna = resolveRef(doc.components.responses
		    .MethodNotAllowed).content['application/json'].schema;
		for (const [m, u] of [['PUT', '/api/v1/channels'],
		    ['DELETE', '/api/v1/presence'], ['POST', C],
		    ['GET', '/api/v1/emit']]) {
			const res = await request(d.url, m, u);
			assert.equal(res.status, 405, `${m} ${u}: ${res.text}`);
			const v = validator(mna);
			assert.ok(v(res.json), JSON.stringify(v.errors));
		}
		// A path no route has.
		const res = await request(d.url, 'GET', '/api/v1/nothing');
		assert.equal(res.status, 404);
		assert.equal(res.json.error.message, 'No such endpoint');
	}));

	it('tells the sockets what doc/api.md says', withLogs(async () => {
		const alice = await login(d, ALICE);
		const bob = await login(d, BOB, { notOn: [alice.who.pid] });
		sockets.push(alice, bob);
		const api = (m, u, o = {}) => request(d.url, m, u, o);

		// Create with a member: channel:added {channel, addedBy}.
		let res = await api('POST', '/api/v1/channels', { body: {
		    name: uniq('events'), memberIds: [501] } });
		assert.equal(res.status, 201, res.text);
		const ch = res.json.channel;
		let ev = await waitFor(alice, 'channel:added');
		assert.deepEqual(ev, { channel: ch, addedBy: 'backend' });
		assert.ok(await listed(alice, ch.id), 'in channel:list');
		await ok(alice, 'join_channel', ch.id);

		// A system message: chat:new_message with userId 0, once.
		const C = `/api/v1/channels/${ch.id}`;
		const idem = { 'Idempotency-Key': uniq('k') };
		res = await api('POST', `${C}/messages`, { body: {
		    message: 'Ticket opened' }, headers: idem });
		assert.equal(res.status, 201, res.text);
		ev = await waitFor(alice, 'chat:new_message');
		assert.deepEqual(ev, res.json.message);
		assert.equal(ev.userId, 0);
		assert.equal(ev.userDisplayName, 'System');
		let m = await mark([alice]);
		res = await api('POST', `${C}/messages`, { body: {
		    message: 'Ticket opened' }, headers: idem });
		assert.equal(res.status, 200, res.text);
		await assertNone(m, ['chat:new_message']);

		// PATCH: channel_updated, updatedBy the userId given.
		res = await api('PATCH', C, { body: { description: 'd',
		    userId: 7 } });
		assert.equal(res.status, 200, res.text);
		ev = await waitFor(alice, 'channel_updated');
		assert.deepEqual([ev.channelId, ev.changes, ev.updatedBy,
		    ev.updaterName], [ch.id, { description: 'd' }, 7, '7']);

		// A custom event with its arguments; a broadcast from the key.
		res = await api('POST', '/api/v1/emit', { body: {
		    room: 'user:501', event: 'ticket_assigned',
		    args: [{ ticketId: 1042 }, 2] } });
		assert.equal(res.status, 200, res.text);
		await waitFor(alice, 'ticket_assigned');
		assert.deepEqual(alice.rec.find((r) => r.event ===
		    'ticket_assigned').args, [{ ticketId: 1042 }, 2]);
		res = await api('POST', '/api/v1/broadcasts', { body: {
		    message: 'Maintenance' } });
		assert.equal(res.status, 201, res.text);
		ev = await waitFor(bob, 'system_broadcast_received');
		assert.deepEqual([ev.message, ev.priority, ev.from,
		    ev.broadcastId], ['Maintenance', 'normal', 'backend',
		    res.json.broadcastId]);

		// PUT member: channel:added to bob; DELETE member: alice leaves
		// the room (user_left, reason removed) and gets channel:removed.
		res = await api('PUT', `${C}/members/502`);
		assert.equal(res.status, 201, res.text);
		ev = await waitFor(bob, 'channel:added');
		assert.equal(ev.channel.id, ch.id);
		await ok(bob, 'join_channel', ch.id);
		res = await api('DELETE', `${C}/members/501`);
		assert.equal(res.status, 200, res.text);
		ev = await waitFor(alice, 'channel:removed');
		assert.deepEqual(ev, { channelId: ch.id, removedBy: 'backend' });
		ev = await waitFor(bob, 'user_left', (x) => x.userId === 501);
		assert.equal(ev.reason, 'removed');
		m = await mark([alice]);
		res = await api('POST', `${C}/messages`, { body: {
		    message: 'After removal' } });
		assert.equal(res.status, 201, res.text);
		await waitFor(bob, 'chat:new_message', (x) =>
		    x.message === 'After removal');
		await assertNone(m, ['chat:new_message']);

		// Archive: channel_updated {archived: true}; no sends, no joins,
		// gone from channel:list, history readable.
		res = await api('DELETE', C);
		assert.equal(res.status, 200, res.text);
		ev = await waitFor(bob, 'channel_updated', (x) =>
		    x.changes.archived === true);
		assert.deepEqual([ev.changes, ev.updatedBy], [{ archived: true },
		    'backend']);
		let ack = await refused(bob, 'chat:send_message', [{
		    channelId: ch.id, message: 'x' }], 'forbidden');
		assert.equal(ack.error.message, 'Channel is archived');
		ack = await refused(alice, 'join_channel', [ch.id], 'forbidden');
		assert.equal(ack.error.message, 'Channel is archived');
		assert.equal(await listed(bob, ch.id), undefined);
		ack = await ok(bob, 'chat:get_messages', { channelId: ch.id });
		assert.equal(ack.messages.length, 2);

		// Disconnect: a server-side disconnect of every tab.
		res = await api('POST', '/api/v1/users/502/disconnect');
		assert.equal(res.status, 200, res.text);
		assert.equal((await disconnected(bob)).reason,
		    'io server disconnect');

		// Revoke: an older token is cut off; one of the same second as
		// the revocation is refused; a later one works.
		const carol = await openTab(d, { label: 'Carol' });
		sockets.push(carol);
		await ok(carol, 'authenticate', mint({ ...CAROL,
		    iat: nowSec() - 10 }));
		res = await api('POST', `/api/v1/users/${CAROL.userId}/revoke`);
		assert.equal(res.status, 200, res.text);
		assert.equal(await waitFor(carol, 'auth:error'), 'Token revoked');
		await disconnected(carol);
		const at = Math.floor(Date.parse(res.json.revokedBefore) / 1000);
		const late = await openTab(d, { label: 'Carol again' });
		sockets.push(late);
		// (A revocation on a whole second lets that second's tokens in.)
		if (!res.json.revokedBefore.endsWith('.000Z')) {
			ack = await ask(late, 'authenticate', mint({ ...CAROL,
			    iat: at }));
			assert.deepEqual(ack.error, { code: 'not_authenticated',
			    message: 'Token revoked' });
		}
		ack = await ask(late, 'authenticate', mint({ ...CAROL,
		    iat: at + 1 }));
		assert.equal(ack.ok, true, JSON.stringify(ack));
	}));

	describe('rate limit', () => {
		// One worker: the limit is per key and per worker.
		const r = useDaemon({ workers: 1, extraConf: [...CHAT_CONF,
		    `api-key backend ${KEY}`, 'api-rate-limit 2 3600'] });

		it('answers 429 on every operation once a key is over it',
		    withLogs(async () => {
			for (let i = 0; i < 2; i++) {
				check('GET', '/api/v1/channels', await request(
				    r.url, 'GET', '/api/v1/channels'));
			}
			for (const [p, item] of Object.entries(doc.paths)) {
				for (const m of METHODS.filter((x) => item[x])) {
					const u = p.replace('{id}', '1')
					    .replace('{userId}', '5');
					const res = await request(r.url,
					    m.toUpperCase(), u);
					assert.equal(res.status, 429,
					    `${m} ${u}: ${res.text}`);
					check(m.toUpperCase(), u, res);
				}
			}
		}));
	});

	it('answers the message operations as documented',
	    withLogs(async () => {
		const ch = (await call('POST', '/api/v1/channels', { body: {
		    name: uniq('msgact') } }, 201)).channel;
		const C = `/api/v1/channels/${ch.id}/messages`;
		const root = (await call('POST', C, { body: {
		    message: 'root' } }, 201)).message;
		const rep = (await call('POST', C, { body: { message: 'reply',
		    replyToId: root.id, userId: 5 } }, 201)).message;
		const M = `/api/v1/messages/${root.id}`;
		const R = `/api/v1/messages/${rep.id}`;
		const NO = '/api/v1/messages/987654321';
		let r = await call('PATCH', M, { body: { message: 'edited',
		    userId: 5 } }, 200);
		assert.equal(r.message.editedBy, 5);
		r = await call('GET', `${M}/thread?limit=10`, {}, 200);
		assert.deepEqual(r.replies.map((x) => x.id), [rep.id]);
		r = await call('DELETE', R, {}, 200);
		assert.equal(r.message.deleted, true);
		r = await call('GET', `${C}`, {}, 200);
		assert.equal(r.messages.find((x) => x.id === rep.id).deleted,
		    true);
		await call('DELETE', R, {}, 409);
		await call('PATCH', R, { body: { message: 'x' } }, 409);
		await call('PATCH', M, { body: { message: '' } }, 400);
		await call('DELETE', M, { body: { other: 1 } }, 400);
		await call('GET', `${M}/thread?limit=0`, {}, 400);
		r = await call('POST', `${M}/reactions`, { body: { emoji: '👍',
		    userId: 5 } }, 200);
		assert.equal(r.count, 1);
		r = await call('POST', `${M}/reactions`, { body: { emoji: '👍',
		    userId: 5, add: false } }, 200);
		assert.equal(r.count, 0);
		await call('POST', `${M}/reactions`, { body: { emoji: 'no',
		    userId: 5 } }, 400);
		await call('POST', `${R}/reactions`, { body: { emoji: '👍',
		    userId: 5 } }, 409);
		for (const [m, u, body] of [['PATCH', M, { message: 'x' }],
		    ['DELETE', M, undefined], ['GET', `${M}/thread`, undefined],
		    ['POST', `${M}/reactions`, { emoji: '👍', userId: 5 }]]) {
			await call(m, u, { key: null, body }, 401);
			await call(m, u.replace(M, NO), { body }, 404);
		}
	}));

	it('provoked every documented answer but 503', () => {
		const missing = [];
		for (const [p, item] of Object.entries(doc.paths)) {
			for (const m of METHODS.filter((x) => item[x])) {
				const name = `${m.toUpperCase()} ${p}`;
				for (const st of Object.keys(item[m].responses)) {
					if (!PROVOKED.has(st) && st !== '503')
						missing.push(`${name} ${st} (unknown)`);
					else if (PROVOKED.has(st) &&
					    !seen.get(name)?.has(st))
						missing.push(`${name} ${st}`);
				}
			}
		}
		assert.deepEqual(missing, []);
	});
});

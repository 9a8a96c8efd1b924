// Reference peer for the confabd benchmark: the subset of the chat spec the
// benchmark drives, on socket.io 4 the way its documentation shows it
// (one Server on a node http server, the default ws engine with the
// bufferutil / utf-8-validate add-ons, the HTTP request dropped after the
// handshake as the memory-usage guide suggests), and SQLite through
// better-sqlite3 (WAL, prepared statements, a message committed before it
// is acked and broadcast).
//
//   PORT=3001 JWT_SECRET=... DB=/tmp/peer.db node server.mjs
//
// Events: authenticate (token) -> ack {ok, user} + `authenticated`;
// channel:create {name} -> ack {ok, channel}; join_channel (id) -> ack
// {ok, channel} + `user_joined` to the channel; leave_channel (id) -> ack
// {ok}; chat:send_message {channelId, message, messageType?, replyToId?}
// -> stored, ack {ok, message}, `chat:new_message` to the channel.
import http from 'node:http';
import Database from 'better-sqlite3';
import jwt from 'jsonwebtoken';
import { Server } from 'socket.io';

const PORT = Number(process.env.PORT || 3001);
const HOST = process.env.HOST || '127.0.0.1';
const SECRET = process.env.JWT_SECRET;
const DB = process.env.DB || 'peer.db';
if (!SECRET) {
	console.error('JWT_SECRET is required');
	process.exit(2);
}

const db = new Database(DB);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.exec(`
CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY, display_name TEXT,
    role TEXT);
CREATE TABLE IF NOT EXISTS channels (id INTEGER PRIMARY KEY, name TEXT
    UNIQUE COLLATE NOCASE, created_by TEXT, created_at INTEGER);
CREATE TABLE IF NOT EXISTS channel_members (channel_id INTEGER, user_id TEXT,
    joined_at INTEGER, PRIMARY KEY (channel_id, user_id));
CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY, channel_id
    INTEGER, user_id TEXT, message TEXT, message_type TEXT, reply_to_id
    INTEGER, created_at INTEGER);
CREATE INDEX IF NOT EXISTS messages_channel ON messages (channel_id, id);
`);
const upsertUser = db.prepare(`INSERT INTO users (id, display_name, role)
    VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET
    display_name = excluded.display_name, role = excluded.role`);
const insertChannel = db.prepare(`INSERT INTO channels (name, created_by,
    created_at) VALUES (?, ?, ?)`);
const getChannel = db.prepare('SELECT * FROM channels WHERE id = ?');
const addMember = db.prepare(`INSERT OR IGNORE INTO channel_members
    (channel_id, user_id, joined_at) VALUES (?, ?, ?)`);
const insertMessage = db.prepare(`INSERT INTO messages (channel_id, user_id,
    message, message_type, reply_to_id, created_at) VALUES (?, ?, ?, ?, ?,
    ?)`);

const TYPES = new Set(['text', 'file', 'image', 'gif', 'ticket_link']);
const channelJson = (r) => ({ id: r.id, name: r.name, createdBy: r.created_by,
	createdAt: new Date(r.created_at).toISOString() });
const fail = (code, message) => ({ ok: false, error: { code, message } });
const call = (ack, v) => {
	if (typeof ack === 'function')
		ack(v);
};

const httpServer = http.createServer();
const io = new Server(httpServer, { cors: { origin: '*' } });
io.engine.on('connection', (raw) => {
	raw.request = null;
});

io.on('connection', (socket) => {
	socket.on('authenticate', (token, ack) => {
		let claims;
		try {
			claims = jwt.verify(token, SECRET, { algorithms: ['HS256'] });
		} catch (e) {
			socket.emit('auth:error', e.name === 'TokenExpiredError' ?
			    'Token expired' : 'Invalid token');
			return call(ack, fail('not_authenticated', 'Invalid token'));
		}
		const user = { userId: claims.userId ?? claims.id ?? claims.sub,
			displayName: claims.displayName ?? String(claims.userId),
			role: claims.role ?? 'user' };
		upsertUser.run(String(user.userId), user.displayName, user.role);
		socket.data.user = user;
		socket.join(['authenticated', `user:${user.userId}`]);
		socket.emit('authenticated', user);
		call(ack, { ok: true, user });
	});

	const authed = (fn) => (...args) => {
		const ack = typeof args[args.length - 1] === 'function' ?
		    args.pop() : null;
		if (!socket.data.user) {
			socket.emit('auth:error', 'Not authenticated');
			return call(ack, fail('not_authenticated',
			    'Not authenticated'));
		}
		try {
			call(ack, fn(socket.data.user, ...args));
		} catch (e) {
			call(ack, fail('internal', 'Internal error'));
		}
	};

	socket.on('channel:create', authed((user, p) => {
		if (!p || typeof p.name !== 'string' || !p.name.trim())
			return fail('invalid_payload', 'name is required');
		const info = insertChannel.run(p.name, String(user.userId),
		    Date.now());
		return { ok: true,
			channel: channelJson(getChannel.get(info.lastInsertRowid)) };
	}));

	socket.on('join_channel', authed((user, id) => {
		const row = getChannel.get(Number(id));
		if (!row)
			return fail('not_found', 'Channel not found');
		const room = `channel:${row.id}`;
		addMember.run(row.id, String(user.userId), Date.now());
		if (!socket.rooms.has(room)) {
			socket.join(room);
			io.to(room).emit('user_joined', { userId: user.userId,
				userDisplayName: user.displayName,
				userRole: user.role, channelId: row.id,
				joinedAt: new Date().toISOString() });
		}
		return { ok: true, channel: channelJson(row) };
	}));

	socket.on('leave_channel', authed((user, id) => {
		socket.leave(`channel:${Number(id)}`);
		return { ok: true };
	}));

	socket.on('chat:send_message', authed((user, p) => {
		if (!p || typeof p.message !== 'string' || !p.message.trim())
			return fail('invalid_payload', 'message is required');
		const channelId = Number(p.channelId);
		const room = `channel:${channelId}`;
		if (!socket.rooms.has(room))
			return fail('forbidden', 'Not a member of this channel');
		const type = p.messageType ?? 'text';
		if (!TYPES.has(type))
			return fail('invalid_payload', 'bad messageType');
		const now = Date.now();
		const info = insertMessage.run(channelId, String(user.userId),
		    p.message, type, p.replyToId ?? null, now);
		const message = { id: Number(info.lastInsertRowid), channelId,
			userId: user.userId, userDisplayName: user.displayName,
			message: p.message, messageType: type,
			replyToId: p.replyToId ?? null,
			timestamp: new Date(now).toISOString() };
		io.to(room).emit('chat:new_message', message);
		return { ok: true, message };
	}));
});

httpServer.listen(PORT, HOST, () => {
	console.log(`peer listening on ${HOST}:${PORT} pid ${process.pid}`);
});
for (const sig of ['SIGTERM', 'SIGINT']) {
	process.on(sig, () => {
		io.close();
		db.close();
		process.exit(0);
	});
}

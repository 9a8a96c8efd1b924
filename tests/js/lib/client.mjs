// Helpers around the official socket.io-client.
import { io } from 'socket.io-client';

// Timers of helper promises still waiting; closeAll() cancels them so that a
// failed test does not keep the process alive until they expire.
const pending = new Set();
let generation = 0;

function guard(timer, reject) {
	const p = { timer, reject };
	pending.add(p);
	return () => {
		clearTimeout(timer);
		pending.delete(p);
	};
}

export function cancelPending() {
	generation++;
	for (const p of [...pending]) {
		clearTimeout(p.timer);
		pending.delete(p);
		p.reject(new Error('cancelled (test cleanup)'));
	}
}

export const TRANSPORTS = {
	default: {},
	websocket: { transports: ['websocket'] },
	polling: { transports: ['polling'], upgrade: false },
};

/*
 * Open a client (never shared with another one: forceNew) and record what
 * happens to it in socket.events: connects, disconnect reasons,
 * connect_error messages.  Does not wait for the connection.
 */
export function client(url, opts = {}) {
	const socket = io(url, {
		forceNew: true,
		reconnectionDelay: 200,
		reconnectionDelayMax: 1000,
		timeout: 5000,
		...opts,
	});
	const events = { connects: 0, disconnects: [], connectErrors: [] };
	socket.events = events;
	socket.on('connect', () => { events.connects++; });
	socket.on('disconnect', (reason, desc) => {
		events.disconnects.push({ reason, desc });
	});
	socket.on('connect_error', (err) => {
		events.connectErrors.push(err);
	});
	return socket;
}

// Resolves when the socket is connected; rejects on timeout or on a
// connect_error (unless allowErrors).
export function connected(socket, timeoutMs = 5000, allowErrors = false) {
	if (socket.connected)
		return Promise.resolve(socket);
	return new Promise((resolve, reject) => {
		const timer = setTimeout(() => {
			cleanup();
			reject(new Error(`not connected within ${timeoutMs} ms` +
			    describeErrors(socket)));
		}, timeoutMs);
		const unguard = guard(timer, (e) => {
			cleanup();
			reject(e);
		});
		const onConnect = () => {
			cleanup();
			resolve(socket);
		};
		const onError = (err) => {
			if (allowErrors)
				return;
			cleanup();
			reject(new Error(`connect_error: ${err.message} ` +
			    `${JSON.stringify(err.description ?? err.data ?? '')}`));
		};
		const cleanup = () => {
			unguard();
			socket.off('connect', onConnect);
			socket.off('connect_error', onError);
		};
		socket.on('connect', onConnect);
		socket.on('connect_error', onError);
	});
}

function describeErrors(socket) {
	const e = socket.events;
	if (!e)
		return '';
	return ` (connect_errors: ${e.connectErrors.map((x) => x.message)
	    .join(', ') || 'none'}; disconnects: ${e.disconnects
	    .map((x) => x.reason).join(', ') || 'none'})`;
}

export async function connect(url, opts = {}, timeoutMs = 5000) {
	const s = client(url, opts);
	try {
		await connected(s, timeoutMs);
	} catch (e) {
		s.close();
		throw e;
	}
	return s;
}

// emit with an ack; resolves the ack's first argument.  Rejects after 5 s.
export function ask(socket, event, ...args) {
	return socket.timeout(5000).emitWithAck(event, ...args);
}

// Same, resolving the array of all the ack's arguments.
export function askAll(socket, event, ...args) {
	return new Promise((resolve, reject) => {
		socket.timeout(5000).emit(event, ...args, (err, ...res) => {
			if (err)
				reject(err);
			else
				resolve(res);
		});
	});
}

/*
 * With connection state recovery on (the CONNECT reply carried a pid, which
 * the official client keeps in socket._pid), every event the server sends
 * without an ack ends with one more argument, its offset: a decimal string
 * (doc/events.md, "Connection state recovery").  The client hands it to
 * listeners like any argument; tests that compare an event's arguments
 * compare the payload, and get the offset apart.  Returns {args, offset}
 * (offset undefined when there is none).
 */
export const OFFSET = /^[1-9][0-9]*$/;
export function splitOffset(socket, args) {
	const last = args[args.length - 1];
	if (socket?._pid && typeof last === 'string' && OFFSET.test(last))
		return { args: args.slice(0, -1), offset: last };
	return { args, offset: undefined };
}

/*
 * Resolve the arguments of the next `event` on emitter (optionally the
 * first satisfying pred); reject after timeoutMs.
 */
export function once(emitter, event, timeoutMs = 5000, pred = null) {
	return new Promise((resolve, reject) => {
		const h = (...all) => {
			const { args } = splitOffset(emitter, all);

			if (pred && !pred(...args))
				return;
			cleanup();
			resolve(args);
		};
		const timer = setTimeout(() => {
			cleanup();
			reject(new Error(`no "${event}" within ${timeoutMs} ms`));
		}, timeoutMs);
		const unguard = guard(timer, (e) => {
			cleanup();
			reject(e);
		});
		const cleanup = () => {
			unguard();
			emitter.off(event, h);
		};
		emitter.on(event, h);
	});
}

// Poll cond() every intervalMs until it returns truthy; reject after
// timeoutMs with msg.
export async function until(cond, timeoutMs = 5000, msg = 'condition',
    intervalMs = 20) {
	const deadline = Date.now() + timeoutMs;
	const gen = generation;
	for (;;) {
		if (gen !== generation)
			throw new Error('cancelled (test cleanup)');
		const v = await cond();
		if (v)
			return v;
		if (Date.now() > deadline)
			throw new Error(`${msg}: not met within ${timeoutMs} ms`);
		await new Promise((r) => setTimeout(r, intervalMs));
	}
}

// Close every socket (emptying the array) and cancel pending helpers.
export function closeAll(sockets) {
	cancelPending();
	for (const s of sockets) {
		try {
			s.close();
		} catch {
			// ignore
		}
	}
	sockets.length = 0;
}

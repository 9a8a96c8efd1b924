// Load helpers: many reconnecting chat clients, each in one channel,
// sending messages with acks; what was acked, delivered and stored.
import assert from 'node:assert/strict';
import { client, until } from './client.mjs';
import { sleep } from './daemon.mjs';
import { history } from './chat.mjs';
import { mint } from './token.mjs';

/*
 * A reconnecting WebSocket client authenticated by its CONNECT payload
 * that (re)joins channel `ch` (null: none) on every connect.  s.got: ids of the
 * chat:new_message events received; s.joins: connects whose join was
 * acked.
 */
export function member(d, claims, ch, opts = {}) {
	const s = client(d.url, { transports: ['websocket'],
	    auth: { token: mint(claims) }, ...opts });
	s.ch = ch;
	s.got = new Set();
	s.joins = 0;
	s.on('chat:new_message', (m) => s.got.add(m.id));
	s.on('connect', async () => {
		if (ch === null) {
			s.joins++;
			return;
		}
		try {
			const a = await s.timeout(5000).emitWithAck(
			    'join_channel', ch);
			if (a?.ok)
				s.joins++;
		} catch {
			// disconnected meanwhile: the next connect joins
		}
	});
	return s;
}

export const rejoined = (s) => s.connected && s.joins === s.events.connects;

// Traffic not stopped yet: stopAllTraffic() ends it after a failure.
const running = new Set();

/*
 * Each client (s.i names it) sends a message about every 0.8-1.2 s while
 * traffic.on, and records what was acked ({id, ch, sent}) and what was
 * refused.  await t.stop() ends it.
 */
export function startTraffic(sockets) {
	const t = { on: true, acked: [], refusals: [], pumps: [] };
	running.add(t);
	let seq = 0;
	for (const s of sockets) {
		t.pumps.push((async () => {
			await sleep(Math.random() * 1000);
			while (t.on) {
				if (rejoined(s)) {
					const text = `m${++seq} from ${s.i}`;
					const sent = Date.now();
					try {
						const a = await s.timeout(5000)
						    .emitWithAck('chat:send_message',
						    { channelId: s.ch, message: text });
						if (a?.ok) {
							t.acked.push({ id: a.message.id,
							    ch: s.ch, sent });
						} else
							t.refusals.push(a);
					} catch {
						// no ack (disconnected): not acked
					}
				}
				await sleep(800 + Math.random() * 400);
			}
		})());
	}
	t.stop = async () => {
		t.on = false;
		running.delete(t);
		await Promise.all(t.pumps);
	};
	return t;
}

/*
 * Wait (up to timeoutMs) until every acked message sent at or after `since`
 * has reached every member of its channel among sockets; resolves what is
 * still missing ({id, to}), empty when everything arrived.
 */
export async function undelivered(sockets, acked, since = 0,
    timeoutMs = 20000) {
	const missing = () => {
		const out = [];
		for (const m of acked) {
			if (m.sent < since)
				continue;
			for (const s of sockets) {
				if (s.ch === m.ch && !s.got.has(m.id))
					out.push({ id: m.id, to: s.i });
			}
		}
		return out;
	};
	try {
		await until(() => missing().length === 0, timeoutMs,
		    'deliveries', 50);
	} catch {
		// reported by the caller
	}
	return missing();
}

// Every acked message is in the history of its channel, read by admin (a
// member of every channel).
export async function assertInHistory(admin, channels, acked) {
	const stored = new Set();
	for (const ch of channels) {
		for (const m of await history(admin, ch))
			stored.add(m.id);
	}
	const lost = acked.filter((m) => !stored.has(m.id));
	assert.deepEqual(lost, [], `${lost.length} of ${acked.length} acked ` +
	    'messages missing from the history');
}

// Stop every traffic loop still running (in an after() hook).
export function stopAllTraffic() {
	for (const t of running)
		t.on = false;
	running.clear();
}

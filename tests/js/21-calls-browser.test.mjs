// A real 1:1 video call through confabd's signalling (doc/events.md
// "Calls"): two pages in Debian's Chromium (fake camera and microphone),
// driven by playwright-core, each with the socket.io-client browser bundle.
// A offers, B answers, ICE goes both ways through the daemon; both peer
// connections reach "connected" and receive media; A hangs up and B hears
// of it.  The page is served by this test from node's http.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { useDaemon, withLogs } from './lib/daemon.mjs';
import { launchChromium, servePages } from './lib/browser.mjs';
import { mint } from './lib/token.mjs';
import { CHAT_CONF } from './lib/chat.mjs';


const ALICE = { userId: '8101', displayName: 'Alice', role: 'user' };
const BOB = { userId: '8102', displayName: 'Bob', role: 'user' };

// The page: connects with the token of its query string and exposes
// call() (caller) and answerCalls() (callee) to the test.
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>confabd call</title>
<script src="/socket.io.min.js"></script></head>
<body><video id="remote" autoplay playsinline muted></video>
<script>
const q = new URLSearchParams(location.search);
const st = window.st = { events: [], errors: [], callId: null,
    authenticated: false, ended: null };
const sock = io(q.get('server'), { transports: ['websocket'],
    auth: { token: q.get('token') }, reconnection: false });
sock.onAny((ev, ...args) => st.events.push([ev, args[0]]));
sock.on('authenticated', () => { st.authenticated = true; });
sock.on('call:ended', (x) => { st.ended = x; });
let pc = null, peer = null;
const pending = [];		// remote candidates before the remote SDP
const outbox = [];		// local candidates before the callId

function note(e) { st.errors.push(String(e && e.stack || e)); }

async function newPc(stream) {
	pc = window.pc = new RTCPeerConnection({ iceServers: [] });
	stream.getTracks().forEach((t) => pc.addTrack(t, stream));
	pc.ontrack = (e) => {
		document.getElementById('remote').srcObject = e.streams[0];
	};
	pc.onicecandidate = (e) => {
		if (!e.candidate)
			return;
		const c = e.candidate.toJSON();
		if (st.callId === null)
			outbox.push(c);
		else
			sendCand(c);
	};
}

function sendCand(c) {
	sock.emit('call:ice_candidate', { targetUserId: peer, candidate: c,
	    callId: st.callId }, (ack) => {
		if (!ack || !ack.ok)
			note('ice ack ' + JSON.stringify(ack));
	});
}

async function addRemote(c) {
	try {
		await pc.addIceCandidate(c);
	} catch (e) {
		note(e);
	}
}

async function flush() {
	while (pending.length)
		await addRemote(pending.shift());
}

sock.on('call:ice_candidate', (x) => {
	if (!pc || !pc.remoteDescription)
		pending.push(x.candidate);
	else
		addRemote(x.candidate);
});

sock.on('call:accepted', async (x) => {
	try {
		await pc.setRemoteDescription(x.answer);
		await flush();
	} catch (e) {
		note(e);
	}
});

window.call = async (target) => {
	peer = target;
	const stream = await navigator.mediaDevices.getUserMedia({
	    audio: true, video: true });
	await newPc(stream);
	const offer = await pc.createOffer();
	await pc.setLocalDescription(offer);
	const ack = await sock.emitWithAck('call:invite', { targetUserId: target,
	    callType: 'video', offer: { type: offer.type, sdp: offer.sdp } });
	if (!ack || !ack.ok)
		throw new Error('call:invite ' + JSON.stringify(ack));
	st.callId = ack.callId;
	outbox.splice(0).forEach(sendCand);
	return ack.callId;
};

window.answerCalls = () => {
	sock.on('call:incoming', async (x) => {
		try {
			peer = x.from;
			st.callId = x.callId;
			const stream = await navigator.mediaDevices.getUserMedia({
			    audio: true, video: true });
			await newPc(stream);
			await pc.setRemoteDescription(x.offer);
			await flush();
			const answer = await pc.createAnswer();
			await pc.setLocalDescription(answer);
			const ack = await sock.emitWithAck('call:accept', {
			    callId: x.callId, targetUserId: x.from,
			    answer: { type: answer.type, sdp: answer.sdp } });
			if (!ack || !ack.ok)
				note('call:accept ' + JSON.stringify(ack));
			outbox.splice(0).forEach(sendCand);
		} catch (e) {
			note(e);
		}
	});
};

window.hangUp = () => sock.emitWithAck('call:end', { callId: st.callId,
    targetUserId: peer });

window.bytesIn = async () => {
	let n = 0;
	(await pc.getStats()).forEach((r) => {
		if (r.type === 'inbound-rtp')
			n += r.bytesReceived || 0;
	});
	return n;
};
</script></body></html>
`;

describe('a video call between two Chromium pages', () => {
	let srv, browser;
	const pages = [];

	const d = useDaemon({ workers: 2, extraConf: [...CHAT_CONF,
	    'rate-limit 100000 1'], teardown: async () => {
		if (browser)
			await browser.close().catch(() => {});
		if (srv)
			await new Promise((r) => srv.close(r));
	} });
	before(async () => {
		srv = await servePages({ '/call.html': PAGE });
		browser = await launchChromium([
		    '--use-fake-device-for-media-stream',
		    '--use-fake-ui-for-media-stream']);
	});

	async function open(claims) {
		const ctx = await browser.newContext();
		const page = await ctx.newPage();
		page.label = claims.displayName;
		page.consoleLines = [];
		page.on('console', (m) => page.consoleLines.push(m.text()));
		page.on('pageerror', (e) => page.consoleLines.push(`pageerror: ` +
		    e.message));
		pages.push(page);
		const q = new URLSearchParams({ server: d.url,
		    token: mint(claims) });
		await page.goto(`http://127.0.0.1:${srv.address().port}` +
		    `/call.html?${q}`);
		await page.waitForFunction(() => window.st.authenticated, null,
		    { timeout: 10000 });
		return page;
	}

	async function state(page) {
		return page.evaluate(() => ({ events: window.st.events.map((e) =>
		    e[0]), errors: window.st.errors,
		    pc: window.pc ? window.pc.connectionState : null,
		    ice: window.pc ? window.pc.iceConnectionState : null }));
	}

	// Wrap a test: when it fails, print each page's state and console.
	function withPages(fn) {
		return async function (...args) {
			try {
				return await fn.apply(this, args);
			} catch (e) {
				for (const p of pages) {
					const s = await state(p).catch((x) => x.message);
					process.stderr.write(`--- page ${p.label}: ` +
					    `${JSON.stringify(s)}\n` +
					    `${p.consoleLines.join('\n')}\n`);
				}
				throw e;
			}
		};
	}

	it('offer, answer, ICE through confabd; media flows; hang up',
	    withLogs(withPages(async () => {
		const a = await open(ALICE);
		const b = await open(BOB);
		await b.evaluate(() => window.answerCalls());
		const callId = await a.evaluate((t) => window.call(t),
		    Number(BOB.userId));
		assert.ok(Number.isInteger(callId) && callId > 0,
		    `callId ${callId}`);
		for (const p of [a, b]) {
			await p.waitForFunction(() => window.pc &&
			    window.pc.connectionState === 'connected', null,
			    { timeout: 20000, polling: 100 });
		}
		// Candidates really went through the daemon.
		for (const p of [a, b]) {
			const s = await state(p);
			assert.ok(s.events.includes('call:ice_candidate'),
			    `${p.label}: no call:ice_candidate relayed`);
		}
		assert.ok((await state(a)).events.includes('call:accepted'));
		assert.ok((await state(b)).events.includes('call:incoming'));

		// Media flows both ways.
		const before0 = await Promise.all([a, b].map((p) =>
		    p.evaluate(() => window.bytesIn())));
		await new Promise((r) => setTimeout(r, 1200));
		const after0 = await Promise.all([a, b].map((p) =>
		    p.evaluate(() => window.bytesIn())));
		for (let i = 0; i < 2; i++) {
			assert.ok(after0[i] > before0[i], `${[a, b][i].label}:` +
			    ` inbound bytes ${before0[i]} -> ${after0[i]}`);
		}

		const end = await a.evaluate(() => window.hangUp());
		assert.deepEqual(end, { ok: true, callId });
		await b.waitForFunction(() => window.st.ended !== null, null,
		    { timeout: 5000 });
		assert.deepEqual(await b.evaluate(() => window.st.ended),
		    { callId, reason: 'ended' });
		for (const p of [a, b]) {
			assert.deepEqual((await state(p)).errors, [],
			    `${p.label}: page errors`);
		}
	})));
});

// CORS from a real browser (issue 12, items 2 and 4): a Chromium page on
// another origin connects with socket.io-client over polling and
// `extraHeaders: {Authorization}` (a non-simple header, so every request
// is preflighted); the preflight answers as the reference server's `cors`
// middleware does (requested headers echoed, credentials, max-age).  A page
// on an origin no cors-origin allows fails, and the daemon says why in its
// log, once per interval.  Pages are served by this test from node's http;
// Chromium is Debian's, driven by playwright-core (as in 21-calls-browser).
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { useDaemon, withLogs } from './lib/daemon.mjs';
import { launchChromium, servePages } from './lib/browser.mjs';
import { until } from './lib/client.mjs';
import { mint } from './lib/token.mjs';
import { CHAT_CONF } from './lib/chat.mjs';
import { request, PATH } from './lib/raw.mjs';


const ALICE = { userId: '8201', displayName: 'Alice', role: 'user' };

// Connects over polling only, with an Authorization header on every
// request, and records what happens in window.st.
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>confabd cors</title>
<script src="/socket.io.min.js"></script></head><body><script>
const q = new URLSearchParams(location.search);
const st = window.st = { authenticated: false, errors: [], list: null };
const sock = io(q.get('server'), { transports: ['polling'],
    extraHeaders: { Authorization: 'Bearer ' + q.get('token') },
    auth: { token: q.get('token') }, reconnection: false });
sock.on('connect_error', (e) => st.errors.push(String(e && e.message)));
sock.on('authenticated', async () => {
	st.authenticated = true;
	st.list = await sock.emitWithAck('channel:list');
});
</script></body></html>
`;

describe('CORS preflight and refused origins', () => {
	let srv, browser, allowed;

	before(async () => {
		srv = await servePages({ '/cors.html': PAGE });
		allowed = `http://127.0.0.1:${srv.address().port}`;
	});
	const d = useDaemon({ workers: 2,
	    extraConf: () => [...CHAT_CONF, `cors-origin ${allowed}`],
	    teardown: async () => {
		if (browser)
			await browser.close();
		if (srv)
			srv.close();
	} });
	before(async () => {
		browser = await launchChromium();
	});

	it('a preflight echoes the requested headers, with credentials and ' +
	    'max-age', withLogs(async () => {
		const r = await request(d.port, { method: 'OPTIONS', path: PATH,
		    query: 'EIO=4&transport=polling', headers: { origin: allowed,
		    'access-control-request-method': 'GET',
		    'access-control-request-headers': 'authorization,x-trace' } });
		assert.equal(r.status, 204);
		assert.equal(r.headers['access-control-allow-origin'], allowed);
		assert.equal(r.headers['access-control-allow-headers'],
		    'authorization,x-trace');
		assert.equal(r.headers['access-control-allow-credentials'], 'true');
		assert.equal(r.headers['access-control-max-age'], '600');
		assert.match(r.headers['access-control-allow-methods'], /POST/);
		assert.match(r.headers.vary, /Access-Control-Request-Headers/);
	}));

	it('a Chromium page on another origin connects over polling with an ' +
	    'Authorization header', withLogs(async () => {
		const page = await browser.newPage();
		const token = mint(ALICE);
		await page.goto(`${allowed}/cors.html?server=` +
		    encodeURIComponent(d.url) + `&token=${token}`);
		await page.waitForFunction(() => window.st.list !== null ||
		    window.st.errors.length > 0, null, { timeout: 20000 });
		const st = await page.evaluate(() => window.st);
		assert.deepEqual(st.errors, []);
		assert.equal(st.authenticated, true);
		assert.equal(st.list?.ok, true, JSON.stringify(st.list));
		await page.close();
	}));

	it('a page on an origin not allowed fails, and the log says which ' +
	    'directive would allow it, once', withLogs(async () => {
		const other = `http://localhost:${srv.address().port}`;
		const since = d.logMark();
		for (let i = 0; i < 3; i++) {
			const page = await browser.newPage();
			await page.goto(`${other}/cors.html?server=` +
			    encodeURIComponent(d.url) + `&token=${mint(ALICE)}`);
			await page.waitForFunction(() =>
			    window.st.errors.length > 0 || window.st.authenticated,
			    null, { timeout: 20000 });
			const st = await page.evaluate(() => window.st);
			assert.equal(st.authenticated, false);
			assert.match(st.errors[0], /xhr poll error/);
			await page.close();
		}
		await until(() => d.stderrLines().slice(since).some((l) =>
		    /level=warn/.test(l) && l.includes(`origin ${other} refused`) &&
		    l.includes(`cors-origin ${other}`)), 5000, 'refusal logged');
		// Rate limited: one line per worker at most within 10 s.
		const n = d.stderrLines().slice(since)
		    .filter((l) => l.includes(`origin ${other} refused`)).length;
		assert.ok(n <= 2, `${n} lines`);
	}));
});

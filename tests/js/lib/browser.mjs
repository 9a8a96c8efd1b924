// Real-browser tests: Debian's Chromium driven by playwright-core, and the
// pages they load served from node's http next to the socket.io-client
// browser bundle.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const HERE = path.dirname(fileURLToPath(import.meta.url));
const SIO_BUNDLE = path.join(HERE, '..', 'node_modules', 'socket.io-client',
    'dist', 'socket.io.min.js');

// The flags a headless Chromium needs on a machine with no network but
// loopback (no background requests, no first-run work, no QUIC).
const BASE_ARGS = ['--no-sandbox', '--disable-gpu',
    '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--disable-quic'];

// Launches Chromium with BASE_ARGS and extraArgs; resolves the browser
// (the caller closes it).  A missing package fails the calling test with
// a clear message rather than the whole file at import.
export async function launchChromium(extraArgs = []) {
	assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: ` +
	    'install Debian\'s chromium package (scripts/deps.sh test does); ' +
	    'this test needs a real browser');
	const require = createRequire(import.meta.url);
	let chromium;
	try {
		({ chromium } = require('playwright-core'));
	} catch (e) {
		assert.fail('playwright-core is not installed (npm ci in ' +
		    `tests/js): ${e.message}`);
	}
	return chromium.launch({ executablePath: CHROMIUM, headless: true,
	    args: [...BASE_ARGS, ...extraArgs] });
}

// Serves pages ({'/name.html': html}) and /socket.io.min.js on 127.0.0.1
// at a free port; resolves the http.Server (the caller closes it).
export function servePages(pages) {
	const bundle = fs.readFileSync(SIO_BUNDLE);
	const srv = http.createServer((req, res) => {
		const u = new URL(req.url, 'http://x');
		if (Object.hasOwn(pages, u.pathname)) {
			res.writeHead(200, { 'content-type': 'text/html' });
			res.end(pages[u.pathname]);
		} else if (u.pathname === '/socket.io.min.js') {
			res.writeHead(200, { 'content-type': 'text/javascript' });
			res.end(bundle);
		} else {
			res.writeHead(404);
			res.end();
		}
	});
	return new Promise((resolve, reject) => {
		srv.on('error', reject);
		srv.listen(0, '127.0.0.1', () => resolve(srv));
	});
}

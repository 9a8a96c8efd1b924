// confabctl and the control socket for the tests: run the real client, or
// talk to the socket directly to send what confabctl never would.
import { execFile } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { CONFABD } from './daemon.mjs';

// $CONFABCTL, else confabctl next to the confabd binary under test.
export const CONFABCTL = process.env.CONFABCTL ||
    path.join(path.dirname(CONFABD), 'confabctl');

// Run confabctl with args; resolves {code, stdout, stderr}.
export function ctl(args, timeoutMs = 10000) {
	return new Promise((resolve) => {
		execFile(CONFABCTL, args, { timeout: timeoutMs },
		    (err, stdout, stderr) => {
			resolve({ code: err ? (err.code ?? 1) : 0, stdout,
			    stderr });
		});
	});
}

// confabctl -j -c conf ...: resolves the parsed reply and the exit code.
export async function ctlJson(d, ...args) {
	const r = await ctl(['-j', '-c', d.confPath, ...args]);
	let reply = null;
	try {
		reply = JSON.parse(r.stdout);
	} catch {
		// left null: the caller's assertion shows stdout and stderr
	}
	return { ...r, reply };
}

// Send raw bytes to the socket and half-close it; resolves everything read
// until EOF.
export function rawControl(sockPath, data, timeoutMs = 10000) {
	return new Promise((resolve, reject) => {
		const c = net.createConnection(sockPath);
		let out = '';
		const timer = setTimeout(() => {
			c.destroy();
			reject(new Error(`no EOF from ${sockPath} in ${timeoutMs} ms; ` +
			    `got ${JSON.stringify(out)}`));
		}, timeoutMs);
		c.setEncoding('utf8');
		c.on('connect', () => c.end(data));
		c.on('data', (s) => { out += s; });
		c.on('error', (e) => {
			clearTimeout(timer);
			reject(e);
		});
		c.on('close', () => {
			clearTimeout(timer);
			resolve(out);
		});
	});
}

// The sd_notify protocol (systemd Type=notify): READY=1 with MAINPID once
// the workers are started, RELOADING=1 then READY=1 around a SIGHUP, and
// STOPPING=1 on SIGTERM, as datagrams to $NOTIFY_SOCKET.  The listening
// datagram socket is python3's (node has no unix datagram sockets).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { useDaemon, withLogs } from './lib/daemon.mjs';
import { until } from './lib/client.mjs';

const LISTENER = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("listening", flush=True)
while True:
    data = s.recv(4096)
    print(data.decode().replace("\\n", "|"), flush=True)
`;

describe('sd_notify', () => {
	let dir, sock, py;
	const got = [];

	before(async () => {
		dir = fs.mkdtempSync(path.join(os.tmpdir(), 'confabd-notify-'));
		sock = path.join(dir, 'notify.sock');
		py = spawn('python3', ['-c', LISTENER, sock]);
		let buf = '';
		py.stdout.on('data', (c) => {
			buf += c;
			let i;
			while ((i = buf.indexOf('\n')) >= 0) {
				got.push(buf.slice(0, i));
				buf = buf.slice(i + 1);
			}
		});
		await until(() => got.includes('listening'), 5000,
		    'python3 listening (the test command installs python3)');
	});
	const d = useDaemon({ workers: 2,
	    env: () => ({ NOTIFY_SOCKET: sock }) });
	after(async () => {
		if (py)
			py.kill();
		fs.rmSync(dir, { recursive: true, force: true });
	});

	it('READY with MAINPID, RELOADING then READY on SIGHUP, STOPPING on ' +
	    'SIGTERM', withLogs(async () => {
		await until(() => got.some((l) => l.startsWith('READY=1')), 5000,
		    'READY=1');
		const ready = got.find((l) => l.startsWith('READY=1'));
		assert.equal(ready, `READY=1|MAINPID=${d.pid}`);
		const n = got.length;
		d.signal('SIGHUP');
		await until(() => got.slice(n).some((l) => l.startsWith('READY=1')),
		    5000, 'READY=1 after the reload');
		assert.equal(got[n], 'RELOADING=1');
		const m = got.length;
		d.signal('SIGTERM');
		await until(() => got.slice(m).includes('STOPPING=1'), 5000,
		    'STOPPING=1');
		const r = await d.exited;
		assert.deepEqual(r, { code: 0, signal: null });
	}));
});

// The "Usage Examples" of shared/spec/websocket-events.md, as written:
// only the URL changed, localStorage is a stand-in holding a minted token,
// and displayMessage / updateUserPresence / console.log are collectors.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import io from 'socket.io-client';
import { useDaemon, withLogs } from './lib/daemon.mjs';
import { until } from './lib/client.mjs';
import { mint } from './lib/token.mjs';
import { CHAT_CONF, login, ok, send, waitFor, createChannel }
    from './lib/chat.mjs';

const ADMIN = { userId: '1', displayName: 'Admin', role: 'admin' };
const SPEC_USER = { userId: '42', displayName: 'Spec User', role: 'user' };

describe('spec usage examples', () => {
	let admin;
	const sockets = [];
	// What the example code produced.
	const displayed = [];
	const presences = [];
	const logged = [];
	const shared = {};	// the example's socket, for the second test

	const d = useDaemon({ workers: 2, extraConf: CHAT_CONF,
	    sockets, teardown: () => {
		shared.socket?.close();
	} });
	before(async () => {
		admin = await login(d, ADMIN);
		sockets.push(admin);
		const general = await createChannel(admin, { name: 'general' });
		assert.equal(general.id, 1, 'the first channel has id 1');
	});

	it('Basic Chat Connection', withLogs(async () => {
		const url = d.url;
		const localStorage = { getItem: (k) => k === 'jwt' ?
		    mint(SPEC_USER) : null };
		const displayMessage = (message) => displayed.push(message);
		const console = { log: (...args) => logged.push(args) };

		// ---- verbatim from the spec (URL changed) ----
		const socket = io(url);

		// Authenticate
		socket.emit('authenticate', localStorage.getItem('jwt'));

		socket.on('authenticated', (user) => {
		  console.log('Connected as:', user.displayName);
		  
		  // Join a channel
		  socket.emit('join_channel', 1);
		});

		// Listen for new messages
		socket.on('chat:new_message', (message) => {
		  displayMessage(message);
		});

		// Send a message
		const sendMessage = (channelId, text) => {
		  socket.emit('chat:send_message', {
		    channelId,
		    message: text,
		    messageType: 'text'
		  });
		};
		// ---- end of the example ----
		shared.socket = socket;

		await until(() => logged.length > 0, 5000, 'authenticated');
		assert.deepEqual(logged, [['Connected as:', 'Spec User']]);
		// The join reached the channel: the admin sees user_joined.
		const j = await waitFor(admin, 'user_joined', (p) =>
		    p.userId === 42 && p.channelId === 1);
		assert.equal(j.userDisplayName, 'Spec User');

		sendMessage(1, 'Hello from the spec');
		const mine = await until(() => displayed.find((m) =>
		    m.message === 'Hello from the spec'), 5000, 'own message');
		assert.equal(mine.channelId, 1);
		assert.equal(mine.userId, 42);
		assert.equal(mine.userDisplayName, 'Spec User');
		assert.equal(mine.messageType, 'text');
		assert.strictEqual(mine.replyToId, null);
		assert.ok(Number.isInteger(mine.id));
		assert.ok(Number.isFinite(Date.parse(mine.timestamp)));
		const seen = await waitFor(admin, 'chat:new_message', (m) =>
		    m.id === mine.id);
		assert.deepEqual(seen, mine);

		const fromAdmin = await send(admin, 1, 'Welcome!');
		const got = await until(() => displayed.find((m) =>
		    m.id === fromAdmin.id), 5000, 'admin message displayed');
		assert.deepEqual(got, fromAdmin);
	}));

	it('Presence Management', withLogs(async () => {
		const socket = shared.socket;
		assert.ok(socket?.connected, 'the socket of the first example');
		const updateUserPresence = (userId, status) =>
		    presences.push([userId, status]);

		// ---- verbatim from the spec ----
		// Update status
		const updateStatus = (status, message = null) => {
		  socket.emit('update_presence', {
		    status,
		    statusMessage: message,
		    customStatus: 'Working on tickets'
		  });
		};

		// Listen for presence updates
		socket.on('presence_updated', (presence) => {
		  updateUserPresence(presence.userId, presence.status);
		});
		// ---- end of the example ----

		updateStatus('away', 'In a meeting');
		await until(() => presences.some(([u, s]) => u === 42 &&
		    s === 'away'), 5000, 'own presence update');
		const seen = await waitFor(admin, 'presence_updated', (p) =>
		    p.userId === 42 && p.status === 'away');
		assert.equal(seen.statusMessage, 'In a meeting');
		assert.equal(seen.customStatus, 'Working on tickets');
		assert.equal(seen.reason, 'status_change');

		updateStatus('busy');
		await until(() => presences.some(([u, s]) => u === 42 &&
		    s === 'busy'), 5000, 'busy');
		const busy = await waitFor(admin, 'presence_updated', (p) =>
		    p.userId === 42 && p.status === 'busy');
		assert.strictEqual(busy.statusMessage, null);

		// Other users coming and going.
		const other = await login(d, { userId: '43',
		    displayName: 'Other', role: 'user' });
		await until(() => presences.some(([u, s]) => u === 43 &&
		    s === 'online'), 5000, 'other online');
		other.close();
		await until(() => presences.some(([u, s]) => u === 43 &&
		    s === 'offline'), 5000, 'other offline');
		await ok(admin, 'update_presence', { status: 'away' });
		await until(() => presences.some(([u, s]) => u === 1 &&
		    s === 'away'), 5000, 'admin away');
	}));
});

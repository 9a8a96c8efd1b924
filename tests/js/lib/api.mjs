// The HTTP API of a test daemon (/api/v1, doc/api.md) as the tests call it.

/*
 * method path (under /api/v1) on d (or on port), with the bearer key (none
 * when null or undefined), a JSON body or raw bytes, more headers.
 * Resolves {status, body (the parsed JSON, or null), text}.
 */
export async function apiCall(d, method, path, { body, key, headers = {},
    raw, port } = {}) {
	const h = { ...headers };
	if (key !== null && key !== undefined)
		h.authorization = `Bearer ${key}`;
	let payload = raw;
	if (body !== undefined) {
		payload = JSON.stringify(body);
		h['content-type'] ??= 'application/json';
	}
	const res = await fetch(`http://127.0.0.1:${port ?? d.port}/api/v1${path}`,
	    { method, headers: h, body: payload });
	const text = await res.text();
	let json = null;
	try {
		json = JSON.parse(text);
	} catch {
		// not JSON: json stays null
	}
	return { status: res.status, body: json, text };
}


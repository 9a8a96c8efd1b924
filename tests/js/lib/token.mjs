// JSON Web Tokens for the chat tests, minted with node's crypto only.
//
// The daemons of the chat tests are configured with `jwt-secret SECRET`
// (see CHAT_CONF in chat.mjs), so a token signed here with SECRET verifies.
import crypto from 'node:crypto';

// 40 characters; confabd wants at least 32.
export const SECRET = 'confabd-test-secret-0123456789-abcdefghi';
// Another secret of the same length, for "signed with the wrong key".
export const OTHER_SECRET = 'not-the-confabd-secret-9876543210-zyxwvu';

const HASHES = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' };

export function b64url(data) {
	return Buffer.from(data).toString('base64url');
}

// Seconds since the epoch, as in "exp", "nbf" and "iat".
export function nowSec() {
	return Math.floor(Date.now() / 1000);
}

/*
 * Compact JWS of `claims` (any JSON object: userId, displayName, role,
 * permissions, exp, nbf, iat, iss, aud, sub, id, ...) signed with `secret`
 * using HS256, HS384 or HS512; alg 'none' gives an unsigned token (empty
 * signature).  `header` adds or overrides header fields.  The claims are
 * taken as they are: nothing is added.
 */
export function sign(claims, secret = SECRET, alg = 'HS256', header = {}) {
	const input = b64url(JSON.stringify({ alg, typ: 'JWT', ...header })) +
	    '.' + b64url(JSON.stringify(claims));
	if (alg === 'none')
		return `${input}.`;
	const hash = HASHES[alg];
	if (!hash)
		throw new Error(`sign: unsupported algorithm ${alg}`);
	return `${input}.${crypto.createHmac(hash, secret).update(input)
	    .digest('base64url')}`;
}

/*
 * A token valid now: claims plus iat = now and exp = now + ttlSec (unless
 * the claims set them; a claim set to undefined is left out).
 */
export function mint(claims, { secret = SECRET, alg = 'HS256',
    ttlSec = 3600 } = {}) {
	const now = nowSec();
	const c = { iat: now, exp: now + ttlSec, ...claims };
	for (const k of Object.keys(c)) {
		if (c[k] === undefined)
			delete c[k];
	}
	return sign(c, secret, alg);
}

// Expired an hour ago (far beyond any leeway).
export function expiredToken(claims) {
	const now = nowSec();
	return mint({ iat: now - 7200, exp: now - 3600, ...claims });
}

// "nbf" an hour from now.
export function notYetValidToken(claims) {
	const now = nowSec();
	return mint({ nbf: now + 3600, ...claims });
}

export function wrongSecretToken(claims) {
	return mint(claims, { secret: OTHER_SECRET });
}

// {"alg":"none"} with an empty signature.
export function noneToken(claims) {
	const now = nowSec();
	return sign({ iat: now, exp: now + 3600, ...claims }, SECRET, 'none');
}

// A valid token whose payload was replaced after signing (role: admin).
export function tamperedToken(claims) {
	const [h, , sig] = mint(claims).split('.');
	const forged = b64url(JSON.stringify({ ...claims, role: 'admin',
	    exp: nowSec() + 3600 }));
	return `${h}.${forged}.${sig}`;
}

// A real OpenID Provider for PlanPush's OIDC integration tests: npm `oidc-provider` (certified),
// listening on 127.0.0.1 on a free port, with:
//   - one confidential client (CLIENT_ID / CLIENT_SECRET, redirect REDIRECT_URI, post-logout
//     POST_LOGOUT_REDIRECT_URI), PKCE required;
//   - accounts with a `groups` claim (scope `groups`), editable while running;
//   - two RSA signing keys and a way to rotate them while running;
//   - a non-interactive login: the interaction endpoint signs in the account chosen beforehand
//     through the test API, so a test drives the whole flow over plain HTTP.
//
// Test API (not part of OIDC; loopback only, like everything here):
//   POST /test/accounts   {"<sub>": {"email", "email_verified", "name", "groups": [...]}, ...}  (replaces)
//   POST /test/login-as   {"sub": "<sub>"}   the account the next interaction signs in
//   POST /test/rotate     the JWKS becomes [key2, key1] and new ID tokens are signed by key2
//   GET  /test/log        what reached the end-session and JWKS endpoints
//
// Start: `node provider.mjs` with CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, POST_LOGOUT_REDIRECT_URI in
// the environment. It prints `listening http://127.0.0.1:<port>` on stdout once ready.

import { createServer } from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const env = (name) => {
  const v = process.env[name];
  if (!v) {
    console.error(`provider.mjs: ${name} is required`);
    process.exit(2);
  }
  return v;
};
const clientId = env('CLIENT_ID');
const clientSecret = env('CLIENT_SECRET');
const redirectUri = env('REDIRECT_URI');
const postLogoutRedirectUri = env('POST_LOGOUT_REDIRECT_URI');

const newKey = (kid) => {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
};
const key1 = newKey('key-1');
const key2 = newKey('key-2');

let accounts = {};
let nextLogin = null;
const log = { end_session: [], jwks: 0, rotated: false };

const readJson = (req) =>
  new Promise((resolve, reject) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      try { resolve(body ? JSON.parse(body) : {}); } catch (e) { reject(e); }
    });
  });

const send = (res, status, value) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
};

function makeProvider(issuer, keys) {
  const provider = new Provider(issuer, {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [redirectUri],
      post_logout_redirect_uris: [postLogoutRedirectUri],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    jwks: { keys },
    pkce: { required: () => true },
    scopes: ['openid', 'email', 'profile', 'groups'],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
      groups: ['groups'],
    },
    // Scope-requested claims also go into the ID token (as Okta does with a groups claim).
    conformIdTokenClaims: false,
    cookies: { keys: ['planpush-test-cookie-key'] },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: { enabled: true },
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    findAccount: async (ctx, sub) => {
      if (!accounts[sub]) return undefined;
      return {
        accountId: sub,
        claims: async () => ({ sub, preferred_username: sub, ...accounts[sub] }),
      };
    },
    // Consent is implied for the one test client: every requested scope is granted.
    loadExistingGrant: async (ctx) => {
      const existing = ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (existing) return ctx.oidc.provider.Grant.find(existing);
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope('openid email profile groups');
      await grant.save();
      return grant;
    },
  });
  return provider;
}

const server = createServer(async (req, res) => {
  try {
    const url = new URL(req.url, current.issuer);
    if (url.pathname === '/test/accounts' && req.method === 'POST') {
      accounts = await readJson(req);
      return send(res, 200, { ok: true });
    }
    if (url.pathname === '/test/login-as' && req.method === 'POST') {
      nextLogin = (await readJson(req)).sub;
      return send(res, 200, { ok: true });
    }
    if (url.pathname === '/test/rotate' && req.method === 'POST') {
      current.provider = makeProvider(current.issuer, [key2, key1]);
      log.rotated = true;
      return send(res, 200, { ok: true });
    }
    if (url.pathname === '/test/log' && req.method === 'GET') {
      return send(res, 200, log);
    }
    if (url.pathname === '/jwks') log.jwks += 1;
    if (url.pathname === '/session/end' && req.method === 'GET') {
      log.end_session.push(Object.fromEntries(url.searchParams));
    }
    if (url.pathname.startsWith('/interaction/')) {
      const details = await current.provider.interactionDetails(req, res);
      if (details.prompt.name !== 'login') {
        return current.provider.interactionFinished(req, res, { consent: {} });
      }
      if (!nextLogin || !accounts[nextLogin]) {
        return current.provider.interactionFinished(req, res, {
          error: 'access_denied',
          error_description: 'no test account chosen',
        });
      }
      const sub = nextLogin;
      return current.provider.interactionFinished(
        req,
        res,
        { login: { accountId: sub } },
        { mergeWithLastSubmission: false },
      );
    }
    return current.provider.callback()(req, res);
  } catch (e) {
    console.error('provider.mjs:', e);
    if (!res.headersSent) send(res, 500, { error: String(e) });
  }
});

const current = { issuer: 'http://127.0.0.1', provider: null };
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  current.issuer = `http://127.0.0.1:${port}`;
  current.provider = makeProvider(current.issuer, [key1]);
  console.log(`listening ${current.issuer}`);
});

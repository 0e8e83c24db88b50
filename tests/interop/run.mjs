// Gatehouse between software nobody here wrote: node-oidc-provider (an OpenID-certified
// OP) is the upstream, openid-client (a certified RP library) is the application, and
// headless Chromium is the person, clicking through every page; Debian's OpenLDAP slapd
// (started by .ci/with-slapd) is a directory people log in against on Gatehouse's form;
// the official MCP TypeScript SDK is the client of an MCP server that trusts Gatehouse.
// Prints one line per case and ends with "N passed, M failed"; exits non-zero on any failure.
//
//   node run.mjs        (after `cargo build`; GATEHOUSE_BIN overrides the binary)

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as netServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Provider from 'oidc-provider';
import * as client from 'openid-client';
import { chromium } from 'playwright-core';
import { startSimpleSamlPhp, USER as SAML_USER } from './simplesamlphp.mjs';
import { startMcpServer, mcpWhoami } from './mcp.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const BIN = process.env.GATEHOUSE_BIN ?? join(root, 'target/debug/gatehouse');
const SHOTS = join(root, 'target/interop-screenshots');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

const freePort = () => new Promise((ok, fail) => {
  const s = netServer();
  s.on('error', fail);
  s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => ok(port)); });
});

const [UP_PORT, GH_PORT, RP_PORT, SAML_PORT, MCP_PORT] = [
  await freePort(), await freePort(), await freePort(), await freePort(), await freePort(),
];
const UPSTREAM = `http://127.0.0.1:${UP_PORT}`;
const GH = `http://127.0.0.1:${GH_PORT}`;
const RP = `http://127.0.0.1:${RP_PORT}`;
const REDIRECT = `${RP}/cb`;
const AFTER_LOGOUT = `${RP}/bye`;
const APP_BACKCHANNEL = `${RP}/backchannel`;
// The MCP server's URL (its resource indicator), and the metadata document of the MCP
// client that is known by its URL (served by the application's server).
const MCP_URL = `http://127.0.0.1:${MCP_PORT}/mcp`;
const MCP_CLIENT_DOCUMENT = `${RP}/mcp-client.json`;
// A FAPI 2.0 client's redirect URI is https on a host that does not resolve here: the
// request Chromium makes for it is where the answer arrived.
const FAPI_REDIRECT = 'https://bank.interop.example/cb';

// ---- the upstream: node-oidc-provider ------------------------------------------------
const people = {
  grace: { name: { first: 'Grace', last: 'Hopper' }, city: 'Arlington' },
};
const provider = new Provider(UPSTREAM, {
  clients: [{
    client_id: 'gatehouse',
    client_secret: 'upstream-secret-for-interop',
    redirect_uris: [`${GH}/callback/corp`],
    post_logout_redirect_uris: [`${GH}/end_session/upstream`],
    // The upstream tells Gatehouse when the person logs out there, naming its session.
    backchannel_logout_uri: `${GH}/backchannel/corp`,
    backchannel_logout_session_required: true,
  }, {
    // A mobile app of the upstream's own, whose ID tokens Gatehouse takes in exchange.
    client_id: 'mobile-app',
    token_endpoint_auth_method: 'none',
    redirect_uris: [`${RP}/mobile`],
  }],
  // The profile and email claims in the ID token too: the mobile app's token is all
  // Gatehouse sees of the person in an exchange.
  conformIdTokenClaims: false,
  cookies: { keys: ['interop-cookie-key-0123456789'] },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'person'] },
  async findAccount(ctx, id) {
    const person = people[id] ?? { name: { first: id, last: 'Example' }, city: 'Nowhere' };
    return {
      accountId: id,
      async claims() {
        return {
          sub: id, name: `${person.name.first} ${person.name.last}`, email: `${id}@corp.example`,
          email_verified: true, person,
        };
      },
    };
  },
  features: { devInteractions: { enabled: true }, backchannelLogout: { enabled: true } },
  // Its calls out (the back-channel logout to Gatehouse) would refuse loopback addresses,
  // where everything in this suite listens: leave its SSRF guard out of them.
  fetch: (url, { dispatcher, ...options }) => globalThis.fetch(url, options),
});
const upstreamServer = createServer(provider.callback());
await new Promise((ok) => upstreamServer.listen(UP_PORT, '127.0.0.1', ok));

// ---- the directory: Debian's OpenLDAP, by .ci/with-slapd ---------------------------------
// The script keeps slapd up while `cat` reads its standard input: closing it stops slapd.
const slapd = spawn(join(root, '.ci/with-slapd'), [join(root, 'tests/fixtures/ldap/people.ldif'), 'cat'], {
  stdio: ['pipe', 'pipe', 'inherit'],
});
const slapdStopped = new Promise((ok) => slapd.once('exit', ok));
const LDAP = await new Promise((ok, fail) => {
  let said = '';
  slapd.stdout.on('data', (d) => {
    said += d;
    const found = said.match(/slapd for the tests at (ldap:\/\/\S+)/);
    if (found) ok(found[1]);
  });
  slapd.once('exit', (code) => fail(new Error(`.ci/with-slapd exited ${code} before slapd answered`)));
});

// ---- the SAML identity provider: SimpleSAMLphp -------------------------------------------
// Gatehouse's SP key, which signs its AuthnRequests and LogoutResponses; SimpleSAMLphp is
// told to check those signatures with the certificate.
const spKeys = mkdtempSync(join(tmpdir(), 'gatehouse-interop-sp-'));
execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=Gatehouse interop SP',
  '-keyout', join(spKeys, 'sp.key'), '-out', join(spKeys, 'sp.crt')], { stdio: 'ignore' });
const spCertificate = readFileSync(join(spKeys, 'sp.crt'), 'utf8').split('\n').filter((l) => l && !l.startsWith('-----')).join('');
const samlIdp = await startSimpleSamlPhp({
  spCertificate,
  port: SAML_PORT, spEntityId: `${GH}/saml/uni`, acs: `${GH}/saml/uni/acs`, slo: `${GH}/saml/uni/slo`,
  trustedHosts: [`127.0.0.1:${RP_PORT}`],
});

// ---- Gatehouse ------------------------------------------------------------------------
// The keys of the application that authenticates with private_key_jwt: ES256 from
// WebCrypto, the public half published at the application's own jwks_uri.
const appKeys = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
const appJwk = { ...(await crypto.subtle.exportKey('jwk', appKeys.publicKey)), kid: 'app-1', use: 'sig', alg: 'ES256' };
const HMAC_SECRET = 'an-interop-secret-of-more-than-32-bytes';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-interop-'));
writeFileSync(join(dir, 'corp.toml'), `
[claims]
name = "{{person.name.first}} {{person.name.last}}"
given_name = "{{person.name.first}}"
family_name = "{{person.name.last}}"
email = { from = "email" }
email_verified = { from = "email_verified", type = "bool" }
[claims.address]
locality = "{{person.city}}"
`);
writeFileSync(join(dir, 'gatehouse.toml'), `
issuer = "${GH}"

[dpop]
require_nonce = true

[[clients]]
id = "interop-confidential"
name = "Interop App"
secret = "interop-secret"
redirect_uris = ["${REDIRECT}"]
post_logout_redirect_uris = ["${AFTER_LOGOUT}"]
backchannel_logout_uri = "${APP_BACKCHANNEL}"

[[clients]]
id = "interop-hybrid"
name = "Interop Portal"
secret = "interop-secret"
redirect_uris = ["${REDIRECT}"]
consent = false
upstreams = ["corp"]
response_types = ["code id_token"]

[[clients]]
id = "interop-implicit"
name = "Interop Legacy SPA"
redirect_uris = ["${REDIRECT}"]
consent = false
upstreams = ["corp"]
response_types = ["id_token"]

[[clients]]
id = "interop-public"
name = "Interop SPA"
redirect_uris = ["${REDIRECT}"]
consent = false
upstreams = ["corp"]

[[clients]]
id = "interop-signed"
name = "Interop Signed App"
token_endpoint_auth_method = "private_key_jwt"
jwks_uri = "${RP}/jwks"
require_par = true
redirect_uris = ["${REDIRECT}"]
consent = false
upstreams = ["corp"]

[[clients]]
id = "interop-fapi"
name = "Interop Bank"
profile = "fapi2"
token_endpoint_auth_method = "private_key_jwt"
jwks_uri = "${RP}/jwks"
redirect_uris = ["${FAPI_REDIRECT}"]
consent = false
upstreams = ["corp"]

[[clients]]
id = "interop-dpop"
name = "Interop DPoP SPA"
require_dpop = true
redirect_uris = ["${REDIRECT}"]
consent = false
upstreams = ["corp"]

[[clients]]
id = "interop-device"
name = "Interop TV"
grant_types = ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"]
upstreams = ["corp"]

[[clients]]
id = "interop-exchange"
secret = "interop-secret"
grant_types = ["urn:ietf:params:oauth:grant-type:token-exchange"]
token_exchange = ["corp"]

[[resource_servers]]
audience = "https://billing.interop.example"
scopes = ["email"]

[[resource_servers]]
audience = "${MCP_URL}"

[registration]
enabled = true
open = true

[client_id_metadata_documents]
enabled = true
# The interop's documents are on loopback, over http.
allow_loopback = true

[[clients]]
id = "interop-hmac"
token_endpoint_auth_method = "client_secret_jwt"
secret = "${HMAC_SECRET}"
grant_types = ["client_credentials"]

[[upstreams]]
id = "corp"
name = "Corporate SSO"
kind = "oidc"
issuer = "${UPSTREAM}"
client_id = "gatehouse"
client_secret = "upstream-secret-for-interop"
scopes = ["openid", "profile", "email"]
userinfo = true
mapping = "corp.toml"
exchange = true
exchange_audiences = ["mobile-app"]

[[upstreams]]
id = "staff"
name = "Staff accounts"
kind = "local"
users = []

[scopes.groups]
claims = ["groups"]

[[upstreams]]
id = "directory"
name = "Company directory"
kind = "ldap"
mapping = "${join(root, 'claim-mappings/ldap.toml')}"
url = "${LDAP}"
bind_dn = "cn=admin,dc=example,dc=org"
bind_password = "admin-secret"
user_base = "ou=people,dc=example,dc=org"
group_base = "ou=groups,dc=example,dc=org"
nested_groups = true
refresh = "on_refresh"

[scopes.affiliation]
claims = ["affiliation"]

[[upstreams]]
id = "uni"
name = "University"
kind = "saml"
idp_metadata_url = "${samlIdp.metadataUrl}"
mapping = "${join(root, 'claim-mappings/saml-generic.toml')}"
sign_requests = true
logout_upstream = true
sp_key_file = "${join(spKeys, 'sp.key')}"
sp_cert_file = "${join(spKeys, 'sp.crt')}"
`);

let gatehouse;
const gatehouseLog = [];
async function startGatehouse() {
  gatehouse = spawn(BIN, ['serve', '--config', join(dir, 'gatehouse.toml')], { stdio: ['ignore', 'pipe', 'pipe'] });
  for (const stream of [gatehouse.stdout, gatehouse.stderr]) stream.on('data', (d) => gatehouseLog.push(String(d)));
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`${GH}/healthz`)).ok) return;
    } catch { /* not up yet */ }
    await new Promise((ok) => setTimeout(ok, 100));
  }
  throw new Error(`Gatehouse did not start:\n${gatehouseLog.join('')}`);
}
async function stopGatehouse() {
  const exited = new Promise((ok) => gatehouse.once('exit', ok));
  gatehouse.kill('SIGTERM');
  await exited;
}

// ---- the relying parties: openid-client -------------------------------------------------
const insecure = { execute: [client.allowInsecureRequests] };
async function relyingParty(id, secret, auth = secret ? client.ClientSecretBasic(secret) : client.None()) {
  return client.discovery(new URL(GH), id, undefined, auth, insecure);
}

// ---- the person: headless Chromium ---------------------------------------------------------
mkdirSync(SHOTS, { recursive: true });
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const context = await browser.newContext();
const page = await context.newPage();
let landed = null;
let landedForm = null;
// The logout tokens Gatehouse POSTed to the application's back-channel logout endpoint.
const appLogoutTokens = [];
// How often the person typed their password at the upstream.
let upstreamLogins = 0;
// The application's pages: a tiny server that notes where Chromium arrived, and what it
// POSTed there (form_post).
const appServer = createServer((request, response) => {
  // Chromium also asks for /favicon.ico, at a moment of its choosing: that is no arrival.
  if (request.url.startsWith('/favicon')) {
    response.writeHead(404).end();
    return;
  }
  let body = '';
  request.on('data', (chunk) => { body += chunk; });
  request.on('end', () => {
    if (request.url === '/jwks') {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ keys: [appJwk] }));
      return;
    }
    if (request.url === '/mcp-client.json') {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({
        client_id: MCP_CLIENT_DOCUMENT,
        client_name: 'Interop MCP Agent',
        redirect_uris: [REDIRECT],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'none',
      }));
      return;
    }
    if (request.url === '/backchannel') {
      appLogoutTokens.push(new URLSearchParams(body).get('logout_token'));
      response.writeHead(200).end();
      return;
    }
    landedForm = request.method === 'POST' ? body : null;
    landed = `${RP}${request.url}`;
    response.writeHead(200, { 'content-type': 'text/html' });
    response.end('<p>back at the application</p>');
  });
});
await new Promise((ok) => appServer.listen(RP_PORT, '127.0.0.1', ok));
const shot = (name) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

/** Sends the person to `url` and lets `steps` act on each page until the app is reached. */
async function visit(url, steps = async () => {}, on = page) {
  landed = null;
  await on.goto(url);
  for (let i = 0; i < 10 && !landed; i += 1) {
    if (on.url().startsWith(RP)) break;
    const before = on.url();
    await steps(on);
    if (landed) break;
    if (on.url() === before) await on.waitForURL((u) => u.toString() !== before, { timeout: 10_000 });
  }
  if (!landed) throw new Error(`never got back to the application; stuck at ${on.url()}`);
  return new URL(landed);
}

/**
 * A hybrid (`code id_token`) request by form_post: its URL, and `redeem()`, which hands the
 * answer the application received to openid-client (it checks c_hash) and redeems the code.
 */
async function hybridByFormPost(scope) {
  const config = await relyingParty('interop-hybrid', 'interop-secret');
  client.useCodeIdTokenResponseType(config);
  const [state, nonce] = [client.randomState(), client.randomNonce()];
  const url = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope, state, nonce, response_mode: 'form_post' });
  return {
    url: url.href,
    redeem() {
      if (landedForm === null) throw new Error('the answer was not POSTed to the application');
      const answer = new Request(landed, {
        method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: landedForm,
      });
      return client.authorizationCodeGrant(config, answer, { expectedState: state, expectedNonce: nonce, idTokenExpected: true });
    },
  };
}

/** Clicks through whatever page the person is on: chooser, upstream login and consent, Gatehouse consent. */
async function personClicksThrough(p) {
  const url = p.url();
  if (url.startsWith(GH) && await p.locator('text=Continue with Corporate SSO').count()) {
    await shot('chooser');
    await p.click('text=Continue with Corporate SSO');
  } else if (url.startsWith(UPSTREAM) && await p.locator('input[name="login"]').count()) {
    upstreamLogins += 1;
    await p.fill('input[name="login"]', 'grace');
    await p.fill('input[name="password"]', 'any password');
    await p.click('button[type="submit"]');
  } else if (url.startsWith(UPSTREAM)) {
    await p.click('button[type="submit"]');
  } else if (url.startsWith(GH) && await p.locator('button[value="allow"]').count()) {
    await shot('consent');
    await p.click('button[value="allow"]');
  } else {
    await p.waitForLoadState();
  }
}

/**
 * A code flow with PKCE for `config`, the person acting by `steps` on the page `on` (the
 * shared page by default), redeemed by openid-client.
 */
async function login(config, {
  scope = 'openid profile email address offline_access', extra = {}, maxAge, par = false, dpop,
  steps = personClicksThrough, on = page,
} = {}) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const build = par ? client.buildAuthorizationUrlWithPAR : client.buildAuthorizationUrl;
  const url = await build(config, {
    redirect_uri: REDIRECT, scope, state, nonce,
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...extra,
  }, { DPoP: dpop });
  const back = await visit(url.href, steps, on);
  return client.authorizationCodeGrant(config, back, {
    pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true, maxAge,
  }, undefined, { DPoP: dpop });
}

/** The claims of a JWT, unverified (for a token whose signature is checked elsewhere). */
const jwtClaims = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());

// ---- the cases ---------------------------------------------------------------------------
const results = [];
async function test(name, body) {
  try {
    await body();
    results.push(true);
    console.log(`ok - ${name}`);
  } catch (e) {
    results.push(false);
    console.log(`not ok - ${name}: ${e?.stack ?? e}${e?.cause ? `\n  cause: ${e.cause.message ?? ''} ${JSON.stringify(e.cause)}` : ''}`);
  }
}
function equal(actual, expected, what) {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
}
async function fails(promise, what) {
  try { await promise; } catch { return; }
  throw new Error(`${what} did not fail`);
}

let confidential;
let publicRp;
let tokens;
let mcpServer;
// Grace's sub, from the first sign-in through the upstream.
let graceSub;

try {
  await startGatehouse();
  mcpServer = await startMcpServer({ port: MCP_PORT, issuer: GH });
  confidential = await relyingParty('interop-confidential', 'interop-secret');
  publicRp = await relyingParty('interop-public');

  await test('an unknown redirect_uri gets an error page, not a redirect', async () => {
    const response = await page.goto(`${GH}/authorize?client_id=interop-confidential&response_type=code&scope=openid&redirect_uri=https://evil.example/cb`);
    equal(response.status(), 400, 'status');
    await shot('error');
  });

  await test('code flow with PKCE, confidential client, through the upstream and both consent pages', async () => {
    tokens = await login(confidential);
    const claims = tokens.claims();
    graceSub = claims.sub;
    equal(claims.name, 'Grace Hopper', 'name mapped from the nested upstream claim');
    equal(claims.address, { locality: 'Arlington' }, 'address');
    equal(claims.email, 'grace@corp.example', 'email');
    if (!tokens.refresh_token) throw new Error('no refresh token for offline_access');
  });

  await test('userinfo as the mapping says, for the same sub', async () => {
    const info = await client.fetchUserInfo(confidential, tokens.access_token, tokens.claims().sub);
    equal([info.name, info.given_name, info.family_name, info.email_verified], ['Grace Hopper', 'Grace', 'Hopper', true], 'userinfo');
  });

  await test('code flow with PKCE, public client, from the live session', async () => {
    const publicTokens = await login(publicRp, { scope: 'openid email' });
    equal(publicTokens.claims().email, 'grace@corp.example', 'email');
    equal(publicTokens.claims().name, undefined, 'no profile scope, no name');
  });

  await test('hybrid code id_token by form_post: Chromium submits the form, openid-client checks c_hash', async () => {
    const hybrid = await hybridByFormPost('openid email');
    await visit(hybrid.url, personClicksThrough);
    const result = await hybrid.redeem();
    equal(result.claims().email, 'grace@corp.example', 'email');
    equal(result.claims().sub, tokens.claims().sub, 'the same person');
  });

  await test('form_post without JavaScript: the person presses the button', async () => {
    const hybrid = await hybridByFormPost('openid');
    const noScript = await browser.newContext({ javaScriptEnabled: false });
    try {
      await noScript.addCookies(await context.cookies());
      const plain = await noScript.newPage();
      landed = null;
      await plain.goto(hybrid.url);
      await plain.screenshot({ path: join(SHOTS, 'form_post.png'), fullPage: true });
      await plain.click('button[type="submit"]');
      await plain.waitForURL((u) => u.href.startsWith(RP));
      const result = await hybrid.redeem();
      equal(result.claims().sub, tokens.claims().sub, 'the same person');
    } finally {
      await noScript.close();
    }
  });

  await test('implicit id_token in the fragment, checked by openid-client', async () => {
    const implicit = await relyingParty('interop-implicit');
    client.useIdTokenResponseType(implicit);
    const [state, nonce] = [client.randomState(), client.randomNonce()];
    const url = client.buildAuthorizationUrl(implicit, { redirect_uri: REDIRECT, scope: 'openid email', state, nonce });
    await visit(url.href, personClicksThrough);
    const answer = new URL(page.url());
    if (!answer.hash) throw new Error(`no fragment in ${answer.origin}${answer.pathname}`);
    const claims = await client.implicitAuthentication(implicit, answer, nonce, { expectedState: state });
    equal([claims.sub, claims.email], [tokens.claims().sub, 'grace@corp.example'], 'ID token claims');
  });

  await test('refresh rotates the refresh token', async () => {
    const first = tokens.refresh_token;
    const refreshed = await client.refreshTokenGrant(confidential, first);
    if (!refreshed.refresh_token || refreshed.refresh_token === first) throw new Error('not rotated');
    equal(refreshed.claims().sub, tokens.claims().sub, 'the refreshed ID token names the same person');
    tokens = { ...tokens, rotatedFrom: first, refresh_token: refreshed.refresh_token, access_token: refreshed.access_token };
  });

  await test('reusing a rotated refresh token revokes the family once its successor was used', async () => {
    // Within tokens.refresh_retry_window an unused successor makes a second use a retry;
    // once the successor is used, the old token is reuse.
    const next = await client.refreshTokenGrant(confidential, tokens.refresh_token);
    await fails(client.refreshTokenGrant(confidential, tokens.rotatedFrom), 'reuse');
    await fails(client.refreshTokenGrant(confidential, next.refresh_token), 'the newest token after reuse');
  });

  await test('introspection and revocation', async () => {
    const fresh = await login(confidential);
    const active = await client.tokenIntrospection(confidential, fresh.access_token);
    equal([active.active, active.client_id], [true, 'interop-confidential'], 'introspection');
    await client.tokenRevocation(confidential, fresh.access_token);
    equal((await client.tokenIntrospection(confidential, fresh.access_token)).active, false, 'after revocation');
    tokens = fresh;
  });

  await test('a restart keeps the signing keys and the refresh tokens', async () => {
    const kids = async () => (await (await fetch(`${GH}/jwks`)).json()).keys.map((k) => k.kid);
    const before = await kids();
    await stopGatehouse();
    await startGatehouse();
    equal(await kids(), before, 'kids');
    const again = await relyingParty('interop-confidential', 'interop-secret');
    const refreshed = await client.refreshTokenGrant(again, tokens.refresh_token);
    equal(refreshed.claims().sub, tokens.claims().sub, 'refresh after restart');
    tokens = { ...tokens, id_token: refreshed.id_token };
  });

  await test('max_age goes upstream, which authenticates again; its auth_time is what the app gets', async () => {
    const before = Math.floor(Date.now() / 1000);
    const logins = upstreamLogins;
    const fresh = await login(confidential, { scope: 'openid', extra: { max_age: '0' }, maxAge: 0 });
    equal(upstreamLogins, logins + 1, 'the person typed their password at the upstream again');
    const authTime = fresh.claims().auth_time;
    if (!(authTime >= before)) throw new Error(`auth_time ${authTime} is older than the request (${before})`);
    // From the new session, without max_age: no login anywhere, the same auth_time.
    const again = await login(publicRp, { scope: 'openid' });
    equal([upstreamLogins, again.claims().auth_time], [logins + 1, authTime], 'answered from the session');
    tokens = { ...tokens, id_token: fresh.id_token };
  });

  await test('the login page of a local upstream', async () => {
    await page.goto(`${GH}/authorize?client_id=interop-confidential&response_type=code&scope=openid&redirect_uri=${REDIRECT}&upstream=staff&prompt=login`);
    await page.waitForSelector('input[name="username"]');
    await shot('login');
  });

  await test('RP-initiated logout ends the session', async () => {
    await page.goto(`${GH}/end_session`);
    await page.waitForSelector('button[value="logout"]');
    await shot('logout');
    const url = client.buildEndSessionUrl(confidential, {
      id_token_hint: tokens.id_token, post_logout_redirect_uri: AFTER_LOGOUT, state: 'bye',
    });
    const back = await visit(url.href);
    equal([back.origin + back.pathname, back.searchParams.get('state')], [AFTER_LOGOUT, 'bye'], 'back at the app');
    const silent = client.buildAuthorizationUrl(confidential, { redirect_uri: REDIRECT, scope: 'openid', prompt: 'none', state: 's' });
    const answer = await visit(silent.href);
    equal(answer.searchParams.get('error'), 'login_required', 'prompt=none after logout');
  });

  await test('logging out at the upstream ends the session at Gatehouse by back-channel logout', async () => {
    // The upstream's session is still there: this login needs no password.
    const fresh = await login(confidential, { scope: 'openid offline_access' });
    const told = appLogoutTokens.length;
    await page.goto(`${UPSTREAM}/session/end`);
    await page.click('button[name="logout"]');
    await page.waitForLoadState();
    // node-oidc-provider waits for Gatehouse's 200; Gatehouse then tells the application,
    // once for each of its sessions that came from the upstream's (older ones too).
    const aboutThisSession = () => appLogoutTokens.slice(told).map(jwtClaims).find((c) => c.sid === fresh.claims().sid);
    for (let i = 0; i < 100 && !aboutThisSession(); i += 1) await new Promise((ok) => setTimeout(ok, 100));
    const claims = aboutThisSession();
    if (!claims) throw new Error('the application was not told of its session');
    equal([claims.iss, claims.aud, claims.sub], [GH, 'interop-confidential', fresh.claims().sub], 'logout token');
    const silent = client.buildAuthorizationUrl(confidential, { redirect_uri: REDIRECT, scope: 'openid', prompt: 'none', state: 's' });
    const answer = await visit(silent.href);
    equal(answer.searchParams.get('error'), 'login_required', 'prompt=none after the upstream logout');
    await fails(client.refreshTokenGrant(confidential, fresh.refresh_token), 'refresh after the upstream logout');
  });

  await test('private_key_jwt (ES256, keys at the application\'s jwks_uri) with PAR: code, refresh and introspection', async () => {
    const signed = await relyingParty('interop-signed', undefined, client.PrivateKeyJwt({ key: appKeys.privateKey, kid: 'app-1' }));
    const methods = signed.serverMetadata().token_endpoint_auth_methods_supported;
    if (!methods.includes('private_key_jwt')) throw new Error(`discovery lists ${methods}`);
    // Pushed (RFC 9126) as the client requires: the browser carries only the request_uri.
    const first = await login(signed, { scope: 'openid email offline_access', par: true });
    if (!landed.startsWith(REDIRECT)) throw new Error(`landed at ${landed}`);
    equal(first.claims().email, 'grace@corp.example', 'email');
    const refreshed = await client.refreshTokenGrant(signed, first.refresh_token);
    const introspected = await client.tokenIntrospection(signed, refreshed.access_token);
    equal([introspected.active, introspected.client_id], [true, 'interop-signed'], 'introspection');
    const other = await relyingParty('interop-signed', undefined, client.PrivateKeyJwt(
      (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])).privateKey,
    ));
    await fails(client.refreshTokenGrant(other, refreshed.refresh_token), 'an assertion signed by another key');
  });

  await test('FAPI 2.0 (profile = "fapi2"): openid-client pushes a signed request object (JAR) with DPoP and private_key_jwt, gets the answer as a signed JWT (JARM), redeems with DPoP, reads userinfo with DPoP, and its refresh token does not rotate', async () => {
    const bank = await relyingParty('interop-fapi', undefined, client.PrivateKeyJwt({ key: appKeys.privateKey, kid: 'app-1' }));
    const metadata = bank.serverMetadata();
    if (!metadata.request_parameter_supported) throw new Error('no request objects in discovery');
    if (!metadata.response_modes_supported.includes('jwt')) throw new Error('no JARM in discovery');
    client.useJwtResponseMode(bank);
    const dpop = client.getDPoPHandle(bank, await client.randomDPoPKeyPair('ES256'));
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const signedRequest = await client.buildAuthorizationUrlWithJAR(bank, {
      redirect_uri: FAPI_REDIRECT, scope: 'openid email offline_access', state,
      code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    }, { key: appKeys.privateKey, kid: 'app-1' });
    if (!signedRequest.searchParams.get('request')) throw new Error('no request object');
    const pushed = await client.buildAuthorizationUrlWithPAR(bank, signedRequest.searchParams, { DPoP: dpop });
    // The bank's host does not resolve here: the request Chromium makes for it is the answer.
    // A tab of its own (the same browser, so the same session), closed afterwards, so that
    // its failed last navigation cannot interrupt the next case's.
    const tab = await context.newPage();
    let arrival = null;
    try {
      const arrived = tab.waitForEvent('request', { predicate: (r) => r.url().startsWith(FAPI_REDIRECT), timeout: 30_000 })
        .then((r) => { arrival = r.url(); });
      await tab.goto(pushed.href).catch(() => { /* the last hop cannot load */ });
      for (let i = 0; i < 10 && !arrival; i += 1) {
        await Promise.race([arrived, personClicksThrough(tab).catch(() => {})]);
      }
      await arrived;
    } finally {
      await tab.close();
    }
    const back = new URL(arrival);
    if (!back.searchParams.get('response') || back.searchParams.get('code')) throw new Error(`not a JARM answer: ${back}`);
    const tokens = await client.authorizationCodeGrant(bank, back, {
      pkceCodeVerifier: verifier, expectedState: state, idTokenExpected: true,
    }, undefined, { DPoP: dpop });
    equal(tokens.token_type, 'dpop', 'token_type');
    equal(tokens.claims().sub, graceSub, 'the same person');
    const info = await client.fetchUserInfo(bank, tokens.access_token, graceSub, { DPoP: dpop });
    equal(info.email, 'grace@corp.example', 'userinfo with DPoP');
    const refreshed = await client.refreshTokenGrant(bank, tokens.refresh_token, undefined, { DPoP: dpop });
    equal(refreshed.refresh_token, tokens.refresh_token, 'the refresh token is not rotated');
  });

  await test('client_secret_jwt: client_credentials with an HS256 assertion', async () => {
    const hmac = await relyingParty('interop-hmac', undefined, client.ClientSecretJwt(HMAC_SECRET));
    const answer = await client.clientCredentialsGrant(hmac, {});
    if (!answer.access_token) throw new Error('no access token');
    const wrong = await relyingParty('interop-hmac', undefined, client.ClientSecretJwt('not-the-secret-but-also-32-bytes-long'));
    await fails(client.clientCredentialsGrant(wrong, {}), 'an assertion with the wrong secret');
  });

  await test('DPoP (ES256) for a public client, nonce required: PAR, code, userinfo and refresh bound to the key', async () => {
    const spa = await relyingParty('interop-dpop');
    if (!spa.serverMetadata().dpop_signing_alg_values_supported?.includes('ES256')) throw new Error('DPoP not in discovery');
    const dpop = client.getDPoPHandle(spa, await client.randomDPoPKeyPair('ES256'));
    // The proof at /par binds the code; openid-client learns the nonce from the first refusal.
    const first = await login(spa, { scope: 'openid email offline_access', par: true, dpop });
    equal(first.token_type, 'dpop', 'token_type');
    equal(first.claims().email, 'grace@corp.example', 'email');
    const info = await client.fetchUserInfo(spa, first.access_token, first.claims().sub, { DPoP: dpop });
    equal(info.email, 'grace@corp.example', 'userinfo with a proof');
    await fails(client.fetchUserInfo(spa, first.access_token, first.claims().sub), 'userinfo with the bound token as Bearer');
    const stranger = client.getDPoPHandle(spa, await client.randomDPoPKeyPair('ES256'));
    await fails(client.fetchUserInfo(spa, first.access_token, first.claims().sub, { DPoP: stranger }), 'userinfo with another key');
    await fails(client.refreshTokenGrant(spa, first.refresh_token, undefined, { DPoP: stranger }), 'refresh with another key');
    const refreshed = await client.refreshTokenGrant(spa, first.refresh_token, undefined, { DPoP: dpop });
    equal(refreshed.token_type, 'dpop', 'refreshed token_type');
    await fails(client.refreshTokenGrant(spa, refreshed.refresh_token), 'refresh of a bound refresh token without a proof');
  });

  await test('Device authorization grant: openid-client polls (with DPoP) while the person enters the code in Chromium', async () => {
    const tv = await relyingParty('interop-device');
    if (!tv.serverMetadata().device_authorization_endpoint) throw new Error('no device_authorization_endpoint in discovery');
    const grant = await client.initiateDeviceAuthorization(tv, { scope: 'openid email offline_access' });
    if (!/^[B-Z]{4}-[B-Z]{4}$/.test(grant.user_code)) throw new Error(`user code ${grant.user_code}`);
    const dpop = client.getDPoPHandle(tv, await client.randomDPoPKeyPair('ES256'));
    const polled = client.pollDeviceAuthorizationGrant(tv, grant, undefined, { DPoP: dpop });
    // The person follows the complete link, continues with the code filled in, confirms the
    // application, and signs in and consents (their Gatehouse session from earlier cases is live).
    await page.goto(grant.verification_uri_complete);
    await shot('device-code');
    await page.click('button[type="submit"]');
    await page.locator('text=Sign in to Interop TV on your device?').waitFor();
    await shot('device-confirm');
    await page.click('button[value="continue"]');
    const done = `${GH}/device/done`;
    for (let i = 0; i < 10 && !page.url().startsWith(done); i += 1) {
      const before = page.url();
      await personClicksThrough(page);
      if (page.url() === before && !page.url().startsWith(done)) {
        await page.waitForURL((u) => u.toString() !== before, { timeout: 10_000 });
      }
    }
    await page.locator('text=You are signed in on your device').waitFor();
    await shot('device-done');
    const tokens = await polled;
    equal(tokens.token_type, 'dpop', 'token_type');
    equal(tokens.claims().email, 'grace@corp.example', 'email');
    const refreshed = await client.refreshTokenGrant(tv, tokens.refresh_token, undefined, { DPoP: dpop });
    equal(refreshed.claims().sub, tokens.claims().sub, 'sub after refresh');
    await fails(client.pollDeviceAuthorizationGrant(tv, grant, undefined, { DPoP: dpop }), 'a second redemption of the device code');
  });

  await test('Token exchange: the upstream\'s mobile-app ID token for Gatehouse\'s (same sub), then narrowed to a resource server', async () => {
    // The mobile app signs the person in at the upstream itself (openid-client, PKCE).
    const mobile = await client.discovery(new URL(UPSTREAM), 'mobile-app', undefined, client.None(), insecure);
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const url = client.buildAuthorizationUrl(mobile, {
      redirect_uri: `${RP}/mobile`, scope: 'openid profile email', state,
      code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    const back = await visit(url.href, personClicksThrough);
    const upstreamTokens = await client.authorizationCodeGrant(mobile, back, { pkceCodeVerifier: verifier, expectedState: state });
    equal(upstreamTokens.claims().aud, 'mobile-app', 'the upstream ID token is the mobile app\'s');

    const backend = await relyingParty('interop-exchange', 'interop-secret');
    const grants = backend.serverMetadata().grant_types_supported;
    if (!grants.includes('urn:ietf:params:oauth:grant-type:token-exchange')) throw new Error(`discovery lists ${grants}`);
    const exchanged = await client.genericGrantRequest(backend, 'urn:ietf:params:oauth:grant-type:token-exchange', {
      subject_token: upstreamTokens.id_token, subject_token_type: 'urn:ietf:params:oauth:token-type:id_token',
      scope: 'openid email',
    });
    equal(exchanged.issued_token_type, 'urn:ietf:params:oauth:token-type:access_token', 'issued_token_type');
    equal(exchanged.claims().email, 'grace@corp.example', 'the mapped email');
    // The same account as grace's browser login through Gatehouse.
    const browserLogin = await login(await relyingParty('interop-confidential', 'interop-secret'), { scope: 'openid' });
    equal(exchanged.claims().sub, browserLogin.claims().sub, 'sub');

    const narrowed = await client.genericGrantRequest(backend, 'urn:ietf:params:oauth:grant-type:token-exchange', {
      subject_token: exchanged.access_token, subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      audience: 'https://billing.interop.example',
    });
    const claims = jwtClaims(narrowed.access_token);
    equal([claims.aud, claims.scope, claims.sub], ['https://billing.interop.example', 'email', browserLogin.claims().sub], 'the narrowed token');
    await fails(client.genericGrantRequest(backend, 'urn:ietf:params:oauth:grant-type:token-exchange', {
      subject_token: exchanged.access_token, subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      audience: 'https://unknown.example',
    }), 'an exchange for an audience that is not a resource server');
  });
  // The person's part of an MCP client's sign-in: Chromium from the SDK's authorization
  // URL back to the application, the consent page (which says who asks) on the way.
  let consentNotice;
  const mcpSignIn = (url) => visit(url, async (p) => {
    if (p.url().startsWith(GH) && await p.locator('button[value="allow"]').count()) {
      consentNotice = await p.locator('p.alert').textContent();
    }
    await personClicksThrough(p);
  });

  await test('MCP by Dynamic Client Registration: the official TypeScript SDK finds Gatehouse by the server\'s RFC 9728 metadata, registers itself (RFC 7591), the person signs in in Chromium, and the SDK calls a tool with a token for the server (RFC 8707 aud) that answers the person\'s sub', async () => {
    consentNotice = undefined;
    const result = await mcpWhoami({ mcpUrl: MCP_URL, redirectUrl: REDIRECT, clientName: 'Interop MCP (DCR)', signIn: mcpSignIn });
    equal(result.sub, graceSub, 'the tool answers the person\'s sub');
    if (!result.client.client_id?.startsWith('dyn.')) throw new Error(`not a registered client: ${JSON.stringify(result.client)}`);
    equal(result.authorizationUrl.searchParams.get('resource'), MCP_URL, 'the SDK asks for the server as its resource');
    equal(jwtClaims(result.tokens.access_token).aud, MCP_URL, 'the access token is for the MCP server');
    if (!consentNotice?.includes('registered itself')) throw new Error(`the consent page did not say so: ${consentNotice}`);
  });

  await test('MCP by Client ID Metadata Document: the SDK\'s client id is its document\'s URL, which Gatehouse fetches; the person consents (told the document\'s host), and the tool answers the same sub', async () => {
    consentNotice = undefined;
    // The SDK takes a document URL only over https (it checks before using one); the
    // interop's is on loopback over http, so the SDK is given it as the client id it has.
    const result = await mcpWhoami({
      mcpUrl: MCP_URL, redirectUrl: REDIRECT, clientName: 'Interop MCP Agent', clientId: MCP_CLIENT_DOCUMENT, signIn: mcpSignIn,
    });
    equal(result.sub, graceSub, 'the tool answers the person\'s sub');
    equal(jwtClaims(result.tokens.access_token).client_id, MCP_CLIENT_DOCUMENT, 'the client is the document');
    equal(jwtClaims(result.tokens.access_token).aud, MCP_URL, 'the access token is for the MCP server');
    if (!consentNotice?.includes('described by a document at 127.0.0.1')) throw new Error(`the consent page did not say so: ${consentNotice}`);
    if (!mcpServer.refusals.length) throw new Error('the MCP server never refused a missing token');
  });

  await test('LDAP: a person types their directory password on Gatehouse\'s form (slapd), gets its claims and nested groups, and refreshes', async () => {
    // A browser of their own: no Gatehouse session yet.
    const own = await browser.newContext();
    try {
      const p = await own.newPage();
      let typed = 0;
      const steps = async (at) => {
        if (await at.locator('input[name="password"]').count()) {
          // First a wrong password, which the form refuses (on the same URL); then the right one.
          for (const password of ['not her password', 'correct horse']) {
            typed += 1;
            await at.fill('input[name="username"]', 'ada');
            await at.fill('input[name="password"]', password);
            await at.screenshot({ path: join(SHOTS, `ldap-login-${typed}.png`), fullPage: true });
            await Promise.all([at.waitForNavigation(), at.click('button[type="submit"]')]);
            if (typed === 1 && !(await at.locator('text=Wrong username or password.').count())) {
              throw new Error('a wrong password was not refused on the form');
            }
          }
          // The answer to the password is the consent page, at the form's own URL.
          await at.locator('button[value="allow"]').waitFor();
          await at.screenshot({ path: join(SHOTS, 'ldap-consent.png'), fullPage: true });
          await at.click('button[value="allow"]');
        } else {
          await at.waitForLoadState();
        }
      };
      const ada = await login(confidential, { scope: 'openid profile email groups offline_access', extra: { upstream: 'directory' }, on: p, steps });
      equal(typed, 2, 'the form was filled twice');
      const claims = ada.claims();
      equal([claims.name, claims.email, claims.email_verified, claims.amr], ['Ada Lovelace', 'ada@example.org', false, ['pwd']], 'claims');
      equal(claims.groups, ['engineering', 'loop-a', 'loop-b', 'staff'], 'groups, nested');
      // refresh = "on_refresh": the entry is read again in the directory.
      const refreshed = await client.refreshTokenGrant(confidential, ada.refresh_token);
      equal(refreshed.claims().sub, claims.sub, 'the same person after the refresh');
    } finally {
      await own.close();
    }
  });
  await test('SAML: SimpleSAMLphp (metadata by URL) logs the person in (its cross-site POST of an encrypted assertion to the ACS reaches the browser\'s login, the app gets mapped claims), out from the app (a signed LogoutRequest to the IdP and back) and out from the IdP (its signed LogoutRequest ends the session)', async () => {
    // A browser of its own: no Gatehouse session, and its cookies as Chromium keeps them.
    const own = await browser.newContext();
    try {
      const p = await own.newPage();
      // What SimpleSAMLphp's page posts to the ACS: its Response, with the Assertion encrypted.
      const posted = [];
      p.on('request', (request) => {
        if (request.url() === `${GH}/saml/uni/acs`) {
          const response = new URLSearchParams(request.postData() ?? '').get('SAMLResponse') ?? '';
          posted.push(Buffer.from(response, 'base64').toString());
        }
      });
      let typed = false;
      const steps = async (at) => {
        if (at.url().startsWith(samlIdp.base) && await at.locator('input[name="password"]').count()) {
          typed = true;
          await at.screenshot({ path: join(SHOTS, 'saml-idp-login.png'), fullPage: true });
          await at.fill('input[name="username"]', SAML_USER.username);
          await at.fill('input[name="password"]', SAML_USER.password);
          await Promise.all([at.waitForNavigation(), at.press('input[name="password"]', 'Enter')]);
        } else if (at.url().startsWith(GH) && await at.locator('button[value="allow"]').count()) {
          await at.screenshot({ path: join(SHOTS, 'saml-consent.png'), fullPage: true });
          await at.click('button[value="allow"]');
        } else {
          await at.waitForLoadState();
        }
      };
      const grace = await login(confidential, { scope: 'openid profile email affiliation', extra: { upstream: 'uni' }, on: p, steps });
      if (!typed) throw new Error('the SimpleSAMLphp login form was never shown');
      if (posted.length !== 1 || !posted[0].includes('EncryptedAssertion') || posted[0].includes('<saml:Assertion')) {
        throw new Error(`the ACS got no encrypted assertion: ${posted.map((x) => x.slice(0, 300))}`);
      }
      const claims = grace.claims();
      equal([claims.name, claims.given_name, claims.email, claims.preferred_username],
        ['Grace Hopper', 'Grace', 'grace@uni.example', 'grace@uni.example'], 'claims');
      equal(claims.affiliation, ['staff@uni.example', 'member@uni.example'], 'affiliation');
      // The browser's Gatehouse cookies are SameSite=Lax: the IdP's POST could not carry them.
      const cookies = await own.cookies(GH);
      if (!cookies.length || cookies.some((c) => c.sameSite === 'None')) throw new Error(`cookies: ${JSON.stringify(cookies.map((c) => [c.name, c.sameSite]))}`);

      // Logging out at the app: Gatehouse ends its session, then sends the person to
      // SimpleSAMLphp with a LogoutRequest signed by its SP key, whose signed LogoutResponse
      // brings them back through Gatehouse to the app.
      const bye = client.buildEndSessionUrl(confidential, {
        id_token_hint: grace.id_token, post_logout_redirect_uri: AFTER_LOGOUT, state: 'saml-bye',
      });
      const back = await visit(bye.href, async (at) => { await at.waitForLoadState(); }, p);
      equal([back.origin + back.pathname, back.searchParams.get('state')], [AFTER_LOGOUT, 'saml-bye'], 'back at the app');
      if (!gatehouseLog.join('').includes('session ended by logout')) throw new Error('no logout in the log');
      // Out at the IdP too: the next login asks for the password again.
      typed = false;
      await login(confidential, { scope: 'openid', extra: { upstream: 'uni' }, on: p, steps });
      if (!typed) throw new Error('SimpleSAMLphp still had a session after the logout');

      // Logging out at SimpleSAMLphp: its signed LogoutRequest ends the Gatehouse session,
      // and Gatehouse's LogoutResponse takes the browser back, on to the RelayState.
      landed = null;
      await p.goto(samlIdp.logoutUrl(`${RP}/saml-logged-out`));
      for (let i = 0; i < 50 && !landed; i += 1) await new Promise((ok) => setTimeout(ok, 100));
      if (!landed?.startsWith(`${RP}/saml-logged-out`)) throw new Error(`the logout ended at ${p.url()}`);
      const silent = client.buildAuthorizationUrl(confidential, { redirect_uri: REDIRECT, scope: 'openid', prompt: 'none', state: 's' });
      const answer = await visit(silent.href, async () => {}, p);
      equal(answer.searchParams.get('error'), 'login_required', 'prompt=none after the IdP\'s logout');
    } finally {
      await own.close();
    }
  });
} catch (e) {
  results.push(false);
  console.log(`not ok - the suite could not run: ${e?.stack ?? e}`);
} finally {
  await samlIdp.stop().catch(() => {});
  rmSync(spKeys, { recursive: true, force: true });
  slapd.stdin.end();
  await slapdStopped;
  await browser.close().catch(() => {});
  if (gatehouse && gatehouse.exitCode === null) await stopGatehouse().catch(() => {});
  upstreamServer.close();
  appServer.close();
  await mcpServer?.stop().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
}

const passed = results.filter(Boolean).length;
const failed = results.length - passed;
if (failed) console.log(`--- Gatehouse's log ---\n${gatehouseLog.join('')}\n--- SimpleSAMLphp's log ---\n${samlIdp.log.join('')}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);

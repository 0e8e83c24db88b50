// An MCP server that trusts Gatehouse, and the official MCP TypeScript SDK as its client.
//
// The server publishes its protected resource metadata (RFC 9728) naming Gatehouse as its
// authorization server, answers 401 with a `resource_metadata` challenge without a token,
// and takes only Gatehouse's JWT access tokens whose `aud` is its own URL (checked with
// jose against Gatehouse's JWKS). Its one tool, `whoami`, answers the token's `sub`.
//
// The client side is the SDK's own OAuth: it discovers all of that, registers itself
// (RFC 7591) or names its metadata document as its client id, sends the person to
// Gatehouse (the `authorize` callback drives Chromium there) and redeems the code with
// PKCE and the `resource` of the server.

import { createServer } from 'node:http';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

/** Starts the MCP server on `port`; its URL is `${origin}/mcp`. */
export async function startMcpServer({ port, issuer }) {
  const origin = `http://127.0.0.1:${port}`;
  const resource = `${origin}/mcp`;
  const metadataUrl = `${origin}/.well-known/oauth-protected-resource/mcp`;
  const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`));
  const refusals = [];

  const server = createServer(async (request, response) => {
    if (request.url === '/.well-known/oauth-protected-resource/mcp' || request.url === '/.well-known/oauth-protected-resource') {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ resource, authorization_servers: [issuer], bearer_methods_supported: ['header'] }));
      return;
    }
    if (!request.url.startsWith('/mcp')) {
      response.writeHead(404).end();
      return;
    }
    const challenge = (error) => {
      refusals.push(error ?? 'no token');
      const detail = error ? `, error="invalid_token"` : '';
      response.writeHead(401, { 'www-authenticate': `Bearer resource_metadata="${metadataUrl}"${detail}` });
      response.end();
    };
    const token = /^Bearer (.+)$/i.exec(request.headers.authorization ?? '')?.[1];
    if (!token) return challenge();
    let claims;
    try {
      ({ payload: claims } = await jwtVerify(token, jwks, { issuer, audience: resource, typ: 'at+jwt' }));
    } catch (e) {
      return challenge(e.code ?? String(e));
    }
    let body = '';
    for await (const chunk of request) body += chunk;
    const mcp = new McpServer({ name: 'interop-mcp', version: '1.0.0' });
    mcp.registerTool('whoami', { description: 'The person the access token is for' }, async () => ({
      content: [{ type: 'text', text: claims.sub }],
    }));
    // Stateless: one server and transport per request.
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    response.on('close', () => { transport.close(); mcp.close(); });
    await mcp.connect(transport);
    await transport.handleRequest(request, response, body ? JSON.parse(body) : undefined);
  });
  await new Promise((ok) => server.listen(port, '127.0.0.1', ok));
  return {
    url: resource,
    refusals,
    stop: () => new Promise((ok) => server.close(ok)),
  };
}

/**
 * The SDK's OAuth client state, in memory. `clientId` given: the client is known by it
 * (a metadata document's URL); otherwise the SDK registers itself.
 */
class MemoryProvider {
  constructor({ redirectUrl, clientName, clientId, authorize }) {
    this.redirect = redirectUrl;
    this.name = clientName;
    this.information = clientId ? { client_id: clientId } : undefined;
    this.authorize = authorize;
    this.saved = undefined;
    this.verifier = undefined;
    this.authorizationUrl = undefined;
  }
  get redirectUrl() { return this.redirect; }
  get clientMetadata() {
    return {
      client_name: this.name,
      redirect_uris: [this.redirect],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      scope: 'openid',
    };
  }
  clientInformation() { return this.information; }
  saveClientInformation(information) { this.information = information; }
  tokens() { return this.saved; }
  saveTokens(tokens) { this.saved = tokens; }
  redirectToAuthorization(url) { this.authorizationUrl = url; }
  saveCodeVerifier(verifier) { this.verifier = verifier; }
  codeVerifier() { return this.verifier; }
}

/**
 * Connects the SDK to the MCP server at `mcpUrl`: the first attempt is refused and sends
 * the person to Gatehouse (`signIn(url)` returns the URL the browser came back to), the
 * code is redeemed, and the second attempt calls `whoami`. Returns the tool's answer, the
 * client's information and its tokens.
 */
export async function mcpWhoami({ mcpUrl, redirectUrl, clientName, clientId, signIn }) {
  const provider = new MemoryProvider({ redirectUrl, clientName, clientId });
  const first = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider });
  const refused = new Client({ name: clientName, version: '1.0.0' });
  try {
    await refused.connect(first);
    throw new Error('the MCP server let the SDK in without a token');
  } catch (e) {
    if (!(e instanceof UnauthorizedError)) throw e;
  }
  if (!provider.authorizationUrl) throw new Error('the SDK did not send the person to sign in');
  const back = await signIn(provider.authorizationUrl.href);
  const error = back.searchParams.get('error');
  if (error) throw new Error(`the sign-in ended with ${error}: ${back.searchParams.get('error_description')}`);
  await first.finishAuth(back.searchParams.get('code'));

  const mcp = new Client({ name: clientName, version: '1.0.0' });
  await mcp.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider }));
  const answer = await mcp.callTool({ name: 'whoami', arguments: {} });
  await mcp.close();
  return {
    sub: answer.content?.[0]?.text,
    authorizationUrl: provider.authorizationUrl,
    client: provider.information,
    tokens: provider.saved,
  };
}

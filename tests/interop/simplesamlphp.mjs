// SimpleSAMLphp (Debian's package) as a real SAML 2.0 identity provider for the interop
// suite: a scratch config in a temporary folder (its own signing key, one user with
// eduPerson attributes sent under their urn:oid names, a persistent NameID, assertions
// encrypted for Gatehouse's SP certificate), served by
// `php -S` on a loopback port. Its host is `localhost` while Gatehouse's is `127.0.0.1`,
// so its POST to Gatehouse's ACS is cross-site, as it is in production.

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const WWW = '/usr/share/simplesamlphp/www';

export const USER = { username: 'grace', password: 'grace-password' };

/**
 * Starts the IdP on `port` for the SP `spEntityId` with its ACS, logout service and signing
 * certificate (`spCertificate`, base64 DER, which its requests must be signed with), its logout
 * allowed to return to `trustedHosts` (host:port); resolves once it answers.
 */
export async function startSimpleSamlPhp({ port, spEntityId, acs, slo, spCertificate, trustedHosts = [] }) {
  if (!existsSync(WWW)) throw new Error('SimpleSAMLphp is missing: apt-get install simplesamlphp php-xml (.ci/run installs it)');
  const base = `http://localhost:${port}`;
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-simplesamlphp-'));
  for (const sub of ['config', 'metadata', 'cert', 'data']) mkdirSync(join(dir, sub));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
    '-subj', '/CN=SimpleSAMLphp interop IdP', '-keyout', join(dir, 'cert/idp.key'), '-out', join(dir, 'cert/idp.crt')],
  { stdio: 'ignore' });
  const php = (value) => `'${String(value).replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
  writeFileSync(join(dir, 'config/config.php'), `<?php
$config = [
    'baseurlpath' => ${php(`${base}/`)},
    'certdir' => ${php(`${dir}/cert/`)},
    'metadatadir' => ${php(`${dir}/metadata/`)},
    'attributenamemapdir' => '/etc/simplesamlphp/attributemap/',
    'datadir' => ${php(`${dir}/data/`)},
    'tempdir' => ${php(`${dir}/data/`)},
    'loggingdir' => ${php(`${dir}/data/`)},
    'logging.handler' => 'errorlog',
    'logging.level' => SimpleSAML\\Logger::NOTICE,
    'secretsalt' => 'interop-salt-not-a-secret-0123456789',
    'auth.adminpassword' => 'interop-admin-not-a-secret',
    'technicalcontact_email' => 'interop@example.org',
    'timezone' => 'UTC',
    'enable.saml20-idp' => true,
    'module.enable' => ['exampleauth' => true, 'core' => true, 'saml' => true, 'admin' => false],
    'store.type' => 'phpsession',
    'session.cookie.secure' => false,
    'session.phpsession.savepath' => ${php(`${dir}/data`)},
    'language.default' => 'en',
    // Where its logout may send the browser back to (host:port).
    'trusted.url.domains' => [${trustedHosts.map(php).join(', ')}],
];
`);
  writeFileSync(join(dir, 'config/authsources.php'), `<?php
$config = [
    'admin' => ['core:AdminPassword'],
    'people' => [
        'exampleauth:UserPass',
        ${php(`${USER.username}:${USER.password}`)} => [
            'uid' => ['grace'],
            'mail' => ['grace@uni.example'],
            'givenName' => ['Grace'],
            'sn' => ['Hopper'],
            'displayName' => ['Grace Hopper'],
            'eduPersonPrincipalName' => ['grace@uni.example'],
            'eduPersonScopedAffiliation' => ['staff@uni.example', 'member@uni.example'],
        ],
    ],
];
`);
  writeFileSync(join(dir, 'metadata/saml20-idp-hosted.php'), `<?php
$metadata[${php(`${base}/idp`)}] = [
    'host' => '__DEFAULT__',
    'privatekey' => 'idp.key',
    'certificate' => 'idp.crt',
    'auth' => 'people',
    'logouttype' => 'traditional',
    'signature.algorithm' => 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
    'authproc' => [
        90 => ['class' => 'saml:PersistentNameID', 'attribute' => 'uid'],
        100 => ['class' => 'core:AttributeMap', 'name2oid'],
    ],
    'attributes.NameFormat' => 'urn:oasis:names:tc:SAML:2.0:attrname-format:uri',
];
`);
  writeFileSync(join(dir, 'metadata/saml20-sp-remote.php'), `<?php
$metadata[${php(spEntityId)}] = [
    'AssertionConsumerService' => ${php(acs)},
    'SingleLogoutService' => ${php(slo)},
    // Its LogoutRequests to Gatehouse are signed (Gatehouse refuses unsigned ones).
    'sign.logout' => true,
    // Gatehouse's AuthnRequests and LogoutResponses must be signed by its SP key.
    'certData' => ${php(spCertificate)},
    'validate.authnrequest' => true,
    'validate.logout' => true,
    'NameIDFormat' => 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
    // Assertions go encrypted for the same certificate, with AES-GCM.
    'assertion.encryption' => true,
    'sharedkey_algorithm' => 'http://www.w3.org/2009/xmlenc11#aes128-gcm',
];
`);
  const log = [];
  const server = spawn('php', ['-S', `localhost:${port}`, '-t', WWW], {
    env: { ...process.env, SIMPLESAMLPHP_CONFIG_DIR: join(dir, 'config') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const stream of [server.stdout, server.stderr]) stream.on('data', (d) => log.push(String(d)));
  const stopped = new Promise((ok) => server.once('exit', ok));
  let metadata;
  const deadline = Date.now() + 20_000;
  while (!metadata && Date.now() < deadline) {
    try {
      const answer = await fetch(`${base}/saml2/idp/metadata.php`);
      if (answer.ok) metadata = await answer.text();
    } catch { /* not up yet */ }
    if (!metadata) await new Promise((ok) => setTimeout(ok, 100));
  }
  if (!metadata) throw new Error(`SimpleSAMLphp did not start:\n${log.join('')}`);
  const metadataFile = join(dir, 'idp-metadata.xml');
  writeFileSync(metadataFile, metadata);
  return {
    base,
    metadataFile,
    metadataUrl: `${base}/saml2/idp/metadata.php`,
    log,
    /** Where a browser with a session there starts single logout, coming back to `relayState`. */
    logoutUrl(relayState) {
      return `${base}/saml2/idp/initSLO.php?RelayState=${encodeURIComponent(relayState)}`;
    },
    async stop() {
      server.kill('SIGTERM');
      await stopped;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

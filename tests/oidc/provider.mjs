// A real OpenID provider for the tests and for `make run`: node's `oidc-provider` (OpenID-certified), configured
// like the SPID/CIE OpenID Connect profiles: authorization code + PKCE (S256) only, signed request objects required,
// private_key_jwt client authentication, the `claims` request parameter, acr values for the level of assurance
// (SpidL1-3), and a userinfo answer signed and encrypted for the relying party. Its login page lists demo citizens.
//
//   node tests/oidc/provider.mjs CONFIG.json
//
// CONFIG: {issuer, port, keys: [private JWKs], cookie_key, clients: [client metadata with jwks], citizens: [{id,
// given_name, family_name, fiscal_number, email, phone_number}]}. It prints "listening" when ready.
import fs from 'node:fs';
import http from 'node:http';
import { URLSearchParams } from 'node:url';

import Provider from 'oidc-provider';

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const FISCAL = 'https://attributes.eid.gov.it/fiscal_number';
const LEVELS = ['https://www.spid.gov.it/SpidL1', 'https://www.spid.gov.it/SpidL2', 'https://www.spid.gov.it/SpidL3'];
const citizens = new Map(cfg.citizens.map((c) => [c.id, c]));

const provider = new Provider(cfg.issuer, {
  clients: cfg.clients,
  jwks: { keys: cfg.keys },
  cookies: { keys: [cfg.cookie_key] },
  acrValues: LEVELS,
  claims: {
    openid: ['sub'],
    profile: ['given_name', 'family_name', FISCAL],
    email: ['email', 'email_verified'],
    phone: ['phone_number'],
    [FISCAL]: null,
    given_name: null,
    family_name: null,
    email: null,
    phone_number: null,
    acr: null,
  },
  clientAuthMethods: ['private_key_jwt'],
  features: {
    devInteractions: { enabled: false },
    claimsParameter: { enabled: true },
    requestObjects: { enabled: true, requireSignedRequestObject: true },
    jwtUserinfo: { enabled: true },
    encryption: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  pkce: { required: () => true },
  responseTypes: ['code'],
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    const c = citizens.get(id);
    if (!c) return undefined;
    return {
      accountId: id,
      async claims() {
        const out = {
          sub: id, given_name: c.given_name, family_name: c.family_name, [FISCAL]: `TINIT-${c.fiscal_number}`,
        };
        if (c.email) Object.assign(out, { email: c.email, email_verified: true });
        if (c.phone_number) out.phone_number = c.phone_number;
        return out;
      },
    };
  },
});
provider.on('server_error', (ctx, err) => console.error('server_error', err));

const esc = (s) => String(s).replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

function page(uid, params) {
  const wanted = String(params.acr_values || LEVELS[1]).split(' ')[0];
  const rows = [...citizens.values()].map((c, i) => `
      <li><input type="radio" name="account" id="c${i}" value="${esc(c.id)}"${i === 0 ? ' checked' : ''}>
        <label for="c${i}">${esc(c.given_name)} ${esc(c.family_name)} <small>(${esc(c.fiscal_number)})</small></label></li>`).join('');
  return `<!doctype html><html lang="it"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Accesso di prova — fornitore di identità</title>
<style>body{font-family:sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;color:#1a1a1a}
li{list-style:none;margin:.5rem 0}button{font-size:1rem;padding:.5rem 1rem;margin-right:.5rem}</style></head>
<body><main><h1>Fornitore di identità di prova</h1>
<p>Ambiente di sviluppo: nessuna password. Scelga il cittadino con cui entrare (livello richiesto: ${esc(wanted.split('/').pop())}).</p>
<form method="post" action="/interaction/${esc(uid)}"><fieldset><legend>Cittadino</legend><ul>${rows}</ul></fieldset>
<button type="submit" name="action" value="login">Autorizza e entra</button>
<button type="submit" name="action" value="abort">Annulla</button></form></main></body></html>`;
}

async function body(req) {
  let data = '';
  for await (const chunk of req) data += chunk;
  return Object.fromEntries(new URLSearchParams(data));
}

const handler = provider.callback();
const server = http.createServer(async (req, res) => {
  const match = /^\/interaction\/([\w-]+)$/.exec(req.url.split('?')[0]);
  if (!match) return handler(req, res);
  try {
    const details = await provider.interactionDetails(req, res);
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      return res.end(page(details.uid, details.params));
    }
    const form = await body(req);
    if (form.action !== 'login' || !citizens.has(form.account)) {
      return await provider.interactionFinished(req, res, {
        error: 'access_denied', error_description: 'the citizen cancelled the sign-in',
      }, { mergeWithLastSubmission: false });
    }
    const { params } = details;
    const grant = new provider.Grant({ accountId: form.account, clientId: params.client_id });
    grant.addOIDCScope(String(params.scope || 'openid'));
    let requested = {};
    try { requested = params.claims ? JSON.parse(params.claims) : {}; } catch { requested = {}; }
    const claimNames = new Set(['sub', ...Object.keys(requested.userinfo || {}), ...Object.keys(requested.id_token || {})]);
    grant.addOIDCClaims([...claimNames]);
    const grantId = await grant.save();
    const acr = String(params.acr_values || LEVELS[1]).split(' ').find((v) => LEVELS.includes(v)) || LEVELS[1];
    return await provider.interactionFinished(req, res, {
      login: { accountId: form.account, acr, amr: ['pwd'] },
      consent: { grantId },
    }, { mergeWithLastSubmission: false });
  } catch (err) {
    console.error('interaction error', err);
    res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' });
    return res.end('Sessione di accesso scaduta o non valida: torni al sito del Comune e riprovi.');
  }
});
server.listen(cfg.port, '127.0.0.1', () => console.log(`listening ${cfg.issuer}`));
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => server.close(() => process.exit(0)));

// The browser tool: verify & sign (offline), the dashboard of the local server, inboxes and
// the event catalog. Each view has a URL (#verify, #dashboard, #inbox, #events); a link with
// `#key=…` (what `cdhooks-server dev` prints) or `#session=…` (a portal link the provider hands
// its customer) connects without pasting anything: the fragment never reaches the server, and
// the page drops it from the address bar and history at once.
import { loadCatalog, session, setAccount, setKey } from './api.mjs';
import { chooseEventType, connect, onConnected } from './dashboard.mjs';
import { $, el, renderResults } from './dom.mjs';
import { render as renderInbox, useInbox } from './inbox.mjs';
import { explain, parseHeaderLines, parseRawRequest, signDelivery, verifyDelivery, WebhookVerificationError } from './verify.mjs';

const VIEWS = ['verify', 'dashboard', 'inbox', 'events'];

function show(view) {
  for (const tab of document.querySelectorAll('.tab')) {
    if (tab.dataset.view === view) tab.setAttribute('aria-current', 'page');
    else tab.removeAttribute('aria-current');
  }
  for (const section of document.querySelectorAll('.view')) section.hidden = section.id !== `view-${view}`;
  document.title = `cdhooks — ${document.querySelector(`.tab[data-view="${view}"]`).textContent}`;
}

/** The view the address names; parameters in the fragment are taken in and removed. */
function route() {
  const fragment = location.hash.slice(1);
  if (fragment.includes('=')) {
    const params = new URLSearchParams(fragment);
    const credential = params.get('session') ?? params.get('key');
    if (credential) {
      setKey(credential);
      setAccount('');
      if (document.documentElement.dataset.ready) connect();
    }
    if (params.get('inbox')) useInbox(params.get('inbox'), params.get('secret') ?? undefined);
    const view = params.get('inbox') ? 'inbox' : 'dashboard';
    history.replaceState(null, '', `#${view}`);
    show(view);
    return;
  }
  show(VIEWS.includes(fragment) ? fragment : 'verify');
}

// ---- Verify & sign -------------------------------------------------------------------

function currentDelivery() {
  const input = $('verify-input').value;
  const raw = parseRawRequest(input);
  const headers = { ...(raw?.headers ?? {}), ...parseHeaderLines($('verify-headers').value) };
  return { body: raw ? raw.body : input, headers };
}

$('verify-form').addEventListener('submit', (event) => {
  event.preventDefault();
  $('sign-output').hidden = true;
  const { body, headers } = currentDelivery();
  renderResults($('verify-result'), verifyDelivery({ body, headers, secret: $('verify-secret').value, ignoreAge: $('verify-ignore-age').checked }));
});

$('sign-button').addEventListener('click', () => {
  const secret = $('verify-secret').value;
  $('sign-output').hidden = true;
  $('sign-result').textContent = '';
  if (!secret) {
    renderResults($('verify-result'), [{ scheme: 'none', ok: false, code: 'invalid_secret', message: 'Enter the webhook secret.' }]);
    return;
  }
  let headers;
  try {
    headers = signDelivery({ body: currentDelivery().body, secret });
  } catch (e) {
    if (!(e instanceof WebhookVerificationError)) throw e;
    renderResults($('verify-result'), [{ scheme: 'none', ok: false, code: e.code, message: explain(e.code, secret) }]);
    return;
  }
  $('verify-result').replaceChildren();
  $('sign-result').textContent = Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\n');
  $('sign-output').hidden = false;
});

// ---- Event types -----------------------------------------------------------------------

async function renderEventTypes() {
  const catalog = await loadCatalog();
  $('event-types').replaceChildren(
    ...catalog.map((t) =>
      el('li', { 'data-type': t.name, 'data-deprecated': String(Boolean(t.deprecated)) },
        el('h3', {}, el('code', {}, t.name), ` — ${t.description}`, t.deprecated ? el('span', { class: 'bad deprecated' }, ' (deprecated)') : null),
        el('pre', { class: 'example' }, JSON.stringify(t.example, null, 2)),
        el('details', { class: 'schema' },
          el('summary', {}, `Schema of data (version ${t.version})`),
          el('pre', {}, JSON.stringify(t.schema, null, 2)),
        ),
        el('button', { type: 'button', class: 'small', onclick: () => emitFromCatalog(t.name) }, 'Emit this in the Dashboard'),
      ),
    ),
  );
}

function emitFromCatalog(name) {
  chooseEventType(name);
  location.hash = 'dashboard';
}

// ---- Start ---------------------------------------------------------------------------

window.addEventListener('hashchange', route);
onConnected(renderInbox);
route();
renderInbox();
await renderEventTypes();
if (session.key) await connect();
document.documentElement.dataset.ready = 'true';

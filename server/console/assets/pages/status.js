// Status: health, readiness, configuration source, confinement, version,
// and (for admins) rate-limit statistics.

import * as api from '../api.js';
import {h, when, pretty, pageHeader, badge} from '../dom.js';

function facts(pairs) {
  return h('dl', {class: 'facts'}, pairs.filter(Boolean).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

async function fetchJson(path) {
  // /health and /ready are public and answer 503 with a body when not ready.
  const response = await fetch(path, {headers: {Accept: 'application/json'}, cache: 'no-store'});
  return {ok: response.ok, body: await response.json().catch(() => null)};
}

function layers(health) {
  const value = health.confinement ?? health.sandbox ?? health.layers;
  if (value === undefined) return h('span', {class: 'muted'}, 'not reported by this server');
  if (typeof value !== 'object' || value === null) return String(value);
  return h('ul', {class: 'chips'}, Object.entries(value).map(([k, v]) =>
    h('li', {}, h('code', {}, k), ' ', typeof v === 'boolean' ? badge(v ? 'on' : 'off', v ? 'ok' : 'warn') : pretty(v))));
}

const COLUMNS = [['route', 'Route'], ['requests', 'Requests'], ['period_seconds', 'Per (s)'],
  ['allowed', 'Allowed'], ['limited', 'Limited'], ['tracked_keys', 'Tracked keys']];

export async function render(main) {
  const [health, ready] = await Promise.all([fetchJson('/health'), fetchJson('/ready')]);
  const hb = health.body || {};
  const rb = ready.body || {};
  const p = hb.policy || {};
  main.append(pageHeader('Status'),
    h('section', {class: 'card', id: 'status-health'}, h('h2', {}, 'Server'),
      facts([
        ['health', badge(hb.status || 'unreachable', health.ok ? 'ok' : 'bad')],
        ['readiness', badge(rb.status || 'unknown', ready.ok ? 'ok' : 'bad'), ` database ${rb.database || '?'}`],
        ['version', hb.version],
        ['config source', h('strong', {}, hb.config_source)],
        ['policy', `generation ${p.generation}, from ${p.source}, loaded ${when(p.loaded_at)}`],
        p.last_error ? ['last reload error', h('span', {class: 'error'}, p.last_error)] : null,
        ['authentication', hb.auth_enabled ? badge('on', 'ok') : badge('off', 'bad')],
        ['rate limits', hb.rate_limit_enabled ? badge('on', 'ok') : badge('off', 'warn')],
        ['confinement layers', layers(hb)],
      ])));
  if (api.hasScope('admin')) {
    try {
      const stats = await api.api('GET', '/api/security/rate-limit-stats');
      const routes = stats.routes || [];
      main.appendChild(h('section', {class: 'card', id: 'status-rates'}, h('h2', {}, 'Rate limits'),
        h('div', {class: 'table-wrap'}, h('table', {id: 'rate-table'},
          h('thead', {}, h('tr', {}, COLUMNS.map(([, label]) => h('th', {}, label)))),
          h('tbody', {}, routes.map((r) => h('tr', {}, COLUMNS.map(([key]) =>
            h('td', {}, key === 'route' ? h('code', {}, r.route) : String(r[key] ?? '—')))))))),
        h('details', {}, h('summary', {}, 'All statistics'), h('pre', {class: 'args'}, pretty(stats)))));
    } catch (e) {
      main.appendChild(h('p', {class: 'error'}, e.detail));
    }
  }
}

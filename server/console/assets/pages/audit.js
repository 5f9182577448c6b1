// The audit log: filters, paging, and a live tail of the newest entries.

import * as api from '../api.js';
import {h, fill, field, when, pageHeader, badge} from '../dom.js';

const PAGE = 50;
const TAIL_MS = 3000;

function isoOf(local) {
  if (!local) return '';
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}

export async function render(main) {
  const actor = h('input', {id: 'audit-actor', placeholder: 'alice or key:…'});
  const action = h('input', {id: 'audit-action', placeholder: 'tool.execute_command'});
  const outcome = h('select', {id: 'audit-outcome'}, ['', 'success', 'failure', 'denied', 'error'].map((o) =>
    h('option', {value: o}, o || 'any')));
  const since = h('input', {id: 'audit-since', type: 'datetime-local'});
  const until = h('input', {id: 'audit-until', type: 'datetime-local'});
  const tail = h('input', {id: 'audit-tail', type: 'checkbox'});
  const apply = h('button', {type: 'submit', class: 'primary'}, 'Apply');
  const form = h('form', {class: 'filters', id: 'audit-filters'},
    field('Actor', actor), field('Action', action), field('Outcome', outcome),
    field('Since', since), field('Until', until), apply,
    h('label', {class: 'check tail'}, tail, ' Live tail'));
  const table = h('div', {class: 'table-wrap'});
  const prev = h('button', {type: 'button', class: 'small'}, '← Newer');
  const next = h('button', {type: 'button', class: 'small'}, 'Older →');
  const where = h('span', {class: 'muted', 'aria-live': 'polite'});
  let offset = 0;
  let seen = new Set();
  let timer = null;

  async function load(highlightNew = false) {
    const q = api.query({actor: actor.value.trim(), action: action.value.trim(), outcome: outcome.value,
      since: isoOf(since.value), until: isoOf(until.value), limit: PAGE, offset});
    let page;
    try {
      page = await api.api('GET', `/api/audit${q}`);
    } catch (e) {
      fill(table, h('p', {class: 'error', role: 'alert'}, e.detail));
      return;
    }
    const rows = page.items.map((r) => h('tr', {class: highlightNew && !seen.has(r.id) ? 'fresh' : ''},
      h('td', {class: 'nowrap'}, when(r.ts)), h('td', {}, r.actor), h('td', {}, h('code', {}, r.action)),
      h('td', {}, r.target), h('td', {}, badge(r.outcome, r.outcome === 'success' ? 'ok' : r.outcome === 'denied' ? 'bad' : 'warn')),
      h('td', {}, r.reason), h('td', {class: 'muted small'}, r.ip)));
    seen = new Set(page.items.map((r) => r.id));
    fill(table, page.items.length === 0 ? h('p', {class: 'muted'}, 'No entries match.') :
      h('table', {id: 'audit-table'}, h('thead', {}, h('tr', {}, ['Time', 'Actor', 'Action', 'Target', 'Outcome', 'Reason', 'IP']
        .map((t) => h('th', {}, t)))), h('tbody', {}, rows)));
    const last = Math.min(page.total, offset + page.items.length);
    where.textContent = page.total === 0 ? '' : `${offset + 1}–${last} of ${page.total}`;
    prev.disabled = offset === 0;
    next.disabled = last >= page.total;
  }

  form.addEventListener('submit', (e) => { e.preventDefault(); offset = 0; load(); });
  prev.addEventListener('click', () => { offset = Math.max(0, offset - PAGE); load(); });
  next.addEventListener('click', () => { offset += PAGE; load(); });
  tail.addEventListener('change', () => {
    clearInterval(timer);
    if (tail.checked) {
      offset = 0;
      load();
      timer = setInterval(() => load(true), TAIL_MS);
    }
  });
  main.append(pageHeader('Audit'),
    h('section', {class: 'card'}, form, h('div', {class: 'pager'}, prev, where, next), table));
  await load();
  return () => clearInterval(timer);
}

// The policy in force, readably, and a dry-run box that answers exactly as
// `ai-orchestrator policy check` does.

import * as api from '../api.js';
import {h, fill, field, busy, when, pretty, pageHeader, badge} from '../dom.js';

function facts(pairs) {
  return h('dl', {class: 'facts'}, pairs.filter(Boolean).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

function list(items, empty = 'none') {
  if (!items || items.length === 0) return h('span', {class: 'muted'}, empty);
  return h('ul', {class: 'chips'}, items.map((i) => h('li', {}, h('code', {}, typeof i === 'string' ? i : pretty(i)))));
}

function words(key) {
  return key.replace(/([A-Z])/g, ' $1').toLowerCase();
}

/** One `commands.allow[i]` rule: the program and whatever else it says. */
function commandRow(rule, index, section) {
  const extra = Object.entries(rule).filter(([k]) => k !== 'program');
  return h('tr', {},
    h('td', {}, h('code', {}, `${section}[${index}]`)),
    h('td', {}, h('strong', {}, rule.program || '?')),
    h('td', {}, extra.length === 0 ? h('span', {class: 'muted'}, 'any arguments within the paths')
      : h('dl', {class: 'facts compact'}, extra.map(([k, v]) => [h('dt', {}, words(k)),
        h('dd', {}, Array.isArray(v) ? list(v) : h('code', {}, pretty(v)))]))));
}

function commandsSection(commands) {
  const allow = commands.allow || [];
  const deny = commands.deny || [];
  const scalars = Object.entries(commands).filter(([k]) => k !== 'allow' && k !== 'deny');
  return h('section', {class: 'card', 'aria-labelledby': 'p-commands'},
    h('h2', {id: 'p-commands'}, 'Commands'),
    facts(scalars.map(([k, v]) => [words(k), h('code', {}, pretty(v))])),
    h('h3', {}, `Allowed programs (${allow.length})`),
    h('div', {class: 'table-wrap'}, h('table', {id: 'policy-commands'},
      h('thead', {}, h('tr', {}, h('th', {}, 'Rule'), h('th', {}, 'Program'), h('th', {}, 'Conditions'))),
      h('tbody', {}, allow.map((r, i) => commandRow(r, i, 'commands.allow'))))),
    h('h3', {}, 'Denied programs'), list(deny.map((d) => (typeof d === 'string' ? d : d.program || pretty(d)))));
}

function pathsSection(paths) {
  const others = Object.entries(paths).filter(([k]) => !['read', 'write', 'deny'].includes(k));
  return h('section', {class: 'card', 'aria-labelledby': 'p-paths'},
    h('h2', {id: 'p-paths'}, 'Paths'),
    facts([
      ['readable roots', list(paths.read)],
      ['writable roots', list(paths.write)],
      ['denied (globs)', list(paths.deny)],
      ...others.map(([k, v]) => [words(k), h('code', {}, pretty(v))]),
    ]));
}

function genericSection(title, value) {
  if (value === undefined || value === null) return null;
  const entries = typeof value === 'object' && !Array.isArray(value) ? Object.entries(value) : [['value', value]];
  if (entries.length === 0) return null;
  return h('section', {class: 'card'}, h('h2', {}, title),
    facts(entries.map(([k, v]) => [words(k), Array.isArray(v) ? list(v) :
      typeof v === 'object' && v !== null ? h('pre', {class: 'args'}, pretty(v)) : h('code', {}, pretty(v))])));
}

function rateSection(rates) {
  if (!rates) return null;
  return h('section', {class: 'card', 'aria-labelledby': 'p-rates'}, h('h2', {id: 'p-rates'}, 'Rate limits'),
    facts([['enabled', rates.enabled ? badge('on', 'ok') : badge('off', 'warn')]]),
    h('div', {class: 'table-wrap'}, h('table', {},
      h('thead', {}, h('tr', {}, h('th', {}, 'Route'), h('th', {}, 'Requests'), h('th', {}, 'Per (s)'))),
      h('tbody', {}, (rates.routes || []).map((r) =>
        r.route === '/assets/{*path}'
          ? h('tr', {}, h('td', {}, h('code', {}, r.route)), h('td', {colspan: '2', class: 'muted'}, 'not charged (the console\'s own files)'))
          : h('tr', {}, h('td', {}, h('code', {}, r.route)), h('td', {}, r.requests), h('td', {}, r.period_seconds)))))));
}

function decisionView(d) {
  const rows = [
    ['decision', d.allowed ? badge('allowed', 'ok decision') : badge('denied', 'bad decision')],
    ['rule', h('code', {class: 'rule', id: 'dry-rule'}, d.rule)],
    ['reason', d.reason],
  ];
  if (d.stages) {
    rows.push(['argv', h('code', {}, JSON.stringify(d.argv))]);
    if (d.stages.length > 1) rows.push(['stages', h('ol', {}, d.stages.map((s) => h('li', {}, h('code', {}, JSON.stringify(s)))))]);
    rows.push(['max runtime', `${d.max_runtime} s`], ['max output', `${d.max_output_bytes} bytes per stream`]);
  } else {
    rows.push(['access', d.access], ['requested', h('code', {}, d.requested)], ['resolved', h('code', {}, d.resolved)]);
  }
  return h('div', {class: `decision-box ${d.allowed ? 'allowed' : 'refused'}`, id: 'dry-result'},
    facts(rows),
    h('details', {}, h('summary', {}, 'As `ai-orchestrator policy check` prints it'), h('pre', {class: 'args'}, pretty(d))));
}

function dryRun(roots) {
  const kind = h('select', {id: 'dry-kind', 'aria-label': 'What to check'},
    h('option', {value: 'command'}, 'command line'), h('option', {value: 'read'}, 'read a path'),
    h('option', {value: 'write'}, 'write a path'));
  const subject = h('input', {id: 'dry-subject', required: true, placeholder: 'cat /etc/shadow', autocomplete: 'off', spellcheck: 'false'});
  const cwd = h('input', {id: 'dry-cwd', placeholder: roots[0] || '/', autocomplete: 'off', spellcheck: 'false'});
  const cwdField = field('Working directory (optional)', cwd, 'default: the first policy root that exists');
  const out = h('div', {'aria-live': 'polite'});
  const submit = h('button', {type: 'submit', class: 'primary', id: 'dry-submit'}, 'Check');
  kind.addEventListener('change', () => {
    cwdField.hidden = kind.value !== 'command';
    subject.placeholder = kind.value === 'command' ? 'cat /etc/shadow' : '/data/report.txt';
  });
  const form = h('form', {class: 'dry-run', id: 'dry-form'},
    h('div', {class: 'row'}, field('Check', kind), field('Command line or absolute path', subject)), cwdField, submit);
  form.addEventListener('submit', busy(submit, async () => {
    const body = {[kind.value]: subject.value};
    if (kind.value === 'command' && cwd.value.trim()) body.cwd = cwd.value.trim();
    try {
      fill(out, decisionView(await api.api('POST', '/api/policy/check', body)));
    } catch (e) {
      fill(out, h('p', {class: 'error', role: 'alert'}, e.detail));
    }
  }));
  return h('section', {class: 'card', 'aria-labelledby': 'p-dry'},
    h('h2', {id: 'p-dry'}, 'Dry run'),
    h('p', {class: 'muted'}, 'What would the policy in force decide? Nothing runs; the question is audited.'),
    form, out);
}

export async function render(main) {
  const [config, health] = await Promise.all([
    api.api('GET', '/api/security/config'), api.api('GET', '/health')]);
  const doc = config.policy || {};
  const p = health.policy || {};
  main.append(
    pageHeader('Policy'),
    h('section', {class: 'card', id: 'policy-in-force', 'aria-labelledby': 'p-force'},
      h('h2', {id: 'p-force'}, 'In force'),
      facts([
        ['source', h('strong', {id: 'policy-source'}, p.source || config.policy_source)],
        ['generation', String(config.generation)],
        ['hash', h('code', {class: 'hash'}, config.policy_hash)],
        ['last reload', when(p.loaded_at || config.loaded_at)],
        ['reloads', `${p.reloads ?? 0} applied, ${p.reload_failures ?? 0} refused`],
        ['last error', p.last_error ? h('span', {class: 'error'}, `${p.last_error} (${when(p.last_error_at)})`)
          : h('span', {class: 'muted'}, 'none')],
        p.last_sync_at ? ['last sync', when(p.last_sync_at)] : null,
      ])),
    dryRun([...((doc.paths || {}).write || []), ...((doc.paths || {}).read || [])]),
    commandsSection(doc.commands || {}),
    pathsSection(doc.paths || {}),
    genericSection('CORS', config.cors),
    rateSection(config.rate_limits),
    ...Object.entries(doc).filter(([k]) => !['version', 'commands', 'paths', 'cors', 'rateLimits'].includes(k))
      .map(([k, v]) => genericSection(words(k), v)));
}

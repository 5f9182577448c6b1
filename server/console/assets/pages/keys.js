// API keys: create (the key is shown once), list, revoke. Used on the account
// page (your own keys) and the users page (everyone's, for admins).

import * as api from '../api.js';
import {h, fill, field, busy, when, notify, copy, scopeList} from '../dom.js';

const SCOPES = ['read', 'write', 'execute', 'admin'];

export function scopeChecks(prefix, checked) {
  return h('fieldset', {class: 'scopes'}, h('legend', {}, 'Scopes'),
    SCOPES.map((s) => h('label', {class: 'check'},
      h('input', {type: 'checkbox', name: `${prefix}-${s}`, value: s, checked: checked.includes(s)}), ` ${s}`)));
}

export function checkedScopes(fieldset) {
  return [...fieldset.querySelectorAll('input[type=checkbox]:checked')].map((c) => c.value);
}

export function keysSection({all}) {
  const mine = api.currentUser();
  const list = h('div', {class: 'table-wrap'});
  const reveal = h('div', {id: 'new-key', 'aria-live': 'polite'});
  const name = h('input', {name: 'key-name', required: true, maxlength: '100', id: 'key-name', placeholder: 'ci-pipeline'});
  const days = h('input', {name: 'key-days', type: 'number', min: '1', id: 'key-days', placeholder: 'never'});
  const scopes = scopeChecks('key', mine.scopes.includes('admin') ? ['read'] : mine.scopes);
  const create = h('button', {type: 'submit', class: 'primary', id: 'key-create'}, 'Create key');
  const form = h('form', {class: 'inline-form', id: 'key-form'},
    field('Name', name), field('Expires in days', days, 'empty: no expiry'), scopes, create);

  async function load() {
    const keys = await api.api('GET', `/api/auth/apikeys${all ? '?all=true' : ''}`);
    const rows = keys.map((k) => {
      const revoke = h('button', {type: 'button', class: 'danger small', disabled: k.revoked}, k.revoked ? 'Revoked' : 'Revoke');
      revoke.addEventListener('click', busy(revoke, async () => {
        if (!confirm(`Revoke the key "${k.name}"? Clients using it stop working at once.`)) return;
        try {
          await api.api('DELETE', `/api/auth/apikeys/${encodeURIComponent(k.id)}`);
          notify(`Key ${k.name} revoked`);
          await load();
        } catch (e) { notify(e.detail, 'error'); }
      }));
      return h('tr', {class: k.revoked ? 'revoked' : ''},
        h('td', {}, k.name), all ? h('td', {}, k.owner) : null, h('td', {}, h('code', {}, `${k.prefix}…`)),
        h('td', {}, scopeList(k.scopes)), h('td', {}, when(k.created_at)), h('td', {}, when(k.expires_at)),
        h('td', {}, when(k.last_used_at)), h('td', {}, revoke));
    });
    fill(list, keys.length === 0 ? h('p', {class: 'muted'}, 'No API keys yet.') :
      h('table', {id: 'keys-table'}, h('thead', {}, h('tr', {},
        h('th', {}, 'Name'), all ? h('th', {}, 'Owner') : null, h('th', {}, 'Prefix'), h('th', {}, 'Scopes'),
        h('th', {}, 'Created'), h('th', {}, 'Expires'), h('th', {}, 'Last used'), h('th', {}, h('span', {class: 'sr-only'}, 'Actions')))),
      h('tbody', {}, rows)));
  }

  form.addEventListener('submit', busy(create, async () => {
    const body = {name: name.value.trim(), scopes: checkedScopes(scopes)};
    if (days.value) body.expires_in_days = Number(days.value);
    try {
      const key = await api.api('POST', '/api/auth/apikeys', body);
      const secret = h('code', {class: 'secret', id: 'new-key-value'}, key.key);
      const copyButton = h('button', {type: 'button', class: 'small', id: 'new-key-copy'}, 'Copy');
      copyButton.addEventListener('click', () => copy(key.key, secret));
      const dismiss = h('button', {type: 'button', class: 'ghost small'}, 'Done, I saved it');
      dismiss.addEventListener('click', () => fill(reveal));
      fill(reveal, h('div', {class: 'card once'},
        h('h3', {}, `Key "${key.name}" created`),
        h('p', {}, 'This is the only time the key is shown. Store it now; the server keeps only its hash.'),
        h('div', {class: 'secret-row'}, secret, copyButton), dismiss));
      name.value = '';
      await load();
    } catch (e) { notify(e.detail, 'error'); }
  }));

  load().catch((e) => fill(list, h('p', {class: 'error'}, e.detail)));
  return h('section', {class: 'card', id: 'keys', 'aria-labelledby': 'keys-title'},
    h('h2', {id: 'keys-title'}, all ? 'API keys (all users)' : 'Your API keys'), reveal, form, list);
}

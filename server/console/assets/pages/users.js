// Users and API keys (admin): users with their scopes, every key, and the
// keys declared in the secrets directory (read-only here).

import * as api from '../api.js';
import {h, fill, field, busy, when, notify, pageHeader, scopeList, badge} from '../dom.js';
import {keysSection, scopeChecks, checkedScopes} from './keys.js';

function usersSection() {
  const table = h('div', {class: 'table-wrap'});
  const username = h('input', {id: 'user-name', required: true, autocomplete: 'off', placeholder: 'alice'});
  const password = h('input', {id: 'user-password', type: 'password', required: true, minlength: '8', autocomplete: 'new-password'});
  const scopes = scopeChecks('user', ['read']);
  const create = h('button', {type: 'submit', class: 'primary', id: 'user-create'}, 'Create user');
  const form = h('form', {class: 'inline-form', id: 'user-form'},
    field('Username', username), field('Password', password, 'at least 8 characters'), scopes, create);

  async function patch(name, body, done) {
    try {
      await api.api('PATCH', `/api/auth/users/${encodeURIComponent(name)}`, body);
      notify(done);
    } catch (e) { notify(e.detail, 'error'); }
    await load();
  }

  async function load() {
    const users = await api.api('GET', '/api/auth/users');
    const me = api.currentUser().username;
    fill(table, h('table', {id: 'users-table'},
      h('thead', {}, h('tr', {}, ['User', 'Scopes', 'State', 'Created', ''].map((t) => h('th', {}, t)))),
      h('tbody', {}, users.map((u) => {
        const edit = h('button', {type: 'button', class: 'small'}, 'Scopes…');
        const toggle = h('button', {type: 'button', class: 'small', disabled: u.username === me}, u.disabled ? 'Enable' : 'Disable');
        const remove = h('button', {type: 'button', class: 'danger small', disabled: u.username === me}, 'Delete');
        const scopeCell = h('td', {}, scopeList(u.scopes));
        edit.addEventListener('click', () => {
          const checks = scopeChecks(`edit-${u.username}`, u.scopes);
          const save = h('button', {type: 'submit', class: 'primary small'}, 'Save');
          const cancel = h('button', {type: 'button', class: 'ghost small'}, 'Cancel');
          cancel.addEventListener('click', () => load());
          const f = h('form', {class: 'scope-edit'}, checks, save, cancel);
          f.addEventListener('submit', (e) => {
            e.preventDefault();
            patch(u.username, {scopes: checkedScopes(checks)}, `Scopes of ${u.username} changed`);
          });
          fill(scopeCell, f);
          checks.querySelector('input').focus();
        });
        toggle.addEventListener('click', busy(toggle, () => patch(u.username, {disabled: !u.disabled},
          `${u.username} ${u.disabled ? 'enabled' : 'disabled'}`)));
        remove.addEventListener('click', busy(remove, async () => {
          if (!confirm(`Delete the user ${u.username}? Their API keys stop working.`)) return;
          try {
            await api.api('DELETE', `/api/auth/users/${encodeURIComponent(u.username)}`);
            notify(`${u.username} deleted`);
          } catch (e) { notify(e.detail, 'error'); }
          await load();
        }));
        return h('tr', {class: u.disabled ? 'revoked' : ''}, h('td', {}, h('strong', {}, u.username)), scopeCell,
          h('td', {}, u.disabled ? badge('disabled', 'warn') : badge('active', 'ok')), h('td', {}, when(u.created_at)),
          h('td', {class: 'actions'}, edit, toggle, remove));
      }))));
  }

  form.addEventListener('submit', busy(create, async () => {
    try {
      await api.api('POST', '/api/auth/users', {username: username.value.trim(), password: password.value, scopes: checkedScopes(scopes)});
      notify(`User ${username.value.trim()} created`);
      form.reset();
      await load();
    } catch (e) { notify(e.detail, 'error'); }
  }));
  load().catch((e) => fill(table, h('p', {class: 'error'}, e.detail)));
  return h('section', {class: 'card', id: 'users', 'aria-labelledby': 'users-title'},
    h('h2', {id: 'users-title'}, 'Users'), form, table);
}

async function declaredSection() {
  const config = await api.api('GET', '/api/security/config');
  const keys = (config.auth && config.auth.declared_api_keys) || [];
  return h('section', {class: 'card', id: 'declared-keys'},
    h('h2', {}, 'Declared API keys'),
    h('p', {class: 'muted'}, 'Keys declared as hashes in the secrets directory (by the operator or by hand). Change them there; they are read-only here.'),
    keys.length === 0 ? h('p', {class: 'muted'}, 'None declared.') :
      h('div', {class: 'table-wrap'}, h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Scopes'), h('th', {}, 'Expires'))),
        h('tbody', {}, keys.map((k) => h('tr', {}, h('td', {}, k.name), h('td', {}, scopeList(k.scopes)), h('td', {}, when(k.expires_at))))))));
}

export async function render(main) {
  main.append(pageHeader('Users & keys'), usersSection(), keysSection({all: true}));
  main.appendChild(await declaredSection().catch((e) => h('p', {class: 'error'}, e.detail)));
}

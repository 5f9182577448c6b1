// Your account: who you are, change your password, your API keys.

import * as api from '../api.js';
import {h, field, busy, notify, pageHeader, scopeList} from '../dom.js';
import {keysSection} from './keys.js';

export async function render(main) {
  const me = api.currentUser();
  const current = h('input', {type: 'password', autocomplete: 'current-password', required: true, id: 'pw-current'});
  const next = h('input', {type: 'password', autocomplete: 'new-password', required: true, minlength: '8', id: 'pw-new'});
  const again = h('input', {type: 'password', autocomplete: 'new-password', required: true, id: 'pw-again'});
  const error = h('p', {class: 'error', role: 'alert'});
  const submit = h('button', {type: 'submit', class: 'primary', id: 'pw-submit'}, 'Change password');
  const form = h('form', {class: 'card', id: 'password-form', 'aria-labelledby': 'pw-title'},
    h('h2', {id: 'pw-title'}, 'Change password'),
    field('Current password', current), field('New password', next, 'at least 8 characters'),
    field('New password again', again), error, submit);
  form.addEventListener('submit', busy(submit, async () => {
    error.textContent = '';
    if (next.value !== again.value) {
      error.textContent = 'The two new passwords differ.';
      return;
    }
    try {
      await api.api('POST', '/api/auth/password', {current_password: current.value, new_password: next.value});
      const password = next.value;
      form.reset();
      // Changing the password ends every session, this one included: sign in again.
      await api.login(me.username, password);
      notify('Password changed; other sessions were signed out.');
    } catch (e) {
      error.textContent = e.detail;
    }
  }));
  main.append(
    pageHeader('Account'),
    h('section', {class: 'card'}, h('h2', {}, 'Signed in'),
      h('dl', {class: 'facts'},
        h('dt', {}, 'User'), h('dd', {}, me.username),
        h('dt', {}, 'Scopes'), h('dd', {}, scopeList(me.scopes)),
        h('dt', {}, 'Signed in with'), h('dd', {}, me.auth_method))),
    me.auth_method === 'jwt' ? form : null,
    keysSection({all: false}));
}

'use strict';
// The user directory: USERS_JSON (plain passwords: a demo/test service), or alice/wonderland and admin/admin-secret.

const crypto = require('crypto');

function digest(text) {
  return crypto.createHash('sha256').update(String(text)).digest();
}

class UserDirectory {
  constructor(users) {
    this.byName = new Map();
    this.byId = new Map();
    for (const u of users) {
      const user = { id: u.id, username: u.username, roles: u.roles, passwordDigest: digest(u.password) };
      this.byName.set(u.username, user);
      this.byId.set(u.id, user);
    }
    this.dummy = digest(crypto.randomBytes(16).toString('hex'));
  }

  /** The user for these credentials, or null. The same work for unknown users as for known ones. */
  authenticate(username, password) {
    const user = this.byName.get(username);
    const ok = crypto.timingSafeEqual(digest(password), user ? user.passwordDigest : this.dummy);
    return ok && user ? user : null;
  }

  findByUsername(username) {
    return this.byName.get(username) || null;
  }

  findById(id) {
    return this.byId.get(id) || null;
  }

  static record(user) {
    return { id: user.id, username: user.username, roles: [...user.roles] };
  }
}

module.exports = { UserDirectory };

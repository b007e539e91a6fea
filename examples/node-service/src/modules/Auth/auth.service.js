'use strict';
// Sessions: login (with the fallback when Redis is away), refresh, logout, blacklist, me.

const errors = require('../../utils/errors');
const { generateFallbackTokens } = require('./fallbackTokens');
const { UserDirectory } = require('./users');

class AuthService {
  constructor({ config, jwtService, users }) {
    this.config = config;
    this.jwtService = jwtService;
    this.users = users;
  }

  async login(username, password) {
    const user = this.users.authenticate(username, password);
    if (!user) throw errors.invalidCredentials('Invalid username or password');
    return this.issueSession(user);
  }

  /**
   * A pair whose family is recorded in Redis; during an outage, fallback tokens. A Redis that answers with an
   * error (refused: ACL, wrong type) is a deployment fault: 503, no fallback.
   */
  async issueSession(user) {
    try {
      return await this.jwtService.issueTokenPair(user);
    } catch (err) {
      if (err instanceof errors.StoreUnavailableError && !err.refused) {
        return generateFallbackTokens(this.jwtService, this.config, user);
      }
      throw err;
    }
  }

  refresh(refreshToken) {
    return this.jwtService.refreshTokens(refreshToken);
  }

  logout(auth, refreshToken, all) {
    return this.jwtService.logout(auth.claims, auth.token, refreshToken, all);
  }

  profile(auth) {
    return UserDirectory.record(auth.user);
  }
}

module.exports = { AuthService };

'use strict';
// Every error the API answers: {"success": false, "error": {"code", "message"}} with a stable code.

const INVALID_TYPE_FOR_REFRESH = 'Invalid token type for refresh';

class AppError extends Error {
  constructor(status, code, message, headers) {
    super(message);
    this.name = 'AppError';
    this.status = status;
    this.code = code;
    this.headers = headers || {};
  }
}

const badRequest = (message) => new AppError(400, 'BAD_REQUEST', message);
const invalidGrant = (message) => new AppError(400, 'INVALID_GRANT', message);
const invalidCredentials = (message) => new AppError(401, 'INVALID_CREDENTIALS', message);
const invalidToken = (message) => new AppError(401, 'INVALID_TOKEN', message);
const tokenExpired = (message) => new AppError(401, 'TOKEN_EXPIRED', message);
const tokenRevoked = (message) => new AppError(401, 'TOKEN_REVOKED', message);
const tokenReused = (message) => new AppError(401, 'TOKEN_REUSED', message);
const forbidden = (message) => new AppError(403, 'FORBIDDEN', message);
const notFound = (message) => new AppError(404, 'NOT_FOUND', message);
const payloadTooLarge = (message) => new AppError(413, 'PAYLOAD_TOO_LARGE', message);

function retryAfterHeader(seconds) {
  return { 'Retry-After': String(Math.max(1, Math.ceil(seconds || 1))) };
}

const storeUnavailable = (message, retryAfterS) =>
  new AppError(503, 'STORE_UNAVAILABLE', message || 'Session store unavailable; retry later', retryAfterHeader(retryAfterS));
const overloaded = (message) => new AppError(503, 'OVERLOADED', message, retryAfterHeader(1));

/**
 * Redis could not serve one operation (down, timed out, circuit open, or it refused the command).
 * Thrown by safeRedisOperation when no fallback was given; the error handler answers 503.
 */
class StoreUnavailableError extends Error {
  constructor(op, reason, retryAfterS, { refused = false } = {}) {
    super(`redis unavailable during ${op}: ${reason}`);
    this.name = 'StoreUnavailableError';
    this.op = op;
    this.reason = reason;
    this.retryAfterS = retryAfterS || 1;
    this.refused = refused; // Redis answered with an error (NOPERM, WRONGTYPE...): a deployment fault
  }
}

module.exports = {
  INVALID_TYPE_FOR_REFRESH,
  AppError,
  StoreUnavailableError,
  badRequest,
  invalidGrant,
  invalidCredentials,
  invalidToken,
  tokenExpired,
  tokenRevoked,
  tokenReused,
  forbidden,
  notFound,
  payloadTooLarge,
  storeUnavailable,
  overloaded,
};

'use strict';
// The one place an error becomes an answer: {"success": false, "error": {"code", "message"}}. Never a stack trace.

const errors = require('../utils/errors');
const logger = require('../utils/logger');

function send(res, status, code, message, headers) {
  if (res.headersSent) return;
  if (headers) res.set(headers);
  res.status(status).json({ success: false, error: { code, message } });
}

function notFoundHandler(req, res) {
  send(res, 404, 'NOT_FOUND', `No route for ${req.method} ${req.path.slice(0, 200)}`);
}

// eslint-disable-next-line no-unused-vars
function errorHandler(err, req, res, next) {
  if (err instanceof errors.AppError) return send(res, err.status, err.code, err.message, err.headers);
  if (err instanceof errors.StoreUnavailableError) {
    const e = errors.storeUnavailable('Session store unavailable; retry later', err.retryAfterS);
    return send(res, e.status, e.code, e.message, e.headers);
  }
  if (err && err.type === 'entity.too.large') {
    return send(res, 413, 'PAYLOAD_TOO_LARGE', `Request body larger than ${err.limit} bytes`);
  }
  if (err && err.type === 'entity.parse.failed') return send(res, 400, 'BAD_REQUEST', 'Request body is not valid JSON');
  if (err && typeof err.status === 'number' && err.status >= 400 && err.status < 500) {
    return send(res, err.status, 'BAD_REQUEST', String(err.expose ? err.message : 'Bad request').slice(0, 200));
  }
  logger.error(`unhandled error on ${req.method} ${req.path.slice(0, 200)}`, {
    error: `${(err && err.name) || 'Error'}: ${String((err && err.message) || err).slice(0, 200)}`,
  });
  return send(res, 500, 'INTERNAL_ERROR', 'Internal server error');
}

/** Wrap an async route handler so a rejected promise reaches errorHandler (Express 4 does not do it). */
function asyncHandler(fn) {
  return (req, res, next) => Promise.resolve().then(() => fn(req, res, next)).catch(next);
}

module.exports = { errorHandler, notFoundHandler, asyncHandler };

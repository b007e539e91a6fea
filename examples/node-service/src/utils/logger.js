'use strict';
// One line per event, to stdout (info) or stderr (warn/error). Never logs secrets or tokens.

function line(level, msg, fields) {
  const extra = fields && Object.keys(fields).length ? ' ' + JSON.stringify(fields) : '';
  return `${new Date().toISOString()} ${level.toUpperCase()} ${msg}${extra}`;
}

const logger = {
  debug(msg, fields) {
    if (process.env.LOG_LEVEL === 'debug') process.stdout.write(line('debug', msg, fields) + '\n');
  },
  info(msg, fields) {
    process.stdout.write(line('info', msg, fields) + '\n');
  },
  warn(msg, fields) {
    process.stderr.write(line('warn', msg, fields) + '\n');
  },
  error(msg, fields) {
    process.stderr.write(line('error', msg, fields) + '\n');
  },
};

module.exports = logger;

'use strict';
// Overload is not an outage: beyond MAX_INFLIGHT requests in progress, answer 503 OVERLOADED with Retry-After: 1
// before any body is read. /healthz is never shed.

const errors = require('../utils/errors');

function createLoadShedding({ maxInflight }) {
  const load = { inflight: 0, shed: 0 };
  function loadShedding(req, res, next) {
    if (req.path === '/healthz') return next();
    if (load.inflight >= maxInflight) {
      load.shed += 1;
      return next(errors.overloaded(`Over ${maxInflight} requests in progress; retry shortly`));
    }
    load.inflight += 1;
    let released = false;
    const release = () => {
      if (!released) {
        released = true;
        load.inflight -= 1;
      }
    };
    res.on('finish', release);
    res.on('close', release);
    return next();
  }
  return { loadShedding, load };
}

module.exports = { createLoadShedding };

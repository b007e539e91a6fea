'use strict';
// A small circuit breaker: while Redis is unreachable a request costs microseconds, not a command timeout.
// closed --(threshold consecutive failures)--> open --(resetMs)--> half_open: one call is let through as a
// probe; its outcome closes or re-opens the breaker.

class CircuitBreaker {
  constructor({ threshold = 3, resetMs = 1000, now = Date.now } = {}) {
    this.threshold = threshold;
    this.resetMs = resetMs;
    this.now = now;
    this.state = 'closed';
    this.failures = 0;
    this.openedAt = 0;
    this.probeInFlight = false;
  }

  allow() {
    if (this.state === 'closed') return true;
    if (this.state === 'open' && this.now() - this.openedAt >= this.resetMs) {
      this.state = 'half_open';
      this.probeInFlight = true;
      return true;
    }
    return false; // open, or half-open with its one probe already out
  }

  success() {
    this.state = 'closed';
    this.failures = 0;
    this.probeInFlight = false;
  }

  failure() {
    this.failures += 1;
    this.probeInFlight = false;
    if (this.state === 'half_open' || this.failures >= this.threshold) {
      this.state = 'open';
      this.openedAt = this.now();
    }
  }

  /** A new connection is up: let its first call through as the half-open probe (the reset time is for a dead link). */
  readyNow() {
    if (this.state === 'open') this.openedAt = this.now() - this.resetMs;
  }

  /** Seconds until the next probe may run (what a 503's Retry-After says), at least 1. */
  retryAfterS() {
    if (this.state === 'closed') return 1;
    return Math.max(1, Math.ceil((this.resetMs - (this.now() - this.openedAt)) / 1000));
  }
}

module.exports = { CircuitBreaker };

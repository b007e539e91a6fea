"""What a run records and every later stage reads: the HTTP protocol rule that turns an exchange into one
history row, the history itself, the fault windows as they happened, and the token keys. Light on purpose:
the locustfile imports ``protocol`` and ``token_keys`` inside Locust's gevent processes."""

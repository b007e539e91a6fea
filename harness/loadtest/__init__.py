"""`authchaos load`: Locust as a subprocess, faults on a timeline during the load, SLO gates and the
scenario engine's correctness checks over every request Locust made.

Locust is never imported here (it monkey-patches the process with gevent): the locustfile writes
each request to JSONL through ``harness.protocol``, on the same clock as the fault windows.

  spec            options, --fault / --slo parsing, the checks that apply
  locust_process  the Locust master and workers as managed subprocesses
  history_reader  Locust's JSONL history into a ``History``; Locust's own CSV stats
  run             one load run on the shared ``RunLifecycle``, judged like a scenario
  summary         the console tables
"""

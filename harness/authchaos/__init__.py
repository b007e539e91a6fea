"""authchaos: the harness that runs the reference service through real faults."""

__version__ = "0.1.0"

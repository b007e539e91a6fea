"""One run on real or embedded infrastructure: the backend, the run lifecycle every driver shares, one
scenario end to end (``experiment``), one Locust load run's moving parts, and the result types and exit
codes the drivers and the reports read."""

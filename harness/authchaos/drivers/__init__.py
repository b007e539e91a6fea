"""The commands' engines, one module each: a suite of scenarios (``suite``), ``gate --prove``
(``prove_switches``), ``prove --mutants`` (``prove_mutants`` over ``mutant_catalogue`` and
``catalogue.yaml``), ``repro``, ``load`` (and its console ``load_summary``), ``doctor``."""

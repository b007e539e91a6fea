"""The built-in scenario files, shipped as package data (``authchaos.scenario_files``): the suites in the
folders below, the locustfile (``load/``) and the legacy token corpus (``legacy/``)."""

"""The system under test: the only harness code that imports ``authchaos_reference``. ``bug_switches`` is
light (the scenario schema validates switch names with it); ``reference_service`` starts the service."""

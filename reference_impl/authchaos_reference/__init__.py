"""Reference JWT + Redis auth service: the system authchaos drives."""

"""URP staff accounts: roles, competence topics, hashed passwords, throttled login."""

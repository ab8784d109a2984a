"""frtrain CLI commands: mturk (registered on the groups in app.commands)."""

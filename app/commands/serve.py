"""frtrain CLI commands: serve (registered on the groups in app.commands)."""

"""frtrain CLI commands: demo (registered on the groups in app.commands)."""

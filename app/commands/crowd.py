"""frtrain CLI commands: crowd (registered on the groups in app.commands)."""

"""frtrain CLI commands: db (registered on the groups in app.commands)."""

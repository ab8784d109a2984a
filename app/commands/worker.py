"""frtrain CLI commands: worker (registered on the groups in app.commands)."""

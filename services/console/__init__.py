"""The staff console: officers, leaders, unit staff and admins work in a browser, through the services' APIs."""

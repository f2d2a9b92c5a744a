"""A local Google Workspace: the Reports API and its token endpoint."""

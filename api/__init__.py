"""FastAPI application: authenticates, authorises and validates, then calls workflow Updates."""

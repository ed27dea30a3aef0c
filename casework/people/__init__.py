"""People: users, teams, API tokens, named permissions and the audit trail of every change to them.

`models` holds the tables, `permissions` the registry of named permissions (pure), `service` the
reads and writes the administration routes (api/routes/people.py) and authentication use, and
`audit` the trail. docs/people-and-permissions.md is the manual."""

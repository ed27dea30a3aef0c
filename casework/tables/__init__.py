"""Each kind of case's own tables (SQLAlchemy models) and the collections projected to them, one
module per kind (`casework/tables/<kind>.py`, which calls
`casework.cases.collections.register_collections`). Outside `casework/kinds/`, whose modules are
passed through to workflow code and must stay pure: these import the database layer."""

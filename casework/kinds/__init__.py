"""Each kind of case's own rules and payloads, pure: one subpackage per kind, none importing another."""

"""Request and response bodies, a module per concept: `base` (the fields they are built from),
`cases` (what every kind of case shares), `complaint` (the complaint's own steps), `documents`,
`digests`, `templates`, `standard_lines`, `admin`, `reference`. Validation here gives 422s that
name the field. Import from the module, not from here."""

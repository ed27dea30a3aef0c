"""Development tooling, apart from the product: `make run`'s stack, embedded services, demo data."""

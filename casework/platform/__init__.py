"""Platform: settings, database, Temporal client, mail, tokens and SDK tuning."""

"""Lead returns (F5): a partner or a member of staff asks to return a lead; a permitted user decides."""

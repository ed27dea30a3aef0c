"""Customer complaints (F3): about goods or an invoice; an action plan, a decision, a sales adjustment."""

"""Spend: what a project's provider calls cost, by day, user, provider, model and product, for
its members (totals) and owners (the detail and the ledger as CSV), and across projects for
staff in the admin. Read-only: it sums the cost ledger (``generation.costs``) and names each
record's product from the run it belonged to (``generation.runs``)."""

"""HTTP only: parse, call a flow, render or redirect. No business rules here."""

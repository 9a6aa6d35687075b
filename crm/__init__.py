"""Sportello URP back office: CRM, booking centre, istanze and the channel hub's storage."""

"""Altair chart builders: a tidy table in, a chart out; one colour per condition (``common``),
the mechanism studies (``mechanisms``) and the loss landscape and shattering (``landscape``)."""
